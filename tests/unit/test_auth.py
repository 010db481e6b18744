"""Proving who acts (issue 12, item 13): argon2id hashes, personal tokens (issue, list, revoke,
expiry, last use), passwords, the timing of unknown tokens, and independence: nobody grants
themselves a role, or approves their own work, through an account they created."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import select, update

from carehaven import clock
from carehaven.access import auth
from carehaven.access.auth import (
    TOKEN_ENV,
    ask_new_password,
    hash_password,
    issue_token,
    revoke_token,
    set_password,
    tokens,
)
from carehaven.access.users import (
    acting_user,
    add_user,
    creators,
    grant,
    independent,
    revoke,
)
from carehaven.audit import verify
from carehaven.control.models import AccessToken, AuditEntry, RoleGrant, User
from carehaven.errors import AccessDeniedError, ExitCode, NotFoundError, UsageError
from carehaven.haven import Haven
from tests.people import CHEAP

PW = "correct horse battery"
ORGS = (("P001", "treatment-service", "Riverside Recovery"),)


@pytest.fixture
def cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def people(make_haven: Callable[..., Haven], cheap: None) -> Haven:
    """boss (data-team, added by the owner), alice (submitter P001, added by boss)."""
    haven = make_haven(orgs=ORGS)
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="cli:owner")
    add_user(haven, "alice", "Alice", "P001", roles=["submitter"], actor="user:boss")
    return haven


@pytest.fixture
def clock_at() -> Iterator[Callable[[datetime], None]]:
    def at(when: datetime) -> None:
        clock.set_clock(lambda: when)

    yield at
    clock.set_clock(None)


def _with(token: str, **env: str) -> dict[str, str]:
    return {"USER": "owner", TOKEN_ENV: token, **env}


def _denied(haven: Haven) -> list[AuditEntry]:
    with haven.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")
                              .order_by(AuditEntry.seq)))


# -- argon2id, as the library sets it up -------------------------------------------------------

def test_hashes_are_argon2id_with_the_librarys_defaults(make_haven: Callable[..., Haven]) -> None:
    default = extract_parameters(PasswordHasher().hash("x" * 12))
    assert default.type is Type.ID
    assert extract_parameters(auth.DUMMY_HASH) == default  # the dummy costs what a real one does
    haven = make_haven(orgs=ORGS)
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="cli:owner",
             password_hash=hash_password(PW))
    issued = issue_token(haven, "boss", actor="test")
    with haven.sessions() as s:
        stored = [s.scalar(select(User.password_hash)), s.scalar(select(AccessToken.secret_hash))]
    for value in stored:
        assert value is not None and value.startswith("$argon2id$")
        assert extract_parameters(value) == default
    secret = issued.token.rsplit(".", 1)[1]
    assert secret not in str(stored) and PW not in str(stored)


def test_a_hash_with_old_parameters_is_replaced_on_success(people: Haven,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    issued = issue_token(people, "boss", actor="test")  # made with the cheap hasher
    set_password(people, "boss", PW, actor="test")
    monkeypatch.setattr(auth, "HASHER", PasswordHasher())  # today's parameters are the defaults
    acting_user(people, environ=_with(issued.token))
    acting_user(people, "boss", environ={"USER": "owner"}, password=lambda _p: PW)
    with people.sessions() as s:
        for value in (s.scalar(select(AccessToken.secret_hash)),
                      s.scalar(select(User.password_hash).where(User.username == "boss"))):
            assert value is not None
            assert extract_parameters(value) == extract_parameters(PasswordHasher().hash("y"))


# -- tokens ------------------------------------------------------------------------------------

def test_a_token_acts_for_its_user_and_is_stamped(people: Haven) -> None:
    issued = issue_token(people, "alice", actor="user:alice", label="laptop")
    assert issued.token.startswith(f"chv1.{issued.id}.") and auth.TOKEN.fullmatch(issued.token)
    assert issued.id.startswith("tk-") and len(issued.id) == 19
    assert issued.expires_at - issued.created_at == timedelta(days=90)
    assert issued.token not in repr(issued)
    listed = tokens(people, "alice")
    assert [(t.id, t.label, t.state, t.last_used_at) for t in listed] == [
        (issued.id, "laptop", "active", None)]
    from carehaven.access.public import TokenPublic

    shown = TokenPublic.of(listed[0]).as_json()
    assert "token" not in shown and issued.token not in str(shown)
    actor = acting_user(people, environ=_with(issued.token))
    assert (actor.username, actor.label, actor.roles) == ("alice", "user:alice",
                                                          (("submitter", "P001"),))
    assert actor.via == f"token:{issued.id}" and actor.token_id == issued.id
    assert tokens(people, "alice")[0].last_used_at is not None
    # Naming the token's own user is fine; the token decides who acts.
    assert acting_user(people, "alice", environ=_with(issued.token)).username == "alice"
    assert acting_user(people, environ=_with(issued.token, CAREHAVEN_USER="alice")).username == (
        "alice")


def test_a_token_for_alice_does_not_act_as_bob(people: Haven) -> None:
    issued = issue_token(people, "alice", actor="test")
    for explicit, env in [("boss", _with(issued.token)),
                          (None, _with(issued.token, CAREHAVEN_USER="boss"))]:
        with pytest.raises(AccessDeniedError, match="belongs to another user, not boss") as e:
            acting_user(people, explicit, environ=env)
        assert e.value.exit_code == ExitCode.ACCESS_DENIED
    # alice proved who she is and tried to act as boss: the entry says so.
    assert [(d.actor, d.subject) for d in _denied(people)] == [("user:alice", "user:boss")] * 2


@pytest.mark.parametrize("spoil", ["wrong-secret", "unknown-id", "garbage", "revoked", "expired",
                                   "inactive"])
def test_a_bad_token_is_refused_and_audited(
    people: Haven, spoil: str, clock_at: Callable[[datetime], None]
) -> None:
    issued = issue_token(people, "alice", actor="test", days=1)
    token, message = issued.token, "not a valid token"
    if spoil == "wrong-secret":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif spoil == "unknown-id":
        token = token.replace(issued.id, "tk-0000000000000000")
    elif spoil == "garbage":
        token = "not a token; DROP TABLE users"
    elif spoil == "revoked":
        revoke_token(people, issued.id, actor="user:alice")
        message = "has been revoked"
    elif spoil == "expired":
        clock_at(issued.expires_at + timedelta(seconds=1))
        message = f"expired on {issued.expires_at.date().isoformat()}"
    elif spoil == "inactive":
        with people.transaction() as s:
            s.execute(update(User).where(User.username == "alice").values(active=False))
        message = "no longer active"
    with pytest.raises(AccessDeniedError, match=message) as caught:
        acting_user(people, environ=_with(token))
    assert "CAREHAVEN_TOKEN" in caught.value.message and token not in caught.value.message
    (entry,) = _denied(people)
    assert '"permission":"authenticate"' in entry.details and entry.actor == "cli:owner"
    # The owner is named when the id is a real token's; never the token or its secret.
    assert entry.subject == ("user:(unknown)" if spoil in {"unknown-id", "garbage"}
                             else "user:alice")
    assert issued.token.rsplit(".", 1)[1] not in entry.details + entry.subject
    assert tokens(people, "alice")[0].last_used_at is None


def test_an_unknown_token_costs_one_verify_like_a_known_one(
    people: Haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing: whether an id exists, a secret is right or a name is a user, one argon2 verify."""
    issued = issue_token(people, "alice", actor="test")
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
            calls.append("dummy" if hash == auth.DUMMY_HASH else "real")
            return super().verify(hash, password)

    monkeypatch.setattr(auth, "HASHER", Counting(time_cost=1, memory_cost=8, parallelism=1))
    for token in (issued.token, issued.token[:-2] + "xx",
                  issued.token.replace(issued.id, "tk-ffffffffffffffff"), "rubbish"):
        calls.clear()
        with contextlib.suppress(AccessDeniedError):
            acting_user(people, environ=_with(token))
        assert len(calls) == 1
    assert calls == ["dummy"]
    for name in ("boss", "nobody"):  # boss has no password yet; nobody is not a user
        calls.clear()
        with pytest.raises(AccessDeniedError, match="Authentication failed"):
            acting_user(people, name, environ={"USER": "owner"}, password=lambda _p: PW)
        assert calls == ["dummy"]


