"""The data team's pages and API through real HTTP (in-process TestClient over a real haven):
the link review queue decided by form and by API, releases proposed by one person and
approved by another (queued for the worker, which writes it), the proposer refused with the
reason, and a submitter kept out of all of it (issue 14, "The data team")."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from carehaven.access import auth
from carehaven.control.models import AuditEntry, Job, LinkPair, Release
from carehaven.haven import Haven
from carehaven.jobs.queue import run_next
from tests.people import CHEAP
from tests.portal import (
    ORGS,
    populate,
    portal,
    propose_as,
    sharing_fixture,
    sign_in,
    waiting_pair,
)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def haven(make_haven: Callable[..., Haven]) -> Haven:
    return populate(make_haven(orgs=ORGS))


def test_the_review_page_shows_evidence_and_a_form_decides_a_pair(haven: Haven) -> None:
    pair = waiting_pair(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        page = client.get("/review")
        assert page.status_code == 200
        assert pair in page.text and "one letter differs" in page.text
        assert "P002 (ndtms-episode, 1 rows)" in page.text
        refused = client.post(f"/review/{pair}", data={"decision": "same"})  # no CSRF token
        assert refused.status_code == 403
        done = client.post(f"/review/{pair}", data={"csrf_token": csrf, "decision": "same"})
        assert done.status_code == 303 and done.headers["location"] == f"/review?decided={pair}"
        assert "No pairs are waiting" in client.get("/review").text
    with haven.sessions() as s:
        row = s.get(LinkPair, pair)
        assert row is not None and (row.status, row.decision, row.decided_by) == (
            "decided", "same", "user:dt")
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "identity.pair-decided")
                         ).one().actor == "user:dt"


def test_the_api_lists_and_decides_pairs_and_refuses_a_bad_decision(haven: Haven) -> None:
    pair = waiting_pair(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "dt2")
        listed = client.get("/api/link-pairs").json()
        assert [p["pair_id"] for p in listed] == [pair]
        assert listed[0]["evidence"]["dob"] == "day and month swapped"
        bad = client.post(f"/api/link-pairs/{pair}", json={"decision": "maybe"},
                          headers={"X-CSRF-Token": csrf})
        assert bad.status_code == 400  # the portal answers a malformed request 400
        ok = client.post(f"/api/link-pairs/{pair}", json={"decision": "different"},
                         headers={"X-CSRF-Token": csrf})
        assert ok.json() == {"pair_id": pair, "decision": "different", "previous": None}
        missing = client.post("/api/link-pairs/LP-nothere", json={"decision": "same"},
                              headers={"X-CSRF-Token": csrf})
        assert missing.status_code == 404
        assert client.get("/api/link-pairs").json() == []


def test_propose_then_another_person_approves_and_the_worker_runs_it(haven: Haven) -> None:
    deal = sharing_fixture(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "dt2")
        proposed = client.post("/api/releases", json={"dataset": "ndtms-episode",
                                                      "agreement": deal},
                               headers={"X-CSRF-Token": csrf})
        assert proposed.status_code == 201, proposed.text
        body = proposed.json()
        label = body["release"]["release_id"]
        assert body["proposal"]["decision"] == "allow" and body["proposal"]["reasons"]
        assert body["release"]["status"] == "proposed"
        # The proposer may not approve their own: 403 with the reason, nothing queued.
        own = client.post(f"/api/releases/{label}/approve", headers={"X-CSRF-Token": csrf})
        assert own.status_code == 403
        assert "another person must approve it" in own.json()["error"]["message"]
        page = client.post(f"/releases/{label}/approve", data={"csrf_token": csrf})
        assert page.status_code == 403 and "another person must approve it" in page.text
    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        queued = client.post(f"/api/releases/{label}/approve", headers={"X-CSRF-Token": csrf})
        assert queued.status_code == 202, queued.text
        job = queued.json()
        assert (job["release_id"], job["state"], job["created_by"]) == (label, "queued",
                                                                       "user:dt")
        again = client.post(f"/api/releases/{label}/approve", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 400 and "already queued" in again.text
        shown = client.get(f"/releases/{label}")
        assert "queued" in shown.text and 'data-poll="/api/release-jobs/' in shown.text
        assert 'http-equiv="refresh"' not in shown.text
        # The worker takes it under the writer lock; this haven holds no linked data, so
        # writing fails with a sentence, and the release stays proposed (nothing half-written).
        ended = run_next(haven, worker="test")
        assert ended is not None and ended.state == "failed" and ended.message
        state = client.get(f"/api/release-jobs/{job['job_id']}").json()
        assert state["state"] == "failed" and state["message"] == ended.message
        # A submission job's pages never show a release approval.
        assert client.get(f"/api/jobs/{job['job_id']}").status_code == 404
        detail = client.get(f"/api/releases/{label}").json()
        assert detail["release"]["status"] == "proposed"
        assert [a["state"] for a in detail["approvals"]] == ["failed"]
    with haven.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert "release.refused" in actions and "release.approval-queued" in actions
        assert s.scalars(select(Job).where(Job.kind == "release")).one().org_code is None


def test_the_form_proposes_and_the_release_page_shows_the_reasons(haven: Haven) -> None:
    deal = sharing_fixture(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        made = client.post("/releases", data={"csrf_token": csrf, "dataset": "ndtms-episode",
                                              "agreement": deal})
        assert made.status_code == 303
        page = client.get(made.headers["location"])
        assert page.status_code == 200 and "allow" in page.text and "SHR-" in page.text
        denied = client.post("/releases", data={"csrf_token": csrf,
                                                "dataset": "ndtms-episode",
                                                "agreement": deal, "tier": "personal"})
        assert denied.status_code == 303
        shown = client.get(denied.headers["location"])
        assert "denied" in shown.text and "Approve and write" not in shown.text
        listing = client.get("/releases")
        assert listing.status_code == 200 and "Propose a release" in listing.text
    with haven.sessions() as s:
        assert [r.status for r in s.scalars(select(Release).order_by(Release.id))] == [
            "proposed", "denied"]


def test_a_submitter_and_an_auditor_cannot_decide_propose_or_approve(haven: Haven) -> None:
    deal = sharing_fixture(haven)
    label = propose_as(haven, "dt2", deal)
    pair = waiting_pair(haven)
    for name, reads in (("sub", False), ("aud", True)):
        with portal(haven) as client:
            csrf = sign_in(client, name)
            h = {"X-CSRF-Token": csrf}
            assert client.get("/review").status_code == 403
            assert client.get("/api/link-pairs").status_code == 403
            assert client.post(f"/api/link-pairs/{pair}", json={"decision": "same"},
                               headers=h).status_code == 403
            assert client.post("/api/releases", json={"dataset": "ndtms-episode",
                                                      "agreement": deal},
                               headers=h).status_code == 403
            assert client.post(f"/api/releases/{label}/approve", headers=h).status_code == 403
            assert (client.get("/api/releases").status_code == 200) is reads
            assert (client.get(f"/releases/{label}").status_code == 200) is reads
    with haven.sessions() as s:
        row = s.get(LinkPair, pair)
        assert row is not None and row.status == "waiting"
        assert s.scalars(select(Job).where(Job.kind == "release")).first() is None
