"""People's access (SHR-6, SHR-7, SEC-1): the role table, scoping, single-operator mode,
revocation, the access review's last-used stamps, and refusals in the audit log."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from carehaven import clock
from carehaven.access import auth
from carehaven.access.auth import TOKEN_ENV, hash_password, issue_token
from carehaven.access.users import (
    NOT_THE_OWNERS,
    ORG_ROLES,
    ORG_SCOPED,
    ROLE_PERMISSIONS,
    Actor,
    Permission,
    acting_user,
    add_user,
    founders,
    grant,
    require,
    require_visible,
    revoke,
    users,
    visible_orgs,
)
from carehaven.audit import verify
from carehaven.control.models import AuditEntry, Role, RoleGrant, User
from carehaven.errors import AccessDeniedError, ExitCode, NotFoundError, UsageError
from carehaven.haven import Haven, UnknownOrganisationError
from tests.people import CHEAP

P = Permission
#: The table as docs/access.md states it, written out once more by hand.
EXPECTED: dict[Role, set[Permission]] = {
    Role.SUBMITTER: {P.SUBMIT, P.READ_SUBMISSIONS},
    Role.DATA_TEAM: set(Permission) - {P.READ_IPS_IDENTIFIABLE, P.SIGN_CHECKPOINT},
    Role.IPS_TEAM: {P.READ_IPS_IDENTIFIABLE},
    Role.ANALYST: set(),
    Role.AUTHORITY_VIEWER: {P.VIEW_DASHBOARD},
    Role.AUDITOR: {P.READ_AUDIT, P.READ_GOVERNANCE, P.SIGN_CHECKPOINT},
}
ORGS = (("P001", "treatment-service", "Riverside Recovery"),
        ("P002", "treatment-service", "Hillside Hope"),
        ("E08000025", "local-authority", "Birmingham"))
ENV = {"USER": "owner"}
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PW = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about roles, not argon2's cost: tests/unit/test_auth.py checks the real
    parameters; here a cheap hasher keeps each authentication fast."""
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def two_orgs(make_haven: Callable[..., Haven]) -> Haven:
    return make_haven(orgs=ORGS)


@pytest.fixture
def fixed_clock() -> Iterator[datetime]:
    clock.set_clock(lambda: NOON)
    yield NOON
    clock.set_clock(None)


def _people(haven: Haven) -> Haven:
    """boss (data-team), alice (submitter P001), bob (submitter P002), ivy (ips-team),
    ann (analyst), aud (auditor), val (authority-viewer for E08000025)."""
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="test")
    for name, org, role in [("alice", "P001", "submitter"), ("bob", "P002", "submitter"),
                            ("ann", None, "analyst"), ("val", "E08000025", "authority-viewer")]:
        add_user(haven, name, name.title(), org, roles=[role], actor="user:boss")
    # The IPS team and the auditor carry what the data team lacks: someone else adds them.
    for name, role in [("ivy", "ips-team"), ("aud", "auditor")]:
        add_user(haven, name, name.title(), None, roles=[role], actor="test")
    return haven


_TOKENS: dict[tuple[object, str], str] = {}


def _token(haven: Haven, name: str) -> str:
    key = (haven.paths.root, name)
    if key not in _TOKENS:
        _TOKENS[key] = issue_token(haven, name, actor="test").token
    return _TOKENS[key]


def _as(haven: Haven, name: str) -> Actor:
    """``name``, authenticated with a personal token of theirs, as a command would be."""
    return acting_user(haven, name, environ={**ENV, TOKEN_ENV: _token(haven, name)})


def _denials(haven: Haven) -> list[AuditEntry]:
    with haven.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")))


def _used(haven: Haven, username: str, role: str) -> datetime | None:
    """A grant's last_used_at in UTC (SQLite hands it back without its zone)."""
    used = _grant_row(haven, username, role).last_used_at
    return used if used is None else used.replace(tzinfo=UTC) if used.tzinfo is None else (
        used.astimezone(UTC))