def test_token_lifetimes_and_labels_are_checked(people: Haven) -> None:
    for days in (0, -1, auth.MAX_TOKEN_DAYS + 1):
        with pytest.raises(UsageError, match="1 to 366 days"):
            issue_token(people, "alice", actor="test", days=days)
    with pytest.raises(UsageError, match="--label"):
        issue_token(people, "alice", actor="test", label="x" * 101)
    with pytest.raises(NotFoundError):
        issue_token(people, "nobody", actor="test")
    cap = clock.now() + timedelta(days=3)
    assert issue_token(people, "alice", actor="test", days=90, not_after=cap).expires_at == cap
    assert issue_token(people, "alice", actor="test", days=366).expires_at > cap


def test_revoking_a_token_keeps_it_on_record(people: Haven) -> None:
    issued = issue_token(people, "alice", actor="test")
    assert revoke_token(people, issued.id, actor="user:alice").state == "revoked"
    with pytest.raises(UsageError, match="already revoked"):
        revoke_token(people, issued.id, actor="user:alice")
    with pytest.raises(NotFoundError):
        revoke_token(people, "tk-0000000000000000", actor="user:alice")
    assert [t.state for t in tokens(people, "alice")] == ["revoked"]
    with people.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions[-2:] == ["token.issued", "token.revoked"]
    assert verify(people.engine).ok


