"""The route x role table (carehaven.web.authz) walked through real HTTP requests: every route
the portal registers is in the table, and for every cell a real signed-in user of that role
(or nobody) is allowed or denied as the table says (issue 14 part 4)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from carehaven import clock
from carehaven.access import auth
from carehaven.control.models import User
from carehaven.haven import Haven
from carehaven.web import authz
from tests.helpers import episodes_file
from tests.people import CHEAP
from tests.portal import (
    ORGS,
    PASSWORD,
    RELEASE_FIELDS,
    ROLE_USERS,
    another_agreement,
    feedback_fixture,
    populate,
    portal,
    propose_as,
    publish_fixture,
    sharing_fixture,
    sign_in,
    submit_as,
    waiting_pair,
)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


def registered(client: TestClient) -> list[tuple[str, str]]:
    return authz.served(client.app)  # type: ignore[arg-type]


def test_every_route_is_in_the_table(make_haven: Callable[..., Haven]) -> None:
    with portal(make_haven(orgs=ORGS)) as client:
        missing = sorted(set(registered(client)) - set(authz.TABLE))
        stale = sorted(set(authz.TABLE) - set(registered(client)))
    assert not missing, f"routes missing from carehaven.web.authz.TABLE: {missing}"
    assert not stale, f"routes in the table that the portal does not serve: {stale}"


@pytest.fixture
def world(make_haven: Callable[..., Haven], tmp_path: Path) -> Iterator[dict[str, str]]:
    haven = populate(make_haven(orgs=ORGS))
    sid = submit_as(haven, "sub", episodes_file(3))
    deal = sharing_fixture(haven)
    from carehaven.access.users import _actor
    from carehaven.jobs.releases import enqueue_approval

    approver = _actor(haven, "dt", via="password")
    assert approver is not None
    approval = enqueue_approval(haven, propose_as(haven, "dt2", deal), actor=approver)
    yield {"haven": haven, "submission_id": sid,  # type: ignore[dict-item]
           "job_id": feedback_fixture(haven),
           "pair_id": waiting_pair(haven), "agreement": deal, "agreement_id": deal,
           "release_id": propose_as(haven, "dt2", deal), "approval_id": approval.job_id,
           "publication": publish_fixture(haven, tmp_path / "published"),
           "file_name": "t.csv", "collection": "ndtms", "fmt": "csv", "username": "sub2"}


def _clients(haven: Haven) -> Iterator[tuple[str, TestClient, str]]:
    """(role, a client signed in as that role's user, its CSRF token); anonymous first."""
    for role in authz.ROLES:
        with portal(haven) as client:
            csrf = sign_in(client, ROLE_USERS[role]) if role != authz.ANONYMOUS else ""
            yield role, client, csrf


def _probe(client: TestClient, csrf: str, method: str, path: str, world: dict[str, str],
           haven: Haven, role: str) -> Response:
    url = path.format(**{k: v for k, v in world.items() if isinstance(v, str)})
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if path == "/static":
        return client.get("/static/carehaven.css")
    if (method, path) == ("POST", "/sign-in"):
        with portal(haven) as fresh:
            return fresh.post(url, data={"username": ROLE_USERS.get(role, "dt2"),
                                         "password": PASSWORD, "next": "/"})
    if (method, path) == ("POST", "/sign-out"):
        with portal(haven) as fresh:
            token = sign_in(fresh, ROLE_USERS[role]) if role != authz.ANONYMOUS else ""
            return fresh.post(url, data={"csrf_token": token})
    if (method, path) == ("POST", "/submissions"):
        return client.post(url, data={"csrf_token": csrf, "org": "P001",
                                      "dataset": "ndtms-episode", "period": "2025Q2"},
                           files={"file": ("returns.csv", episodes_file(2), "text/csv")})
    if (method, path) == ("POST", "/feedback"):
        return client.post(url, data={"csrf_token": csrf, "org": "P001"})
    if (method, path) == ("POST", "/api/feedback"):
        return client.post(url, params={"org": "P001"}, headers=headers)
    if (method, path) == ("POST", "/api/submissions"):
        return client.post(url, params={"org": "P001", "dataset": "ndtms-episode",
                                        "period": "2025Q2"},
                           content=episodes_file(2), headers=headers)
    if path in ("/review/{pair_id}", "/api/link-pairs/{pair_id}"):
        if path.startswith("/api/"):
            return client.post(url, json={"decision": "same"}, headers=headers)
        return client.post(url, data={"csrf_token": csrf, "decision": "different"})
    if (method, path) == ("POST", "/releases"):
        return client.post(url, data={"csrf_token": csrf, "dataset": "ndtms-episode",
                                      "agreement": world["agreement"]})
    if (method, path) == ("POST", "/api/releases"):
        return client.post(url, json={"dataset": "ndtms-episode",
                                      "agreement": world["agreement"]}, headers=headers)
    if path.endswith("/{release_id}/approve"):  # a fresh proposal each time: one approval each
        url = path.format(release_id=propose_as(haven, "dt2", world["agreement"]))
        if path.startswith("/api/"):
            return client.post(url, headers=headers)
        return client.post(url, data={"csrf_token": csrf})
    if method == "POST" and path in ("/sharing/recipients", "/api/recipients"):  # fresh code
        code = f"R{next(_FRESH)}"
        if path.startswith("/api/"):
            return client.post(url, json={"code": code, "kind": "research"}, headers=headers)
        return client.post(url, data={"csrf_token": csrf, "code": code, "kind": "research"})
    if method == "POST" and path in ("/sharing/agreements", "/api/agreements"):
        terms = {"recipient": "NDEC", "tier": "de-personalised", "datasets": "ndtms-episode",
                 "fields": ",".join(RELEASE_FIELDS), "purposes": "research",
                 "lawful_bases": "6.1.e,9.2.j", "expires_on": "2099-12-31",
                 "no_reidentification_signed": "yes"}
        if path.startswith("/api/"):
            body = {**terms, "no_reidentification_signed": True,
                    **{k: terms[k].split(",") for k in ("datasets", "fields", "purposes",
                                                        "lawful_bases")}}
            return client.post(url, json=body, headers=headers)
        return client.post(url, data={"csrf_token": csrf, **terms})
    if path.endswith("/{agreement_id}/revoke"):  # a fresh agreement each time: one revoke each
        url = path.format(agreement_id=another_agreement(haven))
        if path.startswith("/api/"):
            return client.post(url, headers=headers)
        return client.post(url, data={"csrf_token": csrf})
    if method == "POST" and path in ("/notice-versions", "/api/notice-versions"):
        version = f"9.{next(_FRESH):04d}"  # versions must increase: a greater one each time
        if path.startswith("/api/"):
            return client.post(url, json={"collection": "ndtms", "version": version},
                               headers=headers)
        return client.post(url, data={"csrf_token": csrf, "collection": "ndtms",
                                      "version": version})
    if path == "/api/users/{username}/unlock":
        with haven.transaction() as session:  # locked, so that an unlock can succeed
            session.execute(update(User).where(User.username == "sub2")
                            .values(locked_at=clock.now()))
    return client.request(method, url, headers=headers)


_FRESH = itertools.count(1)


def _verdict(role: str, path: str, answer: Response) -> str:
    assert answer.status_code < 500, (role, path, answer.status_code, answer.text[:300])
    to_sign_in = answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
    if answer.status_code in (401, 403, 404) or to_sign_in:
        if role == authz.ANONYMOUS and path.startswith("/api/"):
            assert answer.status_code == 401, (path, answer.status_code)
        elif role == authz.ANONYMOUS and answer.status_code != 404:
            assert to_sign_in, (path, answer.status_code)
        elif role != authz.ANONYMOUS:
            assert answer.status_code in (403, 404), (role, path, answer.status_code)
        return "denied"
    assert answer.status_code < 400, (role, path, answer.status_code, answer.text[:300])
    return "allowed"


def test_every_cell_of_the_table_holds(world: dict[str, str]) -> None:
    haven: Haven = world["haven"]  # type: ignore[assignment]
    wrong: list[str] = []
    for role, client, csrf in _clients(haven):
        for method, path in sorted(authz.TABLE):
            answer = _probe(client, csrf, method, path, world, haven, role)
            expected = "allowed" if authz.allowed(method, path, role) else "denied"
            got = _verdict(role, path, answer)
            if got != expected:
                wrong.append(f"{method} {path} as {role}: {got} ({answer.status_code}), "
                             f"the table says {expected}")
    assert not wrong, "\n".join(wrong)
