"""Signing in to the portal (issue 14 part 3), through its sign-in form and API as a browser
and a script reach them: good and bad passwords, an unknown name, lockout and unlock,
throttling per address, idle and absolute expiry, revocation, CSRF, and the cookie's flags."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from carehaven import clock
from carehaven.access import auth, signin
from carehaven.control.models import AuditEntry, SignInAttempt, WebSession
from carehaven.haven import Haven
from tests.people import CHEAP, Cli, token_for
from tests.portal import ORGS, PASSWORD, populate, portal, sign_in

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def now() -> Iterator[list[datetime]]:
    """The clock, which a test moves by assigning ``now[0]``."""
    current = [NOON]
    clock.set_clock(lambda: current[0])
    yield current
    clock.set_clock(None)


@pytest.fixture
def haven(make_haven: Callable[..., Haven]) -> Haven:
    made = populate(make_haven(orgs=ORGS))
    made.settings = dataclasses.replace(made.settings, sign_in_lockout=3)  # type: ignore[misc]
    return made


def _audit(haven: Haven, action: str) -> list[dict[str, object]]:
    with haven.sessions() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                               .order_by(AuditEntry.seq))
        return [{"subject": r.subject, "actor": r.actor, **json.loads(r.details)} for r in rows]


def _everything_audited(haven: Haven) -> str:
    with haven.sessions() as session:
        return " ".join(f"{r.subject} {r.actor} {r.details}"
                        for r in session.scalars(select(AuditEntry)))


def test_a_good_password_opens_a_session_with_safe_cookie_flags(haven: Haven) -> None:
    with portal(haven) as client:
        answer = client.post("/sign-in", data={"username": "sub", "password": PASSWORD,
                                               "next": "/submissions"})
        assert answer.status_code == 303 and answer.headers["location"] == "/submissions"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("carehaven=") and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower() and "Secure" not in cookie
        me = client.get("/api/me").json()
        assert me["username"] == "sub" and me["via"].startswith("session:")
    with haven.sessions() as session:
        (row,) = session.scalars(select(WebSession))
        # Only a hash of the cookie is kept.
        value = cookie.split(";")[0].split("=", 1)[1]
        assert row.id == signin.session_id_of(value) and value not in row.id
    assert [e["username"] for e in _audit(haven, "signin.succeeded")] == ["sub"]


def test_outside_development_the_cookie_is_secure_and_host_prefixed(haven: Haven) -> None:
    with portal(haven, development=False) as client:
        answer = client.post("/sign-in", data={"username": "sub", "password": PASSWORD})
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-carehaven=") and "Secure" in cookie
        assert "Path=/" in cookie and "Domain" not in cookie
        assert client.get("/api/me").status_code == 200


def test_a_next_page_elsewhere_is_ignored(haven: Haven) -> None:
    with portal(haven) as client:
        answer = client.post("/sign-in", data={"username": "sub", "password": PASSWORD,
                                               "next": "//evil.example/x"})
        assert answer.headers["location"] == "/"


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(haven: Haven) -> None:
    typed = "correct-horse-in-the-name-box"
    with portal(haven) as client:
        wrong = client.post("/sign-in", data={"username": "sub", "password": "not it at all"})
        unknown = client.post("/sign-in", data={"username": typed, "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert signin.REFUSED in wrong.text and signin.REFUSED in unknown.text
        assert "carehaven=" not in wrong.headers.get("set-cookie", "")
        assert client.get("/api/me").status_code == 401
    failed = _audit(haven, "signin.failed")
    assert [(e["username"], e["reason"]) for e in failed] == [
        ("sub", "wrong-password"), ("(unknown)", "unknown-user")]
    everything = _everything_audited(haven)
    assert typed not in everything and "not it at all" not in everything
    with haven.sessions() as session:  # the attempts hold an HMAC of the name, not the name
        accounts = [a.account for a in session.scalars(select(SignInAttempt))]
    assert len(accounts) == 2 and all(typed not in a and len(a) == 64 for a in accounts)


def test_lockout_after_wrong_passwords_until_an_administrator_unlocks(
    haven: Haven, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal(haven) as client:
        for _ in range(3):
            assert client.post("/sign-in", data={"username": "sub", "password": "wrong wrong "
                                                 "wrong"}).status_code == 401
        assert signin.locked(haven, "sub")
        # Locked: even the right password is refused, with the same sentence.
        locked = client.post("/sign-in", data={"username": "sub", "password": PASSWORD})
        assert locked.status_code == 401 and signin.REFUSED in locked.text
    assert [e["username"] for e in _audit(haven, "user.locked")] == ["sub"]
    cli = Cli(haven.paths.root, capsys, monkeypatch)
    code, _out, err = cli("sub2", "users", "unlock", "sub")
    assert code == 13, err  # a submitter does not manage users
    assert cli.ok("dt", "users", "unlock", "sub") == {"username": "sub", "unlocked": True}
    assert [e["username"] for e in _audit(haven, "user.unlocked")] == ["sub"]
    with portal(haven) as client:
        sign_in(client, "sub")


def test_the_api_unlocks_for_someone_who_manages_users(haven: Haven) -> None:
    haven.settings = dataclasses.replace(haven.settings, sign_in_lockout=1)  # type: ignore[misc]
    with portal(haven) as client:
        client.post("/sign-in", data={"username": "sub2", "password": "wrong wrong wrong"})
        bearer = {"Authorization": f"Bearer {token_for(haven.paths.root, 'dt')}"}
        answer = client.post("/api/users/sub2/unlock", headers=bearer)  # a token: no CSRF
        assert answer.status_code == 200 and answer.json()["unlocked"] is True
        again = client.post("/api/users/sub2/unlock", headers=bearer)
        assert again.status_code == 400 and again.json()["error"]["code"] == "usage"
    assert not signin.locked(haven, "sub2")


def test_one_address_is_throttled_across_names(haven: Haven,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin, "ADDRESS_THROTTLE", 3)
    with portal(haven) as client:
        for name in ("x1", "x2", "x3"):
            assert client.post("/sign-in", data={"username": name,
                                                 "password": "guess guess guess"}
                               ).status_code == 401
        answer = client.post("/sign-in", data={"username": "sub", "password": PASSWORD})
        assert answer.status_code == 429 and "Too many" in answer.text
    assert _audit(haven, "signin.failed")[-1]["reason"] == "throttled"
    assert not signin.locked(haven, "sub")  # throttling checks no password, so locks nobody


def test_one_name_is_throttled_before_its_password_is_checked(haven: Haven) -> None:
    haven.settings = dataclasses.replace(haven.settings, sign_in_lockout=100)  # type: ignore[misc]
    with portal(haven) as client:
        for _ in range(signin.ACCOUNT_THROTTLE):
            client.post("/sign-in", data={"username": "sub", "password": "guess guess guess"})
        assert client.post("/sign-in", data={"username": "sub", "password": PASSWORD}
                           ).status_code == 429


def test_a_session_ends_when_idle_and_at_its_absolute_limit(
    haven: Haven, now: list[datetime]
) -> None:
    with portal(haven) as client:
        sign_in(client, "sub")
        now[0] += timedelta(minutes=29)
        assert client.get("/api/me").status_code == 200
        now[0] += timedelta(minutes=31)
        assert client.get("/api/me").status_code == 401
        page = client.get("/submissions")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    with portal(haven) as client:
        sign_in(client, "sub")
        for _ in range(12 * 3 - 1):  # busy every 20 minutes, for just under 12 hours
            now[0] += timedelta(minutes=20)
            assert client.get("/api/me").status_code == 200
        now[0] += timedelta(minutes=20)
        assert client.get("/api/me").status_code == 401


def test_signing_out_revokes_the_session_server_side(haven: Haven) -> None:
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        cookie = client.cookies.get("carehaven")
        assert cookie
        assert client.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
    with portal(haven) as replay:
        replay.cookies.set("carehaven", cookie)
        assert replay.get("/api/me").status_code == 401
    assert [e["username"] for e in _audit(haven, "signin.signed_out")] == ["sub"]


def test_a_password_change_and_a_revoked_role_end_sessions(haven: Haven) -> None:
    with portal(haven) as one, portal(haven) as two:
        sign_in(one, "sub")
        sign_in(two, "sub2")
        auth.set_password(haven, "sub", "a brand new long phrase", actor="user:sub")
        assert one.get("/api/me").status_code == 401
        from carehaven.access.users import revoke

        revoke(haven, "sub2", "submitter", None, actor="user:dt")
        assert two.get("/api/me").status_code == 401
    whys = sorted(str(e["why"]) for e in _audit(haven, "signin.sessions_revoked"))
    assert whys == ["password-changed", "role-revoked"]


def test_csrf_is_required_with_a_cookie_and_not_with_a_token(haven: Haven) -> None:
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        assert client.post("/sign-out").status_code == 403
        assert client.post("/sign-out", data={"csrf_token": "forged"}).status_code == 403
        refused = client.post("/api/submissions", params={
            "org": "P001", "dataset": "ndtms-episode", "period": "2025Q2"}, content=b"x")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_refused"
        assert client.get("/api/me").status_code == 200  # still signed in
        assert client.post("/sign-out", data={"csrf_token": csrf}).status_code == 303


def test_an_unsafe_request_from_another_site_is_refused(haven: Haven) -> None:
    with portal(haven) as client:
        answer = client.post("/sign-in", data={"username": "sub", "password": PASSWORD},
                             headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_a_common_password_is_refused_as_a_new_one() -> None:
    from carehaven.errors import UsageError

    for common in ("password1234", "Password123456!", "qwertyuiop12", "monkeymonkeymonkey",
                   "aaaaaaaaaaaaaaa", "carehaven2026!"):
        with pytest.raises(UsageError, match="often choose"):
            auth.check_new_password(common)
    with pytest.raises(UsageError, match="often choose"):
        auth.check_new_password("alice.khan-long-phrase", "alice.khan")
    auth.check_new_password("plum kettle orbit saffron")


@pytest.mark.postgres
def test_sign_in_lockout_and_sign_out_on_postgresql(make_haven: Callable[..., Haven]) -> None:
    haven = populate(make_haven(backend="postgres", orgs=ORGS))
    haven.settings = dataclasses.replace(haven.settings, sign_in_lockout=2)  # type: ignore[misc]
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        assert client.get("/api/me").json()["username"] == "sub"
        assert client.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
        assert client.get("/api/me").status_code == 401
        for _ in range(2):
            client.post("/sign-in", data={"username": "sub2", "password": "wrong wrong wrong"})
        assert signin.locked(haven, "sub2")
        signin.unlock(haven, "sub2", actor="user:dt")
        sign_in(client, "sub2")


def test_an_oversized_form_is_refused_unread(haven: Haven) -> None:
    with portal(haven) as client:
        answer = client.post("/sign-in", data={"username": "sub", "password": "x" * 70000})
        assert answer.status_code == 400 and "too big" in answer.text