# -- passwords ---------------------------------------------------------------------------------

def test_passwords_are_long_and_typed_twice(people: Haven) -> None:
    def typing(*answers: str) -> Callable[[str], str]:
        queue = list(answers)
        return lambda _prompt: queue.pop(0)

    with pytest.raises(UsageError, match="at least 12 characters"):
        ask_new_password(typing("short"), "alice")
    with pytest.raises(UsageError, match="differ"):
        ask_new_password(typing(PW, PW + "!"), "alice")
    assert ask_new_password(typing(PW, PW), "alice") == PW
    with pytest.raises(UsageError, match="at least 12"):
        set_password(people, "alice", "x" * 11, actor="test")
    set_password(people, "alice", PW, actor="user:alice")
    actor = acting_user(people, "alice", environ={"USER": "owner"}, password=lambda _p: PW)
    assert actor.username == "alice" and actor.via == "password"
    with pytest.raises(AccessDeniedError, match="Authentication failed for alice"):
        acting_user(people, "alice", environ={"USER": "owner"}, password=lambda _p: PW + "x")
    with people.sessions() as s:
        every = "".join(e.details + e.subject for e in s.scalars(select(AuditEntry)))
    assert PW not in every


def test_auth_events_hold_codes_and_ids_only() -> None:
    from carehaven.audit.events import PasswordSet, TokenIssued, TokenRevoked

    for cls in (TokenIssued, TokenRevoked, PasswordSet):
        assert all(f.type == "str" for f in dataclasses.fields(cls)), cls
        assert not any("secret" in f.name or "hash" in f.name or "password" in f.name
                       for f in dataclasses.fields(cls))


# -- independence ------------------------------------------------------------------------------

@pytest.fixture
def chain(people: Haven) -> Haven:
    """boss -> boss2 -> boss3 (each made by the one before, all data-team); carol, the second
    founder (data-team), and dave made by the owner; erin made by boss, frank by carol."""
    add_user(people, "boss2", "B2", None, roles=["data-team"], actor="user:boss")
    add_user(people, "boss3", "B3", None, roles=["data-team"], actor="user:boss2")
    add_user(people, "carol", "Carol", None, roles=["data-team"], actor="cli:owner")
    add_user(people, "dave", "Dave", None, actor="cli:owner")  # in-process: past the founders
    add_user(people, "erin", "Erin", None, actor="user:boss")
    add_user(people, "frank", "Frank", None, actor="user:carol")
    return people


