"""The web portal from a test, in process (FastAPI's TestClient over a real haven): people of
every role with passwords, and signing them in through the sign-in form, as a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from carehaven.access.auth import hash_password
from carehaven.access.users import add_user
from carehaven.haven import Haven
from carehaven.web import create_app

ORGS = (("P001", "treatment-service", "Riverside Recovery"),
        ("P002", "treatment-service", "Hillside Hope"),
        ("E08000025", "local-authority", "Birmingham"))
#: Everyone's password in these tests (long, and on no deny-list).
PASSWORD = "plum kettle orbit saffron"  # noqa: S105
#: One signed-in user of each role (and a second submitter, of another organisation).
ROLE_USERS = {
    "submitter": "sub", "data-team": "dt", "auditor": "aud", "authority-viewer": "av",
    "ips-team": "ips", "analyst": "an",
}
ROLES = ("anonymous", *ROLE_USERS)


def populate(haven: Haven) -> Haven:
    """dt and dt2 (data-team, the founders), sub (submitter P001), sub2 (submitter P002), av
    (authority-viewer E08000025), an (analyst), ips (ips-team), aud (auditor)."""
    hashed = hash_password(PASSWORD)
    for name in ("dt", "dt2"):
        add_user(haven, name, name.upper(), None, roles=["data-team"], actor="test",
                 password_hash=hashed)
    for name, org, role in [("sub", "P001", "submitter"), ("sub2", "P002", "submitter"),
                            ("av", "E08000025", "authority-viewer"), ("an", None, "analyst")]:
        add_user(haven, name, name.upper(), org, roles=[role], actor="user:dt",
                 password_hash=hashed)
    for name, role in [("ips", "ips-team"), ("aud", "auditor")]:
        add_user(haven, name, name.upper(), None, roles=[role], actor="test",
                 password_hash=hashed)
    return haven


@contextmanager
def portal(haven: Haven, *, development: bool = True) -> Iterator[TestClient]:
    """A client of the portal over ``haven`` (https when not ``development``, so that the
    Secure cookie is sent back)."""
    app = create_app(haven.settings, development=development, haven=haven)
    base = "http://testserver" if development else "https://testserver"
    with TestClient(app, base_url=base, raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (read from a page)."""
    answer = client.post("/sign-in", data={"username": username, "password": password,
                                           "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token on the page: not signed in?"
    return found.group(1)