def _grant_row(haven: Haven, username: str, role: str) -> RoleGrant:
    with haven.sessions() as s:
        row = s.scalar(select(RoleGrant).where(RoleGrant.username == username,
                                               RoleGrant.role == role))
    assert row is not None
    return row


# -- the table --------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "permission"), list(itertools.product(Role, Permission)))
def test_every_role_and_permission(role: Role, permission: Permission) -> None:
    assert (permission in ROLE_PERMISSIONS[role]) == (permission in EXPECTED[role])


def test_the_table_is_complete_and_org_roles_follow_from_it() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert {P.SUBMIT, P.READ_SUBMISSIONS, P.VIEW_DASHBOARD} == ORG_SCOPED
    assert {Role.SUBMITTER, Role.AUTHORITY_VIEWER} == ORG_ROLES


def test_only_the_ips_team_sees_identifiable_ips_data() -> None:  # SHR-6
    holders = {r for r, perms in ROLE_PERMISSIONS.items() if P.READ_IPS_IDENTIFIABLE in perms}
    assert holders == {Role.IPS_TEAM}


def test_docs_show_the_same_table() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "access.md").read_text()
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    roles = [c.strip().strip("`") for c in lines[start].strip("|").split("|")][1:]
    assert roles == [r.value for r in Role]
    seen: dict[Role, set[Permission]] = {r: set() for r in Role}
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start + 2:]))
    assert len(rows) == len(Permission)
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        permission = Permission(cells[0].strip("`"))
        for role, cell in zip(roles, cells[1:1 + len(roles)], strict=True):
            if cell == "yes":
                seen[Role(role)].add(permission)
    assert seen == EXPECTED


# -- single-operator mode ---------------------------------------------------------------------

def test_a_haven_without_users_is_run_by_its_owner(haven: Haven) -> None:
    actor = acting_user(haven, "whoever", environ={"USER": "kim", "CAREHAVEN_USER": "x"})
    assert actor.single_operator and actor.label == "cli:kim"
    entries = verify(haven.engine).entries
    for permission in Permission:
        require(haven, actor, permission, "P404")
        assert actor.may(permission)
    assert visible_orgs(actor, P.READ_SUBMISSIONS) is None
    assert require_visible(haven, actor, P.READ_SUBMISSIONS) is None
    assert verify(haven.engine).entries == entries  # checking wrote nothing


def test_two_founders_end_single_operator_mode(two_orgs: Haven) -> None:
    for roles in (["submitter"], []):
        with pytest.raises(UsageError, match="Until the haven has two founders"):
            add_user(two_orgs, "alice", "Alice", "P001", roles=roles, actor="cli:owner")
    assert acting_user(two_orgs, environ=ENV).single_operator  # nothing was half-added
    add_user(two_orgs, "owner", "Owner", None, roles=["data-team"], actor="cli:owner",
             password_hash=hash_password(PW))
    with two_orgs.sessions() as s:
        assert founders(s) == 1
    # One founder: a command that presents no token and names nobody still runs as the owner,
    owner = acting_user(two_orgs, environ=ENV)
    assert owner.single_operator and owner.label == "cli:owner"
    require(two_orgs, owner, P.MANAGE_USERS)
    with pytest.raises(UsageError, match="registers only data-team users"):
        add_user(two_orgs, "alice", "Alice", "P001", roles=["submitter"], actor="cli:owner")
    # who may not propose or approve a release: it made the founder's account.
    for permission in sorted(NOT_THE_OWNERS):
        with pytest.raises(AccessDeniedError, match="independent of nobody") as caught:
            require(two_orgs, owner, permission)
        assert caught.value.exit_code == ExitCode.ACCESS_DENIED
    assert [(e.actor, e.subject) for e in _denials(two_orgs)] == [("cli:owner", "user:owner")] * 2
    # A founder who presents a token, or names themselves and types a password, is themselves.
    assert _as(two_orgs, "owner").label == "user:owner"
    assert acting_user(two_orgs, "owner", environ=ENV, password=lambda _p: PW).via == "password"
    with pytest.raises(AccessDeniedError, match="names nobody acts as its owner"):
        acting_user(two_orgs, "owner", environ=ENV)  # named, nobody to ask: refused
    # The second founder ends the mode.
    add_user(two_orgs, "kim", "Kim", None, roles=["data-team"], actor="cli:owner")
    asked: list[str] = []
    actor = acting_user(two_orgs, environ=ENV,  # the OS account is now a registered user
                        password=lambda prompt: asked.append(prompt) or PW)
    assert asked == ["carehaven password for owner: "]
    assert not actor.single_operator and actor.label == "user:owner"
    assert actor.roles == (("data-team", None),) and actor.via == "password"
    # For good: a founder leaving or losing data-team does not bring the owner back.
    with two_orgs.transaction() as s:
        s.execute(update(User).where(User.username == "kim").values(active=False))
    with pytest.raises(AccessDeniedError, match="is not enough"):
        acting_user(two_orgs, environ=ENV)