def test_creators_are_followed_to_the_owner(chain: Haven) -> None:
    with chain.sessions() as s:
        assert creators(s, "boss3") == ["user:boss2", "user:boss", "cli:owner"]
        assert creators(s, "user:boss") == ["cli:owner"]
        assert creators(s, "nobody") == []


def test_independence(chain: Haven) -> None:
    cases = {
        ("boss", "boss"): False, ("boss", "user:boss"): False,
        ("boss", "boss2"): False, ("boss3", "boss"): False, ("user:boss3", "user:boss2"): False,
        ("boss", "carol"): True, ("boss3", "carol"): True,
        # Made by the same user: one person may hold both first credentials (siblings) ...
        ("boss2", "erin"): False,
        ("boss3", "erin"): False,  # ... or made under them (cousins: boss made both chains)
        # The owner is nobody's shared creator: its founders, and what each makes, are two.
        ("carol", "dave"): True, ("frank", "erin"): True, ("frank", "boss3"): True,
        ("frank", "carol"): False,
        ("cli:owner", "boss3"): False, ("cli:owner", "cli:owner"): False,
        ("cli:someone", "boss"): True,
    }
    with chain.sessions() as s:
        for (a, b), expected in cases.items():
            assert independent(s, a, b) is expected, (a, b)
            assert independent(s, b, a) is expected, (b, a)
    assert independent(chain, "boss", "carol") and not independent(chain, "boss", "boss2")


def test_no_grant_to_your_own_creator_at_any_depth(chain: Haven) -> None:
    for granter in ("boss2", "boss3"):
        for role in ("ips-team", "analyst"):
            with pytest.raises(AccessDeniedError, match="created your account") as caught:
                grant(chain, "boss", role, None, actor=f"user:{granter}")
            assert caught.value.exit_code == ExitCode.ACCESS_DENIED
    with pytest.raises(AccessDeniedError, match="created your account"):
        grant(chain, "boss2", "auditor", None, actor="user:boss3")
    denied = _denied(chain)
    assert len(denied) == 5 and all('"permission":"manage-users"' in d.details for d in denied)


def test_a_creator_gives_only_what_they_hold(chain: Haven) -> None:
    # To the accounts boss made (directly or not): what boss may do, yes; more, no.
    grant(chain, "erin", "submitter", "P001", actor="user:boss")
    grant(chain, "boss3", "analyst", None, actor="user:boss")
    add_user(chain, "al2", "Al", None, actor="user:alice")  # in-process: alice manages nobody
    with pytest.raises(AccessDeniedError, match="so alice may give it only what alice may do"):
        grant(chain, "al2", "data-team", None, actor="user:alice")
    # The privileged roles never come from someone who is not independent of the account.
    for who, role, says in [("erin", "ips-team", "boss created the account of erin"),
                            ("boss2", "ips-team", "boss created the account of boss2"),
                            ("boss3", "auditor", "Nobody holds both auditor and data-team")]:
        with pytest.raises(AccessDeniedError, match=says) as caught:
            grant(chain, who, role, None, actor="user:boss")
        assert caught.value.exit_code == ExitCode.ACCESS_DENIED
    with pytest.raises(AccessDeniedError, match="cannot be given to a new account"):
        add_user(chain, "puppet", "P", None, roles=["ips-team"], actor="user:boss")
    with pytest.raises(AccessDeniedError, match="cannot be given to a new account"):
        add_user(chain, "puppet", "P", None, roles=["auditor"], actor="cli:owner")
    with chain.sessions() as s:
        assert s.get(User, "puppet") is None  # nothing was added
    # Someone independent of the account may give what the data team lacks.
    grant(chain, "erin", "ips-team", None, actor="user:carol")
    grant(chain, "dave", "auditor", None, actor="user:boss")  # boss did not make dave
    with chain.sessions() as s:
        rows = s.execute(select(RoleGrant.username, RoleGrant.role)
                         .where(RoleGrant.revoked_at.is_(None))).all()
    held = {(name, role) for name, role in rows}
    assert {("erin", "ips-team"), ("dave", "auditor"), ("erin", "submitter")} <= held
    assert not {("boss", "ips-team"), ("boss2", "ips-team"), ("boss3", "auditor"),
                ("al2", "data-team")} & held
    assert verify(chain.engine).ok


