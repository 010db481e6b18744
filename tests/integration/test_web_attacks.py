"""The portal attacked as an outside tester would (issue 14, "think like the intruder"): each
test is a finding that was real once, made over HTTP through the portal's own app; the fix
keeps it from coming back. What held under attack is listed in docs/web.md ("Tested under
attack")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from carehaven.access import auth
from carehaven.haven import Haven
from carehaven.jobs.uploads import uploads_folder
from carehaven.web import security
from tests.helpers import episodes_file
from tests.people import CHEAP
from tests.portal import ORGS, populate, portal, sign_in

UPLOAD = {"org": "P001", "dataset": "ndtms-episode", "period": "2025Q2"}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def haven(make_haven: Callable[..., Haven]) -> Haven:
    return populate(make_haven(orgs=ORGS))


def _multipart(parts: list[tuple[bytes, bytes]], boundary: str = "xBOUNDARYx") -> bytes:
    body = b""
    for disposition, data in parts:
        body += (f"--{boundary}\r\n".encode() + b"Content-Disposition: form-data; "
                 + disposition + b"\r\n\r\n" + data + b"\r\n")
    return body + f"--{boundary}--\r\n".encode()


def _form_parts(csrf: str) -> list[tuple[bytes, bytes]]:
    return [(b'name="csrf_token"', csrf.encode())] + [
        (f'name="{k}"'.encode(), v.encode()) for k, v in UPLOAD.items()]


MULTIPART = {"content-type": "multipart/form-data; boundary=xBOUNDARYx"}


def test_an_anonymous_json_body_is_not_read_whole_before_sign_in_is_checked(
    haven: Haven,
) -> None:
    """FastAPI parses a JSON body before a route's dependencies run, so an anonymous caller
    could make the portal hold any size of body in memory (found: a 50 MiB body to
    /api/link-pairs/x was parsed, answered 400, before the 401). A request other than an upload
    is now refused past 1 MiB, as it arrives, and at once when it declares more."""
    big = b'{"decision": "' + b"a" * (security.MAX_BODY + 10) + b'"}'
    with portal(haven) as client:
        for path in ("/api/link-pairs/x", "/api/releases"):
            answer = client.post(path, content=big,
                                 headers={"content-type": "application/json"})
            assert answer.status_code == 413, (path, answer.text)
            assert answer.json()["error"]["code"] == "too_large"
            assert answer.headers["content-security-policy"] == security.CSP

        def chunked() -> object:  # no Content-Length: counted as it comes
            for _ in range(20):
                yield b"a" * (security.MAX_BODY // 10)

        answer = client.post("/api/releases", content=chunked(),  # type: ignore[arg-type]
                             headers={"content-type": "application/json"})
        assert answer.status_code == 413
        page = client.post("/sign-in", content=b"username=" + b"a" * security.MAX_BODY * 2,
                           headers={"content-type": "application/x-www-form-urlencoded"})
        assert page.status_code == 413 and "too big" in page.text


def test_a_multipart_upload_is_bounded_as_a_whole_not_only_its_file(haven: Haven) -> None:
    """Only the file part counted against max_file_mb: thousands of nameless or repeated text
    parts streamed without end (found: 8 MB of nameless parts queued a job). The whole body of
    an upload is now bounded by the file limit and a little for the form around it."""
    haven.settings = dataclasses.replace(haven.settings, max_file_mb=1)  # type: ignore[misc]
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        padding = [(b"", b"z" * 4000)] * 600  # 2.4 MB of nameless parts
        body = _multipart(_form_parts(csrf) + padding + [
            (b'name="file"; filename="r.csv"', episodes_file(2))])
        answer = client.post("/submissions", content=body, headers=MULTIPART)
        assert answer.status_code == 413, answer.text
        declared = client.post("/api/submissions", params=UPLOAD, content=b"x",
                               headers={"X-CSRF-Token": csrf,
                                        "content-length": str(50 * 1024 * 1024)})
        assert declared.status_code == 413
    assert not any(uploads_folder(haven).iterdir())
    assert haven.rows.first("SELECT id FROM jobs") is None


def test_an_internal_error_still_carries_the_security_headers(haven: Haven) -> None:
    """A 500 is answered by Starlette's outermost middleware, outside the one that adds the
    headers (found: no CSP, nosniff or Cache-Control: no-store on any 500); and that
    middleware raises the exception again for the server to log, so uvicorn wrote its
    traceback and message (which might hold a value from a file) to the log. Now the portal
    answers it, logged as errors.unexpected says, and nothing reaches the server."""
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from carehaven.web import create_app

    app = create_app(haven.settings, development=True, haven=haven)
    boom = APIRouter()

    @boom.get("/api/boom")
    def explode() -> None:
        raise ValueError("boom")

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/api/boom", "/boom-page-missing-is-404"):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == security.CSP, path
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"
        assert client.get("/api/boom").status_code == 500
    with TestClient(app, raise_server_exceptions=True) as client:  # nothing left to raise
        assert client.get("/api/boom").status_code == 500


def test_the_api_takes_the_csrf_token_from_its_header_only(haven: Haven) -> None:
    """A cookie-authenticated API upload sent as a urlencoded form had its body read for a
    csrf_token field, then the route found the stream consumed (found: 500). The API's unsafe
    calls take the token from X-CSRF-Token only, as docs/web.md says."""
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        answer = client.post("/api/submissions", params=UPLOAD,
                             content=f"csrf_token={csrf}".encode(),
                             headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "csrf_refused"
        good = client.post("/api/submissions", params=UPLOAD, content=episodes_file(2),
                           headers={"content-type": "application/x-www-form-urlencoded",
                                    "X-CSRF-Token": csrf})
        assert good.status_code == 202, good.text


@pytest.mark.parametrize("body", [
    # a part header over python-multipart's limit
    _multipart([(b'name="file"; filename="r.csv"; x="' + b"q" * 20_000 + b'"', b"a")]),
    b"--xBOUNDARYx\r\nContent-Disposition form-data\r\n\r\n",  # a header without its colon
    b"not multipart at all",
])
def test_a_malformed_multipart_form_is_a_400_not_a_500(haven: Haven, body: bytes) -> None:
    with portal(haven) as client:
        sign_in(client, "sub")
        answer = client.post("/submissions", content=body, headers=MULTIPART)
        assert answer.status_code == 400, answer.text
        assert "multipart" in answer.text
    assert not any(uploads_folder(haven).iterdir())