def test_once_users_exist_naming_one_is_not_enough(two_orgs: Haven) -> None:
    _people(two_orgs)
    with two_orgs.transaction() as s:  # bob has a password; nobody else does
        s.execute(update(User).where(User.username == "bob")
                  .values(password_hash=hash_password(PW)))
    for name, env in [("bob", ENV), (None, {"USER": "bob"}),
                      (None, {"USER": "owner", "CAREHAVEN_USER": "bob"})]:
        with pytest.raises(AccessDeniedError, match=r"naming a user .* is not enough") as caught:
            acting_user(two_orgs, name, environ=env)  # no token, nobody to ask: refused
        assert caught.value.exit_code == ExitCode.ACCESS_DENIED
        assert "CAREHAVEN_TOKEN" in caught.value.message
    for name, typed in [("mallory", PW), ("bob", "not bobs password"), ("alice", PW)]:
        with pytest.raises(AccessDeniedError, match=f"Authentication failed for {name}"):
            acting_user(two_orgs, name, environ=ENV, password=lambda _p, t=typed: t)
    with pytest.raises(AccessDeniedError, match="not a valid username"):
        acting_user(two_orgs, "drop table; --", environ=ENV, password=lambda _p: PW)
    denied = _denials(two_orgs)
    assert [e.subject for e in denied] == ["user:bob"] * 3 + [
        "user:mallory", "user:bob", "user:alice", "user:(invalid name)"]
    assert all('"permission":"authenticate"' in e.details for e in denied)
    assert all(PW not in e.details for e in denied)
    # The environment names the user to ask for when no --as is given; --as wins over it.
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return PW

    assert acting_user(two_orgs, environ={"CAREHAVEN_USER": "bob"}, password=ask).username == (
        "bob")
    with pytest.raises(AccessDeniedError):
        acting_user(two_orgs, "alice", environ={"CAREHAVEN_USER": "bob"}, password=ask)
    assert asked == ["carehaven password for bob: ", "carehaven password for alice: "]


def test_an_inactive_user_is_refused(two_orgs: Haven) -> None:
    _people(two_orgs)
    _token(two_orgs, "alice")
    with two_orgs.transaction() as s:
        s.execute(update(User).where(User.username == "alice").values(active=False))
    with pytest.raises(AccessDeniedError, match="no longer active"):
        _as(two_orgs, "alice")


# -- scoping ----------------------------------------------------------------------------------

