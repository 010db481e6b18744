"""The web portal from a test, in process (FastAPI's TestClient over a real haven): people of
every role with passwords, and signing them in through the sign-in form, as a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from carehaven.access.auth import hash_password
from carehaven.access.users import add_user
from carehaven.haven import Haven
from carehaven.web import create_app

ORGS = (("P001", "treatment-service", "Riverside Recovery"),
        ("P002", "treatment-service", "Hillside Hope"),
        ("E08000025", "local-authority", "Birmingham"))
#: Everyone's password in these tests (long, and on no deny-list).
PASSWORD = "plum kettle orbit saffron"
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


def submit_as(haven: Haven, username: str, data: bytes, *, org: str = "P001",
              dataset: str = "ndtms-episode", period: str = "2025Q2") -> str:
    """A submission made through the domain function the CLI and the worker call; its id."""
    import tempfile
    from pathlib import Path

    from carehaven.collection.submit import submit

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "returns.csv"
        path.write_bytes(data)
        result = submit(haven, path, dataset=dataset, org=org, period=period,
                        actor=f"user:{username}")
    assert result.submission_id is not None
    return result.submission_id


def queue_as(haven: Haven, username: str, data: bytes, *, org: str = "P001",
             dataset: str = "ndtms-episode", period: str = "2025Q2") -> str:
    """A job queued through ``jobs.queue`` (not run); its id."""
    from carehaven.access.users import _actor
    from carehaven.jobs import queue, uploads

    actor = _actor(haven, username, via="password")
    assert actor is not None
    with uploads.receiving(haven) as sink:
        sink.write(data)
        received = sink.finish()
    return queue.enqueue_submission(haven, received, file_name="returns.csv", org=org,
                                    dataset=dataset, period=period, actor=actor).job_id


def publish_fixture(haven: Haven, folder: Path) -> str:
    """A publication row over a folder holding one CSV and one spreadsheet, as ``publish``
    leaves them (for tests of the pages that show publications, not of publishing)."""
    import json

    from carehaven import clock
    from carehaven.control.models import Publication

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.csv").write_text("region,count\nNorth,15\nSouth,[c]\n")
    (folder / "t.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with haven.transaction() as session:
        row = Publication(name="ndtms-people-in-treatment", period="2025Q2", link_run=1, cells=2,
                          suppressed_primary=1, suppressed_secondary=0,
                          statuses=json.dumps({"parts": {"period": [["North", False, 15],
                                                                     ["South", True, None]]},
                                               "sealed": "not for the public"}),
                          directory=str(folder), csv_sha256="0" * 64, created_at=clock.now(),
                          created_by="test")
        session.add(row)
        session.flush()
        return f"T-{row.id}"


def feedback_fixture(haven: Haven, org: str = "P001") -> str:
    """A done feedback job with its CSV where the worker leaves it (for tests of handing it
    over, not of working it out); its id."""
    import secrets

    from carehaven import clock
    from carehaven.control.models import Job
    from carehaven.jobs.queue import FEEDBACK_FOLDER

    job_id = "job-" + secrets.token_hex(8)
    name = f"feedback_{org}_2026-03-02.csv"
    folder = haven.paths.outputs / FEEDBACK_FOLDER / job_id
    folder.mkdir(parents=True)
    (folder / name).write_text("client_ref,other_provider\nC1,P002\n")
    with haven.transaction() as session:
        session.add(Job(id=job_id, kind="feedback", state="done", org_code=org,
                        dataset="ndtms-episode", period="2026-03", file_name=name, upload="",
                        size_bytes=0, sha256="", created_by="user:sub", created_at=clock.now(),
                        finished_at=clock.now(), attempts=1, message="Written."))
    return job_id


#: Fields of ndtms-episode an agreement in these tests allows (de-personalised).
RELEASE_FIELDS = ["age_at_referral", "sex", "referral_date", "substance_1"]


def sharing_fixture(haven: Haven) -> str:
    """A research recipient NDEC and an agreement with it for de-personalised ndtms-episode
    (signed, for a year); the agreement's label."""
    from datetime import timedelta

    from carehaven import clock
    from carehaven.governance.sharing import Terms, add_agreement, add_recipient

    add_recipient(haven, "NDEC", "National Drug Evidence Centre", "research", actor="user:dt")
    deal = add_agreement(haven, Terms(
        recipient="NDEC", tier="de-personalised", datasets=["ndtms-episode"],
        fields=RELEASE_FIELDS, purposes=["research", "statistics"],
        lawful_bases=["6.1.e", "9.2.j"], expires_on=clock.today() + timedelta(days=365),
        no_reidentification_signed=True), actor="user:dt")
    return deal.label


def another_agreement(haven: Haven) -> str:
    """One more agreement with NDEC (after ``sharing_fixture``), for a test that revokes it."""
    from datetime import timedelta

    from carehaven import clock
    from carehaven.governance.sharing import Terms, add_agreement

    return add_agreement(haven, Terms(
        recipient="NDEC", tier="de-personalised", datasets=["ndtms-episode"],
        fields=RELEASE_FIELDS, purposes=["research"], lawful_bases=["6.1.e", "9.2.j"],
        expires_on=clock.today() + timedelta(days=30), no_reidentification_signed=True),
        actor="user:dt").label


def propose_as(haven: Haven, username: str, agreement: str) -> str:
    """A release of ndtms-episode under ``agreement`` proposed by ``username``; its label."""
    from carehaven.access.users import _actor
    from carehaven.governance.release import propose

    who = _actor(haven, username, via="password")
    assert who is not None
    proposal = propose(haven, dataset="ndtms-episode", who=who, agreement_label=agreement)
    assert proposal.decision.allow, proposal.decision
    return proposal.release.label


def waiting_pair(haven: Haven, pair_id: str = "LP-0123456789ab") -> str:
    """An uncertain pair in the review queue as a link run records it (the evidence is
    comparison levels; the sides where each profile comes from); its id."""
    from carehaven.control.models import LinkPair

    with haven.transaction() as session:
        session.add(LinkPair(
            id=pair_id, left_profile="a" * 32, right_profile="b" * 32, probability=0.72,
            evidence={"fields": {"surname": "one letter differs", "dob": "day and month swapped"},
                      "match_probability": 0.72,
                      "left": {"source": "ndtms-episode", "org": "P001", "records": 2},
                      "right": {"source": "ndtms-episode", "org": "P002", "records": 1}},
            status="waiting", first_run=1, last_run=1))
    return pair_id
