"""People's access: users, their roles, what each role may do, and for which organisation.

SEC-1 (access strictly controlled), SHR-6 (identifiable IPS data seen only by the IPS team) and
SHR-7 (access granted for what the agreements permit, and reviewed). The table of roles and
permissions is data (``ROLE_PERMISSIONS``); ``docs/access.md`` shows it and a test keeps the two
in step.

Scoping. A grant is either for one organisation or for every organisation (scope ``None``).
Submitter and authority-viewer are *organisation roles*: their grants always name one
organisation. Every other role acts across organisations and is granted unscoped. A grant
allows a permission for organisation ``org`` when its role carries the permission and its scope
is ``None`` or ``org``; a permission that is not about one organisation is checked with
``org=None`` and so needs an unscoped grant.

Single-operator mode. Until the haven has two founders, the data-team users the bootstrap
owner registered, whoever runs the command line owns the haven folder (mode 0700), key file
included, and so already holds everything. A command that presents no token and names nobody
then acts as that OS account with every permission, as commands did before users existed
(except proposing and approving releases once a user exists: the owner made every account, so
is nobody's second person). The owner registers only data-team users meanwhile: the two-person
rule needs two people independent of each other from the start, and every account a user
makes descends from one founder. The second founder ends the mode for good.

Authentication. Once the mode is over, naming a user proves nothing: ``acting_user`` acts for
a person only when they present one of their personal tokens or type their password
(``access.auth``). Independence (``independent``): whoever creates an account may hold its
first credential, so an account is not independent of its creators (``User.created_by``,
followed back), nor of the other accounts a registered user among them made (siblings,
cousins); the bootstrap owner is no such shared creator. Nobody grants a role to any of their
own creators; a granter not independent of the grantee gives only what they hold; the
privileged roles (ips-team, auditor) come only from someone independent of the grantee; and
auditor is never held with data-team (the audit log's signing key is not the data team's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn

from carehaven import clock
from carehaven.access.permissions import Permission as Permission
from carehaven.control.kinds import Role
from carehaven.errors import AccessDeniedError, NotFoundError, UsageError
from carehaven.haven import Haven

# Who is acting and whether they may is read with plain SQL (``Haven.rows``), so a command
# starts without SQLAlchemy, the ORM models and the audit chain (issue 13 item 8, ADR 0015);
# the functions that change users and grants import them.
if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from carehaven.control.models import RoleGrant, User

#: Permissions that are about one organisation's data: checked with that organisation.
ORG_SCOPED: frozenset[Permission] = frozenset(
    {Permission.SUBMIT, Permission.READ_SUBMISSIONS, Permission.VIEW_DASHBOARD}
)

#: What each role may do. docs/access.md shows this table; tests/unit/test_access.py checks it.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.SUBMITTER: frozenset({Permission.SUBMIT, Permission.READ_SUBMISSIONS}),
        Role.DATA_TEAM: frozenset(
            {
                Permission.SUBMIT,
                Permission.READ_SUBMISSIONS,
                Permission.RUN_PIPELINE,
                Permission.EXTRACT,
                Permission.PUBLISH,
                Permission.MANAGE_SHARING,
                Permission.PROPOSE_RELEASE,
                Permission.APPROVE_RELEASE,
                Permission.READ_GOVERNANCE,
                Permission.PUBLISH_NOTICE,
                Permission.READ_AUDIT,
                Permission.MANAGE_USERS,
                Permission.VIEW_DASHBOARD,
            }
        ),
        Role.IPS_TEAM: frozenset({Permission.READ_IPS_IDENTIFIABLE}),
        Role.ANALYST: frozenset(),
        Role.AUTHORITY_VIEWER: frozenset({Permission.VIEW_DASHBOARD}),
        Role.AUDITOR: frozenset(
            {Permission.READ_AUDIT, Permission.READ_GOVERNANCE, Permission.SIGN_CHECKPOINT}
        ),
    }
)

#: Roles whose every permission is about one organisation: their grants name it.
ORG_ROLES: frozenset[Role] = frozenset(
    r for r, perms in ROLE_PERMISSIONS.items() if perms and perms <= ORG_SCOPED
)

#: What a permission lets a person do, for the sentence that refuses it.
DOES: Mapping[Permission, str] = MappingProxyType(
    {
        Permission.SUBMIT: "submit returns",
        Permission.READ_SUBMISSIONS: "read submissions, their reports and identity feedback",
        Permission.RUN_PIPELINE: "run the pipeline",
        Permission.EXTRACT: "write or scan extracts",
        Permission.PUBLISH: "publish statistical tables",
        Permission.MANAGE_SHARING: "manage recipients and agreements",
        Permission.PROPOSE_RELEASE: "propose releases",
        Permission.APPROVE_RELEASE: "approve releases",
        Permission.READ_GOVERNANCE: "read releases, the register and the access review",
        Permission.PUBLISH_NOTICE: "publish privacy notices",
        Permission.READ_IPS_IDENTIFIABLE: "see identifiable IPS data",
        Permission.READ_AUDIT: "read the audit log",
        Permission.SIGN_CHECKPOINT: "sign audit checkpoints",
        Permission.MANAGE_USERS: "manage users and roles",
        Permission.VIEW_DASHBOARD: "view the dashboard",
    }
)

#: The environment variable naming the user a command acts as (who must still authenticate).
USER_ENV = "CAREHAVEN_USER"
#: The audit log's actor column holds 100 characters, and a user's label is ``user:<name>``.
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,95}$")
#: What AccessDenied records as the permission when a person does not prove who they are.
AUTHENTICATE = "authenticate"
#: Actor.via in single-operator mode: nobody authenticates, the OS account owns the haven.
VIA_OWNER = "single-operator"
#: Single-operator mode lasts until the bootstrap owner has registered this many founders:
#: the two people a release's two-person rule needs, independent of each other from the start.
FOUNDERS = 2
#: Roles granted only by someone independent of the grantee (docs/access.md, "Privileged
#: roles"): what the data team lacks, identifiable IPS data (SHR-6) and the audit log's
#: signing key.
PRIVILEGED: frozenset[Role] = frozenset({Role.IPS_TEAM, Role.AUDITOR})
#: Roles nobody holds together, and why.
EXCLUSIVE: tuple[tuple[Role, Role, str], ...] = (
    (Role.AUDITOR, Role.DATA_TEAM,
     "the auditor signs the audit log's checkpoints, which witness what the data team did, so "
     "the signing key is not the data team's"),
)
#: What the owner may not do once the haven has a user: a release (or a disclosure decision)
#: needs two registered people, and the owner made every account, so is nobody's second person.
NOT_THE_OWNERS: frozenset[Permission] = frozenset(
    {Permission.PROPOSE_RELEASE, Permission.APPROVE_RELEASE}
)

_BY_NAME: Mapping[str, frozenset[Permission]] = {r.value: p for r, p in ROLE_PERMISSIONS.items()}


def permissions_of(role: str) -> frozenset[Permission]:
    """A role's permissions; an unknown role name has none."""
    return _BY_NAME.get(role, frozenset())