def test_a_submitter_acts_for_its_own_organisation_only(two_orgs: Haven) -> None:
    _people(two_orgs)
    alice = _as(two_orgs, "alice")
    assert alice.roles == (("submitter", "P001"),) and alice.org_code == "P001"
    require(two_orgs, alice, P.SUBMIT, "P001")
    require(two_orgs, alice, P.READ_SUBMISSIONS, "P001")
    for permission, org in [(P.SUBMIT, "P002"), (P.READ_SUBMISSIONS, "P002"),
                            (P.READ_SUBMISSIONS, None), (P.RUN_PIPELINE, None),
                            (P.VIEW_DASHBOARD, "P001")]:
        with pytest.raises(AccessDeniedError) as caught:
            require(two_orgs, alice, permission, org)
        assert permission.value in caught.value.message
        assert org is None or f"organisation {org}" in caught.value.message
    assert visible_orgs(alice, P.READ_SUBMISSIONS) == {"P001"}
    assert require_visible(two_orgs, alice, P.READ_SUBMISSIONS) == {"P001"}
    assert visible_orgs(alice, P.VIEW_DASHBOARD) == set()
    with pytest.raises(AccessDeniedError):
        require_visible(two_orgs, alice, P.VIEW_DASHBOARD)


def test_unscoped_roles_reach_every_organisation(two_orgs: Haven) -> None:
    _people(two_orgs)
    boss = _as(two_orgs, "boss")
    for org in ("P001", "P002", None):
        require(two_orgs, boss, P.SUBMIT, org)
    assert visible_orgs(boss, P.READ_SUBMISSIONS) is None
    val = _as(two_orgs, "val")
    require(two_orgs, val, P.VIEW_DASHBOARD, "E08000025")
    with pytest.raises(AccessDeniedError):
        require(two_orgs, val, P.VIEW_DASHBOARD, "P001")


@pytest.mark.parametrize("name", ["ivy", "boss", "alice", "ann", "aud", "val"])
def test_require_keeps_identifiable_ips_data_to_the_ips_team(two_orgs: Haven, name: str) -> None:
    _people(two_orgs)
    actor = _as(two_orgs, name)
    if name == "ivy":
        require(two_orgs, actor, P.READ_IPS_IDENTIFIABLE)
    else:
        with pytest.raises(AccessDeniedError, match="Roles that carry it: ips-team"):
            require(two_orgs, actor, P.READ_IPS_IDENTIFIABLE)


def test_an_analyst_holds_no_command(two_orgs: Haven) -> None:
    _people(two_orgs)
    ann = _as(two_orgs, "ann")
    assert not any(ann.may(p, "P001") for p in Permission)


# -- grants, revocation, the access review ----------------------------------------------------

def test_a_revoked_grant_allows_nothing(two_orgs: Haven) -> None:
    _people(two_orgs)
    before = _as(two_orgs, "alice")  # resolved before the revocation, as a running command is
    revoke(two_orgs, "alice", "submitter", None, actor="user:boss")  # her own P001 by default
    assert _grant_row(two_orgs, "alice", "submitter").revoked_at is not None
    assert _as(two_orgs, "alice").roles == ()
    for actor in (before, _as(two_orgs, "alice")):
        with pytest.raises(AccessDeniedError):
            require(two_orgs, actor, P.SUBMIT, "P001")
    with pytest.raises(NotFoundError, match="holds no submitter grant for P001"):
        revoke(two_orgs, "alice", "submitter", "P001", actor="user:boss")
    grant(two_orgs, "alice", "submitter", None, actor="user:boss")  # granted again
    require(two_orgs, _as(two_orgs, "alice"), P.SUBMIT, "P001")
    listed = {u.username: u for u in users(two_orgs, include_revoked=True)}
    assert [g.revoked_at is None for g in listed["alice"].grants] == [False, True]
    assert len({u.username: u for u in users(two_orgs)}["alice"].grants) == 1


def test_use_stamps_the_narrowest_grant(two_orgs: Haven, fixed_clock: datetime) -> None:
    _people(two_orgs)
    add_user(two_orgs, "dan", "Dan", "P001", roles=["data-team", "submitter"], actor="user:boss")
    dan = _as(two_orgs, "dan")
    require(two_orgs, dan, P.SUBMIT, "P001")
    assert _used(two_orgs, "dan", "submitter") == fixed_clock
    assert _used(two_orgs, "dan", "data-team") is None
    require(two_orgs, dan, P.SUBMIT, "P002")
    assert _used(two_orgs, "dan", "data-team") == fixed_clock
    assert _used(two_orgs, "bob", "submitter") is None  # never used: the access review sees it


