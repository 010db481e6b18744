"""Signing in to the web portal: passwords, server-side sessions, throttling and lockout
(issue 14 part 3; docs/web.md, "Sessions and sign-in").

A session is a random cookie of 32 bytes; the control plane keeps only its SHA-256
(``web_sessions.id``), so a copy of the database opens no session. A session ends when its
user signs out, when it has not been used for ``session_idle_minutes``, when it is
``session_absolute_hours`` old, and when its user's password changes, a role is revoked or an
administrator unlocks the account. Each carries its own CSRF token, which every form and every
unsafe API call made with the cookie must echo.

Sign-in runs one argon2 verify whatever happens (``auth.check_password`` verifies a dummy hash
for an unknown name), and every refusal says the same sentence, so neither the answer nor its
time tells whether a name is a user's or an account is locked. Attempts are kept in
``sign_in_attempts`` with the name typed as an HMAC under a key derived from the haven's master
key (a password typed into the name box is never kept); too many failures for one name or from
one address in ``WINDOW`` refuse further tries for a while (throttling), and
``Settings.sign_in_lockout`` wrong passwords in a row lock the account until someone who
manages users unlocks it. Every sign-in, failure, lockout, unlock and sign-out is audited,
never with a password, and a failure for an unknown name with no name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from carehaven import clock
from carehaven.access import auth
from carehaven.access.users import USERNAME, Actor, _actor
from carehaven.errors import AccessDeniedError, ExitCode, NotFoundError, UsageError
from carehaven.haven import Haven

#: The cookie's name over TLS: ``__Host-`` makes the browser insist on Secure, path / and no
#: Domain, so no other site under the same parent domain can set it.
SECURE_COOKIE = "__Host-carehaven"
#: The cookie's name over plain http on the developer's own machine.
PLAIN_COOKIE = "carehaven"
#: How far back throttling counts failures.
WINDOW = timedelta(minutes=15)
#: Failures for one name within WINDOW after which that name may not try again until they age.
ACCOUNT_THROTTLE = 5
#: Failures from one address within WINDOW after which it may not try again until they age.
ADDRESS_THROTTLE = 30
#: What every refused sign-in says: nothing about which part was wrong.
REFUSED = ("The username or password is not right, or the account is locked after too many "
           "wrong passwords (someone who manages users can unlock it).")
THROTTLED = ("Too many sign-in attempts; wait 15 minutes and try again (nothing was checked, "
             "so this attempt did not count against the account).")
#: How stale a session's last-use stamp may get before a request writes it again.
STAMP_EVERY = timedelta(minutes=1)
#: Audit entries name a session by this many characters of its id (a hash of the cookie).
SESSION_LABEL = 12


class SignInRefusedError(AccessDeniedError):
    """A sign-in refused: answered 401, the same sentence whatever the reason."""

    @property
    def http_status(self) -> int:
        return 401

    @property
    def code(self) -> str:
        return "sign_in_refused"


class SignInThrottledError(AccessDeniedError):
    """Too many attempts for a name or from an address: answered 429."""

    @property
    def http_status(self) -> int:
        return 429

    @property
    def code(self) -> str:
        return "too_many_attempts"


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: ``cookie`` is the only copy of its secret."""

    cookie: str
    session_id: str
    csrf: str
    username: str
    expires_at: datetime


@dataclass(frozen=True)
class WebSession:
    """An open session, as a request sees it: who, and the CSRF token its forms must echo."""

    session_id: str
    actor: Actor
    csrf: str
    expires_at: datetime

    @property
    def label(self) -> str:
        return self.session_id[:SESSION_LABEL]


