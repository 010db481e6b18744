"""The portal's pages and API as the submitter and the public use them (issue 14 parts 5 and
6): headers on every answer, errors without a traceback or an identifier, the upload streamed
into the haven and queued, another organisation's submission, report and job not found, the
statistics page and its downloads, the privacy notices."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import APIRouter

from carehaven.access import auth
from carehaven.haven import Haven
from carehaven.jobs import queue
from carehaven.jobs.uploads import uploads_folder
from carehaven.web import authz, security
from tests.helpers import csv_bytes, episode, episodes_file
from tests.people import CHEAP, token_for
from tests.portal import ORGS, populate, portal, publish_fixture, queue_as, sign_in, submit_as


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def haven(make_haven: Callable[..., Haven]) -> Haven:
    return populate(make_haven(orgs=ORGS))


def _pages(haven: Haven, tmp_path: Path) -> list[str]:
    sid = submit_as(haven, "sub", episodes_file(2))
    pub = publish_fixture(haven, tmp_path / "pub")
    return ["/", "/sign-in", "/statistics", f"/statistics/{pub}/t.csv", "/notices",
            "/notices/ndtms", "/submissions", "/submissions/new", f"/submissions/{sid}",
            f"/submissions/{sid}/report.csv", "/api/me", "/api/submissions",
            "/api/openapi.json", "/no-such-page", "/static/carehaven.css"]


def test_every_answer_carries_the_security_headers(haven: Haven, tmp_path: Path) -> None:
    pages = _pages(haven, tmp_path)
    with portal(haven) as client:
        sign_in(client, "sub")
        for path in pages:
            answer = client.get(path)
            assert answer.status_code < 500, path
            assert answer.headers["content-security-policy"] == security.CSP, path
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["cross-origin-opener-policy"] == "same-origin"
            assert "permissions-policy" in answer.headers
            assert "strict-transport-security" not in answer.headers  # plain http
            if not path.startswith("/static/"):
                assert answer.headers["cache-control"] == "no-store", path
            if answer.headers.get("content-type", "").startswith("text/html"):
                # No inline script or style: the CSP would refuse it anyway.
                assert "<style" not in answer.text and " style=" not in answer.text, path
                assert "<script>" not in answer.text, path


def test_hsts_is_sent_over_tls_and_behind_a_trusted_proxy(haven: Haven) -> None:
    with portal(haven, development=False) as client:
        assert client.get("/").headers["strict-transport-security"] == security.HSTS
    haven.settings = dataclasses.replace(haven.settings, trusted_proxy=True)  # type: ignore[misc]
    with portal(haven) as client:
        answer = client.get("/", headers={"X-Forwarded-Proto": "https"})
        assert answer.headers["strict-transport-security"] == security.HSTS
        assert "strict-transport-security" not in client.get("/").headers


def test_an_unexpected_error_answers_500_with_a_reference_and_no_traceback(
    haven: Haven, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from tests.portal import create_app

    app = create_app(haven.settings, development=True, haven=haven)
    boom = APIRouter()

    @boom.get("/boom")
    def explode() -> None:
        raise ValueError("AB 1980-05-01 B12")  # identifier-like values in the message

    @boom.get("/api/boom")
    def explode_api() -> None:
        raise ValueError("AB 1980-05-01 B12")

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(
            logging.ERROR, logger="carehaven.web"):
        page = client.get("/boom")
        api = client.get("/api/boom")
    assert page.status_code == api.status_code == 500
    for text in (page.text, api.text, caplog.text):
        assert "1980-05-01" not in text and "Traceback" not in text
    reference = api.json()["error"]["reference"]
    assert api.json()["error"]["code"] == "internal" and reference in caplog.text
    assert "reference" in page.text and "Sorry, there is a problem" in page.text


def test_api_errors_have_one_shape(haven: Haven) -> None:
    with portal(haven) as client:
        for answer in (client.get("/api/me"), client.get("/api/no-such"),
                       client.get("/api/submissions/sub-nope",
                                  headers={"Authorization": "Bearer chv1.nope"})):
            body = answer.json()
            assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])


def test_a_submitter_sees_only_its_organisation(haven: Haven) -> None:
    own = submit_as(haven, "sub", episodes_file(2))
    other = submit_as(haven, "sub2", csv_bytes([episode(provider_code="P002")]), org="P002")
    other_job = queue_as(haven, "sub2", csv_bytes([episode(provider_code="P002")]), org="P002")
    with portal(haven) as client:
        sign_in(client, "sub")
        listing = client.get("/api/submissions").json()
        assert [s["submission_id"] for s in listing] == [own]
        assert own in client.get("/submissions").text and other not in client.get(
            "/submissions").text
        for path in (f"/submissions/{other}", f"/submissions/{other}/report.csv",
                     f"/submissions/{other}/report.json", f"/api/submissions/{other}",
                     f"/api/submissions/{other}/report", f"/jobs/{other_job}",
                     f"/api/jobs/{other_job}", "/submissions/sub-000000000000"):
            answer = client.get(path)
            assert answer.status_code == 404, path
        # The same sentence as for a submission that does not exist, but for the id asked.
        assert client.get(f"/api/submissions/{other}").json()["error"]["message"].replace(
            other, "X") == client.get("/api/submissions/sub-000000000000").json()["error"][
            "message"].replace("sub-000000000000", "X")
    with portal(haven) as client:
        sign_in(client, "dt")
        ids = {s["submission_id"] for s in client.get("/api/submissions").json()}
        assert {own, other} <= ids


def test_a_report_and_its_downloads(haven: Haven) -> None:
    sid = submit_as(haven, "sub", episodes_file(2) + b"x,y\n")
    with portal(haven) as client:
        sign_in(client, "sub")
        page = client.get(f"/submissions/{sid}")
        assert page.status_code == 200 and sid in page.text
        csv_answer = client.get(f"/submissions/{sid}/report.csv")
        assert csv_answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_answer.headers["content-disposition"]
        assert csv_answer.text.startswith("row,field,rule,message,value")
        report = client.get(f"/api/submissions/{sid}/report").json()
        assert report["summary"]["submission_id"] == sid


def test_an_upload_is_streamed_into_the_haven_and_queued(haven: Haven) -> None:
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        form = client.get("/submissions/new").text
        assert "ndtms-episode" in form and "P001" in form and "P002" not in form
        answer = client.post("/submissions", data={
            "csrf_token": csrf, "org": "P001", "dataset": "ndtms-episode", "period": "2025Q2"},
            files={"file": ("../../etc/returns.csv", episodes_file(5), "text/csv")})
        assert answer.status_code == 303, answer.text
        job_url = answer.headers["location"]
        assert job_url.startswith("/jobs/job-")
        page = client.get(job_url)
        assert "queued" in page.text and 'http-equiv="refresh"' in page.text
        job = client.get("/api" + job_url).json()
        assert job["state"] == "queued" and "/" not in job["file_name"]
        assert job["size_bytes"] == len(episodes_file(5))
        # The worker judges it; the page then stops refreshing and links the report.
        assert queue.run_next(haven, worker="test") is not None
        page = client.get(job_url)
        assert "judged" in page.text and 'http-equiv="refresh"' not in page.text
        assert "/submissions/sub-" in page.text
    assert not any(uploads_folder(haven).iterdir())  # the upload is gone once judged


def test_a_script_uploads_the_raw_body_with_its_token(haven: Haven) -> None:
    bearer = {"Authorization": f"Bearer {token_for(haven.paths.root, 'sub')}"}
    with portal(haven) as client:
        answer = client.post("/api/submissions", headers=bearer, content=episodes_file(3),
                             params={"org": "P001", "dataset": "ndtms-episode",
                                     "period": "2025Q2", "file_name": "q2.csv"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "queued"
        refused = client.post("/api/submissions", headers=bearer, content=episodes_file(1),
                              params={"org": "P002", "dataset": "ndtms-episode",
                                      "period": "2025Q2"})
        assert refused.status_code == 403
    assert len(list(uploads_folder(haven).iterdir())) == 1  # the refused one was deleted


def test_a_file_over_the_limit_is_refused_and_leaves_nothing(haven: Haven) -> None:
    haven.settings = dataclasses.replace(haven.settings, max_file_mb=1)  # type: ignore[misc]
    big = episodes_file(2) + b"x" * (1024 * 1024 + 10)
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        answer = client.post("/submissions", data={
            "csrf_token": csrf, "org": "P001", "dataset": "ndtms-episode", "period": "2025Q2"},
            files={"file": ("big.csv", big, "text/csv")})
        assert answer.status_code == 422 and "limit" in answer.text
        api = client.post("/api/submissions", content=big, headers={"X-CSRF-Token": csrf},
                          params={"org": "P001", "dataset": "ndtms-episode",
                                  "period": "2025Q2"})
        assert api.status_code == 422 and api.json()["error"]["code"] == "file_rejected"
    assert not any(uploads_folder(haven).iterdir())


def test_an_upload_without_the_csrf_token_keeps_nothing(haven: Haven) -> None:
    with portal(haven) as client:
        sign_in(client, "sub")
        answer = client.post("/submissions", data={
            "org": "P001", "dataset": "ndtms-episode", "period": "2025Q2"},
            files={"file": ("r.csv", episodes_file(2), "text/csv")})
        assert answer.status_code == 403
    assert not any(uploads_folder(haven).iterdir())


def test_the_public_reads_the_statistics_and_downloads_them(haven: Haven,
                                                             tmp_path: Path) -> None:
    pub = publish_fixture(haven, tmp_path / "pub")
    with portal(haven) as client:
        page = client.get("/statistics")
        assert page.status_code == 200 and pub in page.text
        assert "Hidden as small counts" in page.text and "not for the public" not in page.text
        assert f"/statistics/{pub}/t.csv" in page.text and f"/statistics/{pub}/t.xlsx" in page.text
        download = client.get(f"/statistics/{pub}/t.csv")
        assert download.status_code == 200 and download.text.startswith("region,count")
        assert "attachment" in download.headers["content-disposition"]
        for bad in ("../../control.db", "%2e%2e%2fcontrol.db", "missing.csv"):
            assert client.get(f"/statistics/{pub}/{bad}").status_code == 404
        listed = client.get("/api/publications").json()
        assert listed[0]["publication"] == pub and listed[0]["suppressed_primary"] == 1
        assert listed[0]["parts"] == [{"part": "period", "cells": 2, "hidden": 1}]


def test_the_privacy_notices_render_for_anyone(haven: Haven) -> None:
    with portal(haven) as client:
        index = client.get("/notices")
        assert '/notices/ndtms' in index.text
        notice = client.get("/notices/ndtms")
        assert notice.status_code == 200 and "privacy notice" in notice.text
        assert "draft" in notice.text.lower()
        assert client.get("/notices/nope").status_code == 404


def test_the_openapi_document_describes_the_api_and_no_docs_ui_loads_a_cdn(
    haven: Haven
) -> None:
    with portal(haven) as client:
        schema = client.get("/api/openapi.json").json()
        assert "/api/submissions" in schema["paths"] and "/api/jobs/{job_id}" in schema["paths"]
        assert "JobPublic" in schema["components"]["schemas"]
        assert client.get("/docs").status_code == 404
        assert client.get("/api/docs").status_code == 404
    assert ("GET", "/api/openapi.json") in authz.TABLE