@dataclass(frozen=True)
class Actor:
    """Who is acting, with their unrevoked grants as they stood when the command started."""

    username: str
    org_code: str | None
    roles: tuple[tuple[str, str | None], ...]  # (role, organisation scope or None = every one)
    #: The haven has fewer than two founders and nobody presented a token or named themselves:
    #: the OS account acts as its owner.
    single_operator: bool
    #: How they proved it: "token:<id>", "password", or "single-operator" (nobody had to).
    via: str = VIA_OWNER

    @property
    def label(self) -> str:
        """What the audit log records as the actor."""
        return f"cli:{self.username}" if self.single_operator else f"user:{self.username}"

    @property
    def token_id(self) -> str | None:
        """The id of the token this person authenticated with, if it was one."""
        return self.via.removeprefix("token:") if self.via.startswith("token:") else None

    def grants_for(
        self, permission: Permission, org: str | None = None
    ) -> list[tuple[str, str | None]]:
        """The grants that allow ``permission`` for ``org`` (``None``: every organisation)."""
        return [
            (role, scope)
            for role, scope in self.roles
            if permission in permissions_of(role) and (scope is None or scope == org)
        ]

    def may(self, permission: Permission, org: str | None = None) -> bool:
        return self.single_operator or bool(self.grants_for(permission, org))


def _os_account(environ: Mapping[str, str]) -> str:
    return environ.get("USER") or environ.get("LOGNAME") or "operator"


def founders(session: Session) -> int:
    """How many founders the haven has: accounts that no registered user created (the
    bootstrap owner's, ``created_by`` a ``cli:`` label). Deactivating one or revoking its
    grants does not lower the count, so single-operator mode never comes back."""
    from sqlalchemy import text

    return int(session.scalar(text(FOUNDERS_SQL)) or 0)


#: How stale a grant's last-use stamp may get before using it writes it again.
STAMP_EVERY = timedelta(minutes=1)

#: ``founders``, as SQL run both in a transaction (above) and by ``acting_user`` (plain SQL).
FOUNDERS_SQL = "SELECT count(*) FROM users WHERE substr(created_by, 1, 5) <> 'user:'"


#: A user's unrevoked grants, oldest first.
GRANTS_SQL = ("SELECT role, org_code FROM role_grants WHERE username = :u AND revoked_at IS NULL "
              "ORDER BY id")