def test_grants_follow_the_rules(two_orgs: Haven) -> None:
    _people(two_orgs)
    with pytest.raises(AccessDeniedError, match="themselves"):
        grant(two_orgs, "boss", "ips-team", None, actor="user:boss")
    with pytest.raises(UsageError, match="without --org"):
        grant(two_orgs, "ivy", "data-team", "P001", actor="user:boss")
    with pytest.raises(UsageError, match="name it with --org"):
        grant(two_orgs, "ivy", "submitter", None, actor="user:boss")  # ivy has no organisation
    with pytest.raises(UsageError, match="Unknown role 'admin'"):
        grant(two_orgs, "ivy", "admin", None, actor="user:boss")
    with pytest.raises(UsageError, match="already holds submitter for P001"):
        grant(two_orgs, "alice", "submitter", None, actor="user:boss")
    with pytest.raises(UnknownOrganisationError):
        grant(two_orgs, "alice", "submitter", "P404", actor="user:boss")
    with pytest.raises(NotFoundError):
        grant(two_orgs, "nobody", "analyst", None, actor="user:boss")
    row = grant(two_orgs, "alice", "submitter", "P002", actor="user:boss")
    assert (row.role, row.org_code, row.granted_by) == ("submitter", "P002", "user:boss")
    assert visible_orgs(_as(two_orgs, "alice"), P.READ_SUBMISSIONS) == {"P001", "P002"}


def test_the_last_data_team_grant_stays(two_orgs: Haven) -> None:
    _people(two_orgs)
    with pytest.raises(UsageError, match="last data-team grant"):
        revoke(two_orgs, "boss", "data-team", None, actor="user:aud")
    grant(two_orgs, "ivy", "data-team", None, actor="user:boss")
    revoke(two_orgs, "boss", "data-team", None, actor="user:ivy")
    with pytest.raises(AccessDeniedError):
        require(two_orgs, _as(two_orgs, "boss"), P.MANAGE_USERS)


@pytest.mark.parametrize("name", ["", "a b", "x" * 96, "é", "a/b", "semi;colon"])
def test_usernames_are_validated(two_orgs: Haven, name: str) -> None:
    with pytest.raises(UsageError, match="1-95 characters"):
        add_user(two_orgs, name, "N", None, roles=["data-team"], actor="test")


def test_the_longest_username_fits_every_column(
    make_haven: Callable[..., Haven], control_backend: str
) -> None:
    haven = make_haven(control_backend, orgs=ORGS)
    name = "a" * 95  # "user:" + 95 characters fill the audit log's 100-character actor column
    add_user(haven, name, "Long", None, roles=["data-team"], actor="test")
    add_user(haven, "x.y-z_1@org", "Other", "P001", roles=["submitter"], actor=f"user:{name}")
    with pytest.raises(AccessDeniedError):
        require(haven, _as(haven, name), P.READ_IPS_IDENTIFIABLE)
    with pytest.raises(UsageError, match="already exists"):
        add_user(haven, name, "Again", None, actor="test")
    assert verify(haven.engine).ok


def test_refusals_are_audited_without_a_persons_data(two_orgs: Haven) -> None:
    _people(two_orgs)
    alice = _as(two_orgs, "alice")
    with pytest.raises(AccessDeniedError):
        require(two_orgs, alice, P.SUBMIT, "P002")
    with pytest.raises(AccessDeniedError):
        require(two_orgs, alice, P.RUN_PIPELINE)
    denied = _denials(two_orgs)
    assert [(e.actor, e.subject) for e in denied] == [("user:alice", "user:alice")] * 2
    assert '"org":"P002"' in denied[0].details and '"permission":"submit"' in denied[0].details
    assert '"org":"*"' in denied[1].details
    with two_orgs.sessions() as s:
        every = "".join(e.details + e.subject for e in s.scalars(select(AuditEntry)))
    assert "Alice" not in every and "Boss" not in every  # display names stay out of the log
    result = verify(two_orgs.engine)
    assert result.ok, result.reason