def session_id_of(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _account(haven: Haven, typed: str) -> str:
    """The HMAC of the name typed (lower-cased), the key derived from the haven's master key."""
    key = haven.master_key.derive("web-sign-in-account")
    return hmac.new(key, typed.strip().lower().encode(), hashlib.sha256).hexdigest()


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _failures_since(haven: Haven, column: str, value: str, since: datetime) -> int:
    from sqlalchemy import func, select

    from carehaven.control.models import SignInAttempt

    with haven.sessions() as session:
        found = session.scalar(
            select(func.count()).select_from(SignInAttempt).where(
                getattr(SignInAttempt, column) == value, SignInAttempt.at >= since,
                SignInAttempt.succeeded.is_(False))
        )
    return int(found or 0)


def sign_in(haven: Haven, username: str, password: str, *, address: str) -> SignedIn:
    """Open a session for ``username`` when ``password`` is theirs and the account is neither
    locked nor throttled; else raise SignInRefusedError (401) or SignInThrottledError (429)."""
    from carehaven.audit import record
    from carehaven.audit.events import AccountLocked, SignInFailed
    from carehaven.audit.events import SignedIn as SignedInEvent
    from carehaven.control.models import SignInAttempt, User
    from carehaven.control.models import WebSession as SessionRow

    settings = haven.settings
    now = clock.now()
    address = address[:64]
    account = _account(haven, username)
    valid_name = USERNAME.fullmatch(username) is not None
    since = now - WINDOW
    if (_failures_since(haven, "account", account, since) >= ACCOUNT_THROTTLE
            or _failures_since(haven, "address", address, since) >= ADDRESS_THROTTLE):
        with haven.transaction() as session:
            exists = valid_name and session.get(User, username) is not None
            record(session, SignInFailed(username=username if exists else "(unknown)",
                                         reason="throttled"), actor="web:anonymous")
        raise SignInThrottledError(THROTTLED)
    with haven.transaction() as session:
        user = auth.check_password(session, username, password) if valid_name else None
        if not valid_name:
            auth.verify_secret(None, password)  # the same time as for any other name
        known = session.get(User, username) if valid_name else None
        locked = user is not None and user.locked_at is not None
        if user is not None and not locked:
            cookie = secrets.token_urlsafe(32)
            sid = session_id_of(cookie)
            expires = now + timedelta(hours=settings.session_absolute_hours)
            user.failed_sign_ins = 0
            session.add(SessionRow(id=sid, username=user.username, csrf=secrets.token_urlsafe(32),
                                   created_at=now, last_seen_at=now, expires_at=expires,
                                   address=address))
            session.add(SignInAttempt(account=account, address=address, at=now, succeeded=True))
            record(session, SignedInEvent(username=user.username, session=sid[:SESSION_LABEL]),
                   actor=f"user:{user.username}")
            row = session.get(SessionRow, sid)
            assert row is not None
            return SignedIn(cookie, sid, row.csrf, user.username, expires)
        session.add(SignInAttempt(account=account, address=address, at=now, succeeded=False))
        if known is None:
            record(session, SignInFailed(username="(unknown)", reason="unknown-user"),
                   actor="web:anonymous")
        elif not known.active:
            record(session, SignInFailed(username=known.username, reason="inactive"),
                   actor="web:anonymous")
        elif locked or known.locked_at is not None:
            record(session, SignInFailed(username=known.username, reason="locked"),
                   actor="web:anonymous")
        else:
            known.failed_sign_ins = (known.failed_sign_ins or 0) + 1
            record(session, SignInFailed(username=known.username, reason="wrong-password"),
                   actor="web:anonymous")
            if known.failed_sign_ins >= settings.sign_in_lockout:
                known.locked_at = now
                record(session, AccountLocked(username=known.username,
                                              failures=known.failed_sign_ins),
                       actor="web:anonymous")
    raise SignInRefusedError(REFUSED)


def session_of(haven: Haven, cookie: str) -> WebSession | None:
    """The open session a cookie names; None when there is none, or it was revoked, or either
    timeout has passed (it is then revoked), or its user is inactive.

    Read with plain SQL; its last use is written only when it is ``STAMP_EVERY`` old, so a
    signed-in page is not a write to the control plane each time (SQLite runs writes one at a
    time: bench_web.py), while the idle timeout still counts from within a minute of the
    last request."""
    from carehaven.control.rows import parse_stamp

    if not cookie or len(cookie) > 200:
        return None
    sid = session_id_of(cookie)
    now = clock.now()
    idle = timedelta(minutes=haven.settings.session_idle_minutes)
    found = haven.rows.first(
        "SELECT username, csrf, last_seen_at, expires_at, revoked_at FROM web_sessions "
        "WHERE id = :id", {"id": sid})
    if found is None or found[4] is not None:
        return None
    username, csrf = str(found[0]), str(found[1])
    seen, expires = parse_stamp(found[2]), parse_stamp(found[3])
    assert seen is not None and expires is not None
    if now >= expires or now - seen >= idle:
        with haven.rows.transaction() as tx:
            tx.run("UPDATE web_sessions SET revoked_at = :now WHERE id = :id AND "
                   "revoked_at IS NULL", {"now": tx.stamp(now), "id": sid})
        return None
    if now - seen >= STAMP_EVERY:
        with haven.rows.transaction() as tx:
            tx.run("UPDATE web_sessions SET last_seen_at = :now WHERE id = :id",
                   {"now": tx.stamp(now), "id": sid})
    actor = _actor(haven, username, via=f"session:{sid[:SESSION_LABEL]}")
    if actor is None:
        return None
    return WebSession(sid, actor, csrf, expires)


def check_csrf(web: WebSession, presented: str | None) -> bool:
    """Whether ``presented`` is this session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(web.csrf, str(presented))


def sign_out(haven: Haven, web: WebSession) -> None:
    """End the session server-side (its cookie opens nothing afterwards), audited."""
    from carehaven.audit import record
    from carehaven.audit.events import SignedOut
    from carehaven.control.models import WebSession as SessionRow

    with haven.transaction() as session:
        row = session.get(SessionRow, web.session_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = clock.now()
            record(session, SignedOut(username=row.username, session=web.label),
                   actor=web.actor.label)


def revoke_sessions(haven: Haven, username: str, *, actor: str, why: str) -> int:
    """End every open session of ``username`` (audited when there was one); how many."""
    from sqlalchemy import update

    from carehaven.audit import record
    from carehaven.audit.events import SessionsRevoked
    from carehaven.control.models import WebSession as SessionRow

    with haven.transaction() as session:
        ended = session.execute(
            update(SessionRow).where(SessionRow.username == username,
                                     SessionRow.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        ).rowcount  # type: ignore[attr-defined]
        if ended:
            record(session, SessionsRevoked(username=username, sessions=int(ended), why=why),
                   actor=actor)
    return int(ended or 0)


def unlock(haven: Haven, username: str, *, actor: str) -> None:
    """Lift a lockout and clear the count of wrong passwords (the caller holds MANAGE_USERS).
    The account's open sessions, if any, end too. Refused for an account that is not locked."""
    from carehaven.audit import record
    from carehaven.audit.events import AccountUnlocked
    from carehaven.control.models import User

    with haven.transaction() as session:
        user = session.get(User, username) if USERNAME.fullmatch(username) else None
        if user is None:
            raise NotFoundError(f"There is no user {username} in this haven.")
        if user.locked_at is None:
            raise UsageError(f"{username}'s account is not locked.",
                             exit_code=ExitCode.USAGE)
        user.locked_at = None
        user.failed_sign_ins = 0
        record(session, AccountUnlocked(username=username), actor=actor)
    revoke_sessions(haven, username, actor=actor, why="unlocked")


def locked(haven: Haven, username: str) -> bool:
    row = haven.rows.first("SELECT locked_at FROM users WHERE username = :u", {"u": username})
    return row is not None and row[0] is not None


__all__ = [
    "PLAIN_COOKIE",
    "SECURE_COOKIE",
    "SignInRefusedError",
    "SignInThrottledError",
    "SignedIn",
    "WebSession",
    "check_csrf",
    "locked",
    "revoke_sessions",
    "session_of",
    "sign_in",
    "sign_out",
    "unlock",
]