def _actor(haven: Haven, username: str, via: str) -> Actor | None:
    """The active user ``username`` with their unrevoked grants; None if no such user."""
    user = haven.rows.first("SELECT username, org_code, active FROM users WHERE username = :u",
                            {"u": username})
    if user is None or not user[2]:
        return None
    grants = haven.rows.fetch(GRANTS_SQL, {"u": username})
    return Actor(user[0], user[1], tuple((r, o) for r, o in grants), single_operator=False,
                 via=via)


#: How to authenticate, said whenever a command refuses for want of it.
HOW = (
    "set CAREHAVEN_TOKEN to one of your personal tokens (make one with 'carehaven auth token "
    "create'), or run the command in a terminal to be asked for your password."
)


def acting_user(
    haven: Haven,
    explicit: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    password: Callable[[str], str] | None = None,
) -> Actor:
    """Who is acting, proved (docs/access.md, "Acting as a user").

    While the haven has no users, the OS account acts as its owner with every permission
    (single-operator mode), whatever name is given. Until it has two founders (``founders``),
    so does a command that presents no token and names nobody (neither ``explicit``, a
    command's --as, nor $CAREHAVEN_USER); one that does authenticates as below. Once it has
    two, a command acts for a person only when they authenticate: with the personal token in
    $CAREHAVEN_TOKEN (``explicit`` or $CAREHAVEN_USER, when given, must name the token's own
    user), else with the password of ``explicit``, else $CAREHAVEN_USER, else the OS account,
    asked by ``password(prompt)``. ``password`` defaults to a prompt on the terminal when
    standard input is one; the command line never passes it, in-process callers (tests) may.
    Without a token or a way to ask, the command is refused. Every refusal is audited
    (AccessDenied, permission ``authenticate``) and raises AccessDeniedError (exit 13).
    """
    env = os.environ if environ is None else environ
    account = _os_account(env)
    if not _has_users(haven):
        return Actor(account, None, (), single_operator=True)
    found = haven.rows.first(FOUNDERS_SQL)
    founded = int(found[0] if found else 0) >= FOUNDERS
    from carehaven.access import auth  # argon2 only where someone must authenticate

    os_label = f"cli:{account}"
    named = explicit or env.get(USER_ENV) or None
    presented = (env.get(auth.TOKEN_ENV) or "").strip()
    if not founded and not presented and named is None:
        return Actor(account, None, (), single_operator=True)
    if named is not None and USERNAME.fullmatch(named) is None:
        raise refuse_authentication(haven, named, os_label, "The name given is not a valid "
                                    "username.")
    if presented:
        return _by_token(haven, presented, named, account)
    name = named or account
    ask = password if password is not None else auth.terminal_prompt()
    if ask is None:
        owner = "" if founded else (
            " (Until the haven has two founders, a command that names nobody acts as "
            "its owner.)")
        raise refuse_authentication(
            haven, name, os_label,
            "This haven has registered users, so a command acts for a person only when they "
            f"prove who they are; naming a user (--as, {USER_ENV}) is not enough: {HOW}{owner}",
        )
    if USERNAME.fullmatch(name) is None:
        raise refuse_authentication(haven, name, os_label, "The OS account's name is not a "
                                    f"valid username; name yourself with --as or {USER_ENV}.")
    # Named for carehaven, so that nobody mistakes it for the system's (sudo's) prompt.
    typed = ask(f"carehaven password for {name}: ")
    with haven.stamping() as session:
        user = auth.check_password(session, name, typed)
    acting = None if user is None else _actor(haven, user.username, auth.VIA_PASSWORD)
    if acting is None:
        raise refuse_authentication(
            haven, name, os_label,
            f"Authentication failed for {name}: the password is wrong, or {name} is not an "
            "active user with a password (one who has only a personal token sets "
            "CAREHAVEN_TOKEN).",
        )
    return acting


def _by_token(haven: Haven, presented: str, named: str | None, account: str) -> Actor:
    from carehaven.access.auth import Refusal, check_token

    check = check_token(haven, presented)
    acting = None
    if check.refusal is None and check.username is not None:
        acting = _actor(haven, check.username, f"token:{check.token_id}")
    if acting is not None and named is not None and named != acting.username:
        # A proved holder of one person's token tried to act as another: theirs is the entry.
        raise refuse_authentication(
            haven, named, acting.label,
            f"CAREHAVEN_TOKEN belongs to another user, not {named}: a token acts only for its "
            f"own user. Leave out --as and {USER_ENV}, or use {named}'s own token.",
        )
    if acting is not None:
        return acting
    if check.refusal is Refusal.REVOKED:
        why = "CAREHAVEN_TOKEN has been revoked"
    elif check.refusal is Refusal.EXPIRED and check.expires_at is not None:
        why = f"CAREHAVEN_TOKEN expired on {check.expires_at.date().isoformat()}"
    elif check.refusal is Refusal.INACTIVE:
        why = "CAREHAVEN_TOKEN belongs to a user who is no longer active in this haven"
    else:
        why = "CAREHAVEN_TOKEN is not a valid token for this haven (mistyped, or another haven's)"
    claimed = check.username or named
    raise refuse_authentication(haven, claimed, f"cli:{account}", f"{why}. To act as yourself, "
                                f"{HOW}")