def test_siblings_are_one_person(chain: Haven) -> None:
    """The outside tester's escalation: boss makes boss2 and erin and may hold both first
    tokens; neither may give the other what the data team lacks, in either direction, nor may
    an account made under one of them (boss3, made by boss2)."""
    cases = [("boss2", "erin", "ips-team"), ("boss2", "erin", "auditor"),
             ("erin", "boss2", "ips-team"), ("boss3", "erin", "ips-team"),
             ("boss3", "erin", "auditor")]
    for granter, grantee, role in cases:
        with pytest.raises(AccessDeniedError, match="were both made by boss") as caught:
            grant(chain, grantee, role, None, actor=f"user:{granter}")
        assert caught.value.exit_code == ExitCode.ACCESS_DENIED
    # A sibling gives only what it holds itself: that adds nothing to the one person.
    with pytest.raises(AccessDeniedError, match="so erin may give it only what erin may do"):
        grant(chain, "boss2", "submitter", "P001", actor="user:erin")
    assert grant(chain, "erin", "data-team", None, actor="user:boss2").role == "data-team"
    denied = _denied(chain)
    assert len(denied) == len(cases) + 1
    assert all('"permission":"manage-users"' in d.details for d in denied)
    assert [d.actor for d in denied][:2] == ["user:boss2"] * 2


def test_auditor_is_never_held_with_data_team(chain: Haven) -> None:
    """The signing key is not the data team's: not by a grant either way, nor at creation,
    whoever grants it (carol is independent of boss2 and of dave)."""
    with pytest.raises(AccessDeniedError, match="Nobody holds both auditor and data-team"):
        grant(chain, "boss2", "auditor", None, actor="user:carol")
    grant(chain, "dave", "auditor", None, actor="user:carol")
    with pytest.raises(AccessDeniedError, match="Nobody holds both auditor and data-team"):
        grant(chain, "dave", "data-team", None, actor="user:carol")
    with pytest.raises(AccessDeniedError, match="Nobody holds both"):
        add_user(chain, "both", "B", None, roles=["data-team", "auditor"], actor="test")
    with chain.sessions() as s:
        assert s.get(User, "both") is None
        rows = s.execute(select(RoleGrant.username, RoleGrant.role)
                         .where(RoleGrant.revoked_at.is_(None))).all()
    assert ("dave", "auditor") in rows and ("dave", "data-team") not in rows
    assert ("boss2", "auditor") not in rows
    denied = _denied(chain)
    assert [(d.actor, d.subject) for d in denied] == [
        ("user:carol", "user:boss2"), ("user:carol", "user:dave"), ("test", "user:both")]
    # Once boss2 leaves the data team, an independent user may make them the auditor.
    grant(chain, "erin", "data-team", None, actor="user:carol")  # someone keeps manage-users
    revoke(chain, "boss2", "data-team", None, actor="user:carol")
    grant(chain, "boss2", "auditor", None, actor="user:carol")


def test_tokens_expire_by_the_clock(people: Haven, clock_at: Callable[[datetime], None]) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock_at(start)
    issued = issue_token(people, "alice", actor="test", days=2)
    clock_at(start + timedelta(days=2) - timedelta(seconds=1))
    assert acting_user(people, environ=_with(issued.token)).username == "alice"
    clock_at(start + timedelta(days=2))
    assert tokens(people, "alice")[0].state == "expired"
    with pytest.raises(AccessDeniedError, match="expired on 2026-01-03"):
        acting_user(people, environ=_with(issued.token))