def refuse_authentication(
    haven: Haven, claimed: str | None, actor: str, message: str
) -> AccessDeniedError:
    """Record a failed authentication (AccessDenied, permission ``authenticate``; the claimed
    name only if it is a valid username; never a token or a password) and return the error to
    raise (exit 13)."""
    from carehaven.audit import record
    from carehaven.audit.events import AccessDenied

    who = "(unknown)" if claimed is None else (
        claimed if USERNAME.fullmatch(claimed) else "(invalid name)")
    with haven.transaction() as session:
        record(
            session,
            AccessDenied(
                username=who,
                permission=AUTHENTICATE, org="*",
            ),
            actor=actor,
        )
    return AccessDeniedError(message)


# -- independence: nobody acts as their own second person ---------------------------------------


def _label_of(name: str) -> str:
    return name if name.startswith(("user:", "cli:")) else f"user:{name}"


def creators(session: Session, username: str) -> list[str]:
    """Who created ``username``'s account, then who created theirs, and so on, as audit
    labels (``user:<name>``); the chain ends with the bootstrap owner (``cli:<OS account>``)
    or whatever else created the first account. Empty for a name that is not a user."""
    from carehaven.control.models import User

    chain: list[str] = []
    start = username.removeprefix("user:")
    current: str | None = start
    while current is not None:
        user = session.get(User, current)
        if user is None or user.created_by in chain or user.created_by == f"user:{start}":
            break  # the end, or a loop no command can make
        chain.append(user.created_by)
        current = user.created_by.removeprefix("user:") if user.created_by.startswith(
            "user:") else None
    return chain


def independent(session_or_haven: Session | Haven, a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are two people as far as the haven can tell. Whoever creates an
    account may hold its first password or token, so they are not when ``a`` and ``b`` are the
    same, when either is among the other's creators (followed through ``User.created_by``),
    or when they share a creator who is a registered user (siblings and cousins: one person
    may hold both first credentials). The bootstrap owner (``cli:<OS account>``) is no shared
    creator: the founders it registers are independent of each other, and so are the accounts
    made under different founders. Names are usernames or audit labels (``user:<name>``,
    ``cli:<OS account>``); a release's approver and its proposer, for example, must be
    independent, and so must whoever grants a privileged role and its grantee."""
    if isinstance(session_or_haven, Haven):
        with session_or_haven.sessions() as session:
            return independent(session, a, b)
    return _tie(session_or_haven, a, b) is None


def _tie(session: Session, a: str, b: str) -> str | None:
    """What binds ``a`` to ``b``, said as ``a`` would be told it; None when they are
    independent (see ``independent``)."""
    la, lb = _label_of(a), _label_of(b)
    if la == lb:
        return "they are the same account"
    of_a, of_b = creators(session, la), creators(session, lb)
    if la in of_b:
        return (f"{_name(la)} created the account of {_name(lb)} (directly or through "
                "accounts they created)")
    if lb in of_a:
        return (f"{_name(lb)} created the account of {_name(la)} (directly or through "
                "accounts they created)")
    shared = next((c for c in of_a if c.startswith("user:") and c in of_b), None)
    if shared is not None:
        return (f"{_name(la)} and {_name(lb)} were both made by {_name(shared)} (directly or "
                "through accounts they created), who may hold both first credentials")
    return None


def _name(label: str) -> str:
    return label.removeprefix("user:")


def _scope_is(scope: str | None) -> ColumnElement[bool]:
    from carehaven.control.models import RoleGrant

    return RoleGrant.org_code.is_(None) if scope is None else RoleGrant.org_code == scope


def _touch(haven: Haven, actor: Actor, grants: Iterable[tuple[str, str | None]]) -> int:
    """Stamp the grants' last_used_at (for the access review); how many are still unrevoked.

    A grant stamped less than ``STAMP_EVERY`` ago is only counted, not written again: the
    access review reads days, and a web page must not be a write to the control plane
    each time it is asked for (SQLite runs writes one at a time)."""
    touched = 0
    now = clock.now()
    stale = haven.rows.stamp(now - STAMP_EVERY)
    for role, scope in grants:
        where = ("username = :u AND role = :r AND revoked_at IS NULL AND "
                 + ("org_code IS NULL" if scope is None else "org_code = :o"))
        params = {"u": actor.username, "r": role, "o": scope}
        found = haven.rows.first(
            "SELECT count(*), sum(CASE WHEN last_used_at IS NULL OR last_used_at < :stale "  # noqa: S608
            f"THEN 1 ELSE 0 END) FROM role_grants WHERE {where}", {**params, "stale": stale})
        held, due = (int(found[0] or 0), int(found[1] or 0)) if found else (0, 0)
        if held and due and not haven.read_only:
            held = haven.rows.write(
                f"UPDATE role_grants SET last_used_at = :now WHERE {where}",  # noqa: S608
                {**params, "now": haven.rows.stamp(now)})
        touched += held
    return touched


def _deny(
    haven: Haven, actor: Actor, permission: str, org: str | None, message: str,
    *, conceal: bool = False,
) -> NoReturn:
    if not haven.read_only:  # a read-only haven can record nothing; the refusal still stands
        from carehaven.audit import record
        from carehaven.audit.events import AccessDenied

        with haven.transaction() as session:
            record(
                session,
                AccessDenied(username=actor.username, permission=permission, org=org or "*"),
                actor=actor.label,
            )
    raise AccessDeniedError(message, conceal=conceal)


def refusal(actor: Actor, permission: Permission, org: str | None = None) -> str:
    """The sentence that refuses ``permission``: who, what, for which organisation."""
    holders = ", ".join(r.value for r, p in ROLE_PERMISSIONS.items() if permission in p)
    if org is not None:
        where = f" for organisation {org}"
    elif permission in ORG_SCOPED:
        where = " for every organisation"
    else:
        where = ""
    return (
        f"User {actor.username} may not {DOES[permission]}{where} (the {permission.value} "
        f"permission). Roles that carry it: {holders or 'none'}; a user who manages users "
        "can grant one with 'carehaven users grant'."
    )


def require(
    haven: Haven,
    actor: Actor,
    permission: Permission,
    org: str | None = None,
    *,
    message: str | None = None,
) -> None:
    """Allow, or record AccessDenied and raise AccessDeniedError (exit 13).

    Organisation-scoped permissions pass the organisation concerned (``None`` asks for every
    organisation, so needs an unscoped grant); the others pass ``None``. On success the
    narrowest grant that allowed it gets its last_used_at stamped. ``message`` replaces the
    refusal sentence, e.g. to say no more than "not found" would. In single-operator mode
    everything is allowed, except ``NOT_THE_OWNERS`` once the haven has a user.
    """
    if actor.single_operator:
        if permission in NOT_THE_OWNERS and _has_users(haven):
            _deny(haven, actor, permission.value, org, (
                f"The haven's owner ({actor.label}, single-operator mode) may not "
                f"{DOES[permission]} once the haven has users: it registered every account, so "
                "is independent of nobody, and a release or a disclosure needs two people "
                "(SHR-12). A data-team user does it, with their own token or password."))
        return
    grants = actor.grants_for(permission, org)
    # The narrowest grant first: one scoped to the organisation, then the role doing least.
    grants.sort(key=lambda g: (g[1] is None, len(permissions_of(g[0])), g[0]))
    if grants and _touch(haven, actor, grants[:1]):
        return
    # A caller's own ``message`` says no more than "not found" would; the web answers it so
    # (404), so that nobody learns another organisation's submission exists (issue 14 part 4).
    _deny(haven, actor, permission.value, org, message or refusal(actor, permission, org),
          conceal=message is not None)


def _has_users(haven: Haven) -> bool:
    return haven.rows.first("SELECT username FROM users LIMIT 1") is not None


def visible_orgs(actor: Actor, permission: Permission) -> set[str] | None:
    """The organisations ``permission`` reaches for ``actor``: None means every one."""
    if actor.single_operator:
        return None
    scopes = [scope for role, scope in actor.roles if permission in permissions_of(role)]
    if any(scope is None for scope in scopes):
        return None
    return {s for s in scopes if s is not None}


def require_visible(haven: Haven, actor: Actor, permission: Permission) -> set[str] | None:
    """For a listing: the organisations to show (None: all), refusing if there are none."""
    orgs = visible_orgs(actor, permission)
    if orgs is None:
        require(haven, actor, permission)
        return None
    grants = [g for g in actor.roles if g[1] in orgs and permission in permissions_of(g[0])]
    if not grants or not _touch(haven, actor, grants):
        _deny(haven, actor, permission.value, None, refusal(actor, permission))
    return orgs


# -- managing users ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantView:
    role: str
    org_code: str | None
    granted_at: datetime
    granted_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None



@dataclass(frozen=True)
class UserView:
    username: str
    display_name: str
    org_code: str | None
    active: bool
    created_at: datetime
    created_by: str
    grants: tuple[GrantView, ...]



def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UsageError(
            f"Unknown role {role!r}; use one of: {', '.join(r.value for r in Role)}."
        ) from None


def _scope(haven: Haven, role: Role, org_code: str | None, user_org: str | None) -> str | None:
    """The organisation a grant of ``role`` is for: org roles need one, the others take none."""
    if role in ORG_ROLES:
        scope = org_code or user_org
        if scope is None:
            raise UsageError(
                f"A {role.value} grant is for one organisation; name it with --org."
            )
        haven.organisation(scope)  # exit 5 when it is not registered
        return scope
    if org_code is not None:
        raise UsageError(
            f"The {role.value} role acts across organisations; grant it without --org."
        )
    return None


def _add_grant(
    session: Session, username: str, role: Role, scope: str | None, actor: str
) -> RoleGrant:
    from sqlalchemy import select

    from carehaven.audit import record
    from carehaven.audit.events import RoleGranted
    from carehaven.control.models import RoleGrant

    held = session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.username == username,
            RoleGrant.role == role.value,
            _scope_is(scope),
            RoleGrant.revoked_at.is_(None),
        )
    )
    if held is not None:
        where = f" for {scope}" if scope else ""
        raise UsageError(f"{username} already holds {role.value}{where}.")
    row = RoleGrant(
        username=username, role=role.value, org_code=scope, granted_at=clock.now(),
        granted_by=actor,
    )
    session.add(row)
    record(
        session, RoleGranted(username=username, role=role.value, org=scope or "*"), actor=actor
    )
    session.flush()
    return row


def add_user(
    haven: Haven,
    username: str,
    display_name: str,
    org_code: str | None,
    *,
    actor: str,
    roles: Iterable[str] = (),
    password_hash: str | None = None,
) -> User:
    """Register a person, with ``roles`` granted in the same transaction.

    Organisation roles (submitter, authority-viewer) are granted for ``org_code``; the others
    for every organisation. Until the haven has two founders (``founders``), the bootstrap
    owner (a ``cli:`` actor) registers only data-team users: they are the founders, the two
    people independent of each other from the start that the two-person rule needs. The
    account's creator is never independent of it, so nobody gives a new account a privileged
    role (ips-team, auditor) when adding it; auditor never comes with data-team; and a user
    who creates an account gives it only roles whose every permission they hold themselves
    (see ``grant``). Refusals of a role are audited (exit 13). ``password_hash``
    (``auth.hash_password``) is the initial password's.
    """
    from carehaven.audit import record
    from carehaven.audit.events import UserAdded
    from carehaven.control.models import User

    if USERNAME.fullmatch(username) is None:
        raise UsageError(
            "A username is 1-95 characters: letters, digits and . _ - @ (no spaces)."
        )
    display_name = display_name.strip()
    if not display_name or len(display_name) > 200 or not display_name.isprintable():
        raise UsageError("A user's --name is 1-200 printable characters.")
    wanted = list(dict.fromkeys(_role(r) for r in roles))
    if org_code is not None:
        org_code = haven.organisation(org_code).code  # exit 5 when it is not registered
    scopes = [(role, _scope(haven, role, None, org_code)) for role in wanted]
    refusal = _exclusive(username, wanted)
    privileged = [r.value for r in wanted if r in PRIVILEGED]
    if refusal is None and privileged and actor.startswith(("user:", "cli:")):
        # In-process set-up under another label (tests, migrations) is trusted like the owner.
        refusal = (
            f"The {' and '.join(privileged)} role{'s' if len(privileged) > 1 else ''} cannot "
            "be given to a new account by whoever adds it: the one who adds an account may "
            "hold its first password or token, so is not independent of it. Add the account "
            "without it; then a user who may manage users and is independent of the account "
            f"grants it ('carehaven users grant {username} {privileged[0]}')."
        )
    if refusal is None:
        with haven.sessions() as session:
            # The new account's creators: ``actor`` and whoever created ``actor``.
            refusal = next((why for role, scope in scopes
                            if (why := _beyond_own(session, actor, username, role, scope))),
                           None)
    if refusal is not None:
        _refuse_grant(haven, username, scopes[0][1] if scopes else None, actor, refusal)
    with haven.transaction() as session:
        if (actor.startswith("cli:") and Role.DATA_TEAM not in wanted
                and founders(session) < FOUNDERS):
            raise UsageError(
                "Until the haven has two founders, the haven's owner registers only "
                "data-team users (--role data-team): the two-person rule needs two people "
                "independent of each other from the start, and everyone added later descends "
                "from one of them. Once the second founder is added, commands act only as "
                "users who authenticate, and the founders add everyone else."
            )
        if session.get(User, username) is not None:
            raise UsageError(f"User {username} already exists.")
        user = User(
            username=username, display_name=display_name, org_code=org_code, active=True,
            created_at=clock.now(), created_by=actor, password_hash=password_hash,
        )
        session.add(user)
        session.flush()
        record(session, UserAdded(username=username, org=org_code or ""), actor=actor)
        for role, scope in scopes:
            _add_grant(session, username, role, scope, actor)
    return user


def _active_user(session: Session, username: str) -> User:
    from carehaven.control.models import User

    user = session.get(User, username) if USERNAME.fullmatch(username) else None
    if user is None or not user.active:
        raise NotFoundError(f"There is no active user {username} in this haven.")
    return user


def _holds(session: Session, username: str, role: Role, scope: str | None) -> bool:
    """Whether ``username`` may already do everything ``role`` for ``scope`` would allow."""
    from carehaven.control.models import User

    user = session.get(User, username)
    if user is None or not user.active:
        return False
    from sqlalchemy import text

    grants = tuple((r, o) for r, o in session.execute(text(GRANTS_SQL), {"u": username}))
    held = Actor(username, user.org_code, grants, single_operator=False, via="")
    return all(held.grants_for(p, scope) for p in ROLE_PERMISSIONS[role])


def _beyond_own(
    session: Session, actor: str, username: str, role: Role, scope: str | None,
    tie: str | None = None,
) -> str | None:
    """Why ``actor``, who is not independent of ``username`` (``tie`` says how; by default,
    as one of their creators), may not give them ``role``: it carries a permission ``actor``
    lacks. One who created an account, or made it through a shared creator, may hold its
    first password or token, so such a grant could widen their own powers. None when nothing
    stands in the way."""
    if not actor.startswith("user:"):
        return None  # the bootstrap owner already holds everything
    granter = actor.removeprefix("user:")
    if _holds(session, granter, role, scope):
        return None
    why = tie or (f"{granter} created the account of {username} (directly or through accounts "
                  "they created)")
    return (
        f"{why}, so {granter} may give it only what {granter} may do; the {role.value} role "
        f"carries more. Another user who may manage users, independent of {username}, must "
        "grant it."
    )


def _exclusive(username: str, roles: Iterable[Role], held: Iterable[str] = ()) -> str | None:
    """Why ``username`` may not hold ``roles`` (with the roles they ``held``) together."""
    together = {r.value for r in roles} | set(held)
    for one, other, why in EXCLUSIVE:
        if one.value in together and other.value in together:
            return (
                f"Nobody holds both {one.value} and {other.value}: {why}. {username} would hold "
                "both; revoke one first, or give the other to someone else."
            )
    return None


def _refuse_grant(
    haven: Haven, username: str, scope: str | None, actor: str, message: str
) -> NoReturn:
    from carehaven.audit import record
    from carehaven.audit.events import AccessDenied

    with haven.transaction() as session:
        record(
            session,
            AccessDenied(username=username, permission=Permission.MANAGE_USERS.value,
                         org=scope or "*"),
            actor=actor,
        )
    raise AccessDeniedError(message)


def grant(
    haven: Haven, username: str, role: str, org_code: str | None, *, actor: str
) -> RoleGrant:
    """Grant ``role`` (for ``org_code``; an organisation role defaults to the user's own).

    Nobody grants a role to themselves, nor through an account they made: a grant from
    ``actor`` to one of ``actor``'s creators (followed through ``User.created_by``) is refused,
    and a granter who is not independent of the grantee (``independent``: one of its creators,
    or made by the same registered user) gives only roles whose every permission they hold
    themselves. The privileged roles (``PRIVILEGED``: the IPS team's access, SHR-6, and the
    auditor's) come only from someone independent of the grantee, and auditor is never held
    with data-team (``EXCLUSIVE``). Refusals are audited (exit 13).
    """
    from sqlalchemy import select

    from carehaven.control.models import RoleGrant

    wanted = _role(role)
    with haven.sessions() as session:
        user_org = _active_user(session, username).org_code
    scope = _scope(haven, wanted, org_code, user_org)
    refusal: str | None = None
    if actor == f"user:{username}":
        refusal = "Nobody may grant a role to themselves; another user who may manage users must."
    else:
        with haven.sessions() as session:
            held = session.scalars(
                select(RoleGrant.role).where(RoleGrant.username == username,
                                             RoleGrant.revoked_at.is_(None))
            ).all()
            tie = _tie(session, actor, username)
            exclusive = _exclusive(username, [wanted], held)
            if f"user:{username}" in creators(session, actor):
                refusal = (
                    f"{username} created your account (directly or through accounts they "
                    f"created), so a grant from you to {username} could be their own doing; "
                    f"another user who may manage users, independent of {username}, must grant "
                    "it."
                )
            elif exclusive is not None:
                refusal = exclusive
            elif tie is not None and wanted in PRIVILEGED:
                refusal = (
                    f"The {wanted.value} role is granted only by someone independent of its "
                    f"holder, and {tie}: one person could be granting it to themselves. "
                    f"Another user who may manage users, independent of {username}, must grant "
                    "it."
                )
            elif tie is not None:
                refusal = _beyond_own(session, actor, username, wanted, scope, tie)
    if refusal is not None:
        _refuse_grant(haven, username, scope, actor, refusal)
    with haven.transaction() as session:
        _active_user(session, username)
        return _add_grant(session, username, wanted, scope, actor)


def revoke(haven: Haven, username: str, role: str, org_code: str | None, *, actor: str) -> None:
    """Revoke an unrevoked grant. The last data-team grant of an active user stays: without it
    nobody could manage users any more."""
    from sqlalchemy import select

    from carehaven.audit import record
    from carehaven.audit.events import RoleRevoked
    from carehaven.control.models import RoleGrant, User

    wanted = _role(role)
    with haven.sessions() as session:
        user = session.get(User, username) if USERNAME.fullmatch(username) else None
        if user is None:
            raise NotFoundError(f"There is no user {username} in this haven.")
        user_org = user.org_code
    scope = (org_code or user_org) if wanted in ORG_ROLES else org_code
    where = f" for {scope}" if scope else ""
    with haven.transaction() as session:
        row = session.scalar(
            select(RoleGrant).where(
                RoleGrant.username == username,
                RoleGrant.role == wanted.value,
                _scope_is(scope),
                RoleGrant.revoked_at.is_(None),
            )
        )
        if row is None:
            raise NotFoundError(f"{username} holds no {wanted.value} grant{where} to revoke.")
        if wanted is Role.DATA_TEAM and scope is None:
            others = session.scalar(
                select(RoleGrant.id)
                .join(User, User.username == RoleGrant.username)
                .where(
                    RoleGrant.role == Role.DATA_TEAM.value,
                    RoleGrant.org_code.is_(None),
                    RoleGrant.revoked_at.is_(None),
                    RoleGrant.id != row.id,
                    User.active.is_(True),
                )
                .limit(1)
            )
            if others is None:
                raise UsageError(
                    f"{username} holds the last data-team grant; grant data-team to someone "
                    "else first, or nobody could manage users any more."
                )
        row.revoked_at = clock.now()
        record(
            session,
            RoleRevoked(username=username, role=wanted.value, org=scope or "*"),
            actor=actor,
        )
    from carehaven.access.signin import revoke_sessions

    # A browser signed in before the revocation must sign in again (issue 14 part 3).
    revoke_sessions(haven, username, actor=actor, why="role-revoked")


def users(haven: Haven, *, include_revoked: bool = False) -> list[UserView]:
    """Every user with their grants (unrevoked ones, or all with ``include_revoked``)."""
    from sqlalchemy import select

    from carehaven.control.models import RoleGrant, User

    with haven.sessions() as session:
        people = list(session.scalars(select(User).order_by(User.username)))
        query = select(RoleGrant).order_by(RoleGrant.username, RoleGrant.id)
        if not include_revoked:
            query = query.where(RoleGrant.revoked_at.is_(None))
        by_user: dict[str, list[GrantView]] = {}
        for g in session.scalars(query):
            by_user.setdefault(g.username, []).append(
                GrantView(g.role, g.org_code, g.granted_at, g.granted_by, g.last_used_at,
                          g.revoked_at)
            )
    return [
        UserView(u.username, u.display_name, u.org_code, u.active, u.created_at, u.created_by,
                 tuple(by_user.get(u.username, ())))
        for u in people
    ]


__all__ = [
    "AUTHENTICATE",
    "EXCLUSIVE",
    "FOUNDERS",
    "NOT_THE_OWNERS",
    "ORG_ROLES",
    "ORG_SCOPED",
    "PRIVILEGED",
    "ROLE_PERMISSIONS",
    "USER_ENV",
    "Actor",
    "GrantView",
    "Permission",
    "UserView",
    "acting_user",
    "add_user",
    "creators",
    "founders",
    "grant",
    "independent",
    "permissions_of",
    "refusal",
    "refuse_authentication",
    "require",
    "require_visible",
    "revoke",
    "users",
    "visible_orgs",
]
