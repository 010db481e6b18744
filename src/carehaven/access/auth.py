"""Proving who acts: passwords and personal access tokens (docs/access.md, "Acting as a user").

Both are kept only as argon2id hashes (argon2-cffi's ``PasswordHasher``, its default
parameters) in the control database, the store the web portal will use too. A token is
``chv1.<id>.<secret>``: the public id names its row, the 32 random bytes of the secret prove
it, and the holder sees the whole string once, when it is made. Checking a token whose id is
unknown, or a password of a name that is not a user, still runs one argon2 verify (against
``DUMMY_HASH``), so the time taken does not tell which tokens or users exist. Nothing here puts
a secret, a password or a hash in a message, a log line or an audit entry.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from carehaven import clock
from carehaven.control.rows import parse_stamp
from carehaven.errors import NotFoundError, UsageError
from carehaven.haven import Haven

# The ORM and the audit chain are imported by the functions that change users and tokens;
# checking a token, which every command run with CAREHAVEN_TOKEN does, is plain SQL
# (``Haven.rows``), so such a command starts without SQLAlchemy (issue 13 item 8).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from carehaven.control.models import AccessToken, User

#: The environment variable holding the personal token a command acts with.
TOKEN_ENV = "CAREHAVEN_TOKEN"  # noqa: S105 (a variable's name, not a secret)
#: ``chv1.<id>.<secret>``: the version, the public id, 32 bytes of URL-safe base64.
TOKEN = re.compile(r"chv1\.(tk-[0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
TOKEN_ID = re.compile(r"tk-[0-9a-f]{16}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps one attempt's cost bounded
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366  # a token always expires: a forgotten one stops working within a year
#: Actor.via for someone who typed their password; a token's is ``token:<id>``.
VIA_PASSWORD = "password"  # noqa: S105 (how, not what)

#: argon2id with the library's default parameters (tests of other things may swap in a cheap
#: one; the hash records its own parameters, so verification follows whatever made it).
HASHER = PasswordHasher()
#: A hash of a secret nobody holds, with the default parameters, verified when there is no real
#: hash to check so that a missing token or user costs the same time as a wrong secret.
#: tests/unit/test_auth.py checks that its parameters are still the library's defaults.
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$siGChsWFVrL47mRomD724g$"
    "dfZbPkJlJhYLpeSi6Xt5cyvL21wpBp/YZelgLTjSC8w"
)


# -- hashing -----------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


def verify_secret(stored: str | None, secret: str) -> bool:
    """Whether ``secret`` matches ``stored``; with nothing stored, a verify of the dummy hash
    (always false) so that the answer takes as long either way."""
    try:
        HASHER.verify(stored or DUMMY_HASH, secret[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False
    return bool(stored)


def _rehashed(stored: str, secret: str) -> str | None:
    """A new hash when ``stored`` was made with other parameters than today's."""
    return HASHER.hash(secret) if HASHER.check_needs_rehash(stored) else None


def _utc(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the control plane stores UTC."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


# -- passwords ---------------------------------------------------------------------------------

Ask = Callable[[str], str]


def terminal_prompt() -> Ask | None:
    """Ask on the terminal without echo, when standard input is one; None in a script or CI."""
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        return None

    def ask(prompt: str) -> str:
        try:
            return getpass.getpass(prompt)
        except EOFError:
            return ""

    return ask


@cache
def common_passwords() -> frozenset[str]:
    """The deny-list shipped in ``access/data/common-passwords.txt`` (its header says where it
    comes from), lower-cased."""
    from importlib.resources import files

    text = files("carehaven.access.data").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _is_common(password: str, username: str | None) -> bool:
    """NCSC-style: a password people often choose, checked lower-cased and without the digits
    and punctuation people add at its end; one character or a name repeated; the username."""
    lowered = password.lower()
    bare = lowered.rstrip("0123456789!?.@#$%^&*_-+= ")
    common = common_passwords()
    if lowered in common or (bare and bare in common):
        return True
    if len(set(lowered)) <= 2:  # "aaaaaaaaaaaa", "abababababab"
        return True
    if username and username.lower() in lowered:
        return True
    return any(bare == word * (len(bare) // len(word)) for word in common
               if 3 <= len(word) < len(bare) and len(bare) % len(word) == 0)


def check_new_password(password: str, username: str | None = None) -> None:
    """Refuse a new password that is short, over-long, or common (NCSC guidance: length
    over complexity, and a deny-list of passwords people often choose)."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"A password is at least {MIN_PASSWORD} characters; a few unrelated words make a "
            "good one. Nothing was changed."
        )
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"A password is at most {MAX_PASSWORD} characters. Nothing was changed.")
    if _is_common(password, username):
        raise UsageError(
            "That password is one people often choose (or holds your username), so it is "
            "among the first an attacker tries; a few unrelated words make a good one. Nothing "
            "was changed."
        )


def ask_new_password(ask: Ask, username: str) -> str:
    """A new password for ``username``, typed twice; refused when short or the two differ."""
    first = ask(f"New carehaven password for {username}: ")
    check_new_password(first, username)
    if ask("The same password again: ") != first:
        raise UsageError("The two passwords differ. Nothing was changed.")
    return first


def hash_password(password: str) -> str:
    check_new_password(password)
    return hash_secret(password)


def set_password(haven: Haven, username: str, password: str, *, actor: str) -> None:
    """Set or change ``username``'s password (the caller has authenticated them)."""
    from carehaven.audit import record
    from carehaven.audit.events import PasswordSet
    from carehaven.control.models import User

    check_new_password(password, username)
    hashed = hash_password(password)
    with haven.transaction() as session:
        user = session.get(User, username)
        if user is None or not user.active:
            raise NotFoundError(f"There is no active user {username} in this haven.")
        user.password_hash = hashed
        record(session, PasswordSet(username=username), actor=actor)
    from carehaven.access.signin import revoke_sessions

    revoke_sessions(haven, username, actor=actor, why="password-changed")


def has_password(haven: Haven, username: str) -> bool:
    from carehaven.control.models import User

    with haven.sessions() as session:
        user = session.get(User, username)
        return user is not None and user.password_hash is not None


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user ``username`` when ``password`` is theirs, else None (in the same time).

    Call inside a transaction: a hash made with older parameters is replaced on success."""
    from carehaven.control.models import User

    user = session.get(User, username)
    stored = user.password_hash if user is not None and user.active else None
    if not verify_secret(stored, password) or user is None or stored is None:
        return None
    newer = _rehashed(stored, password)
    if newer is not None:
        user.password_hash = newer
    return user


# -- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: the only time its secret exists outside the holder's hands."""

    id: str
    username: str
    label: str
    created_at: datetime
    expires_at: datetime
    token: str = field(repr=False)



@dataclass(frozen=True)
class TokenView:
    """What a listing shows of a token: never its secret (which the haven does not hold)."""

    id: str
    username: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= clock.now():
            return "expired"
        return "active"



def _view(row: AccessToken) -> TokenView:
    created = _utc(row.created_at)
    assert created is not None
    return TokenView(row.id, row.username, row.label, created, _utc(row.expires_at),
                     _utc(row.last_used_at), _utc(row.revoked_at))


def _label(label: str) -> str:
    label = label.strip() or "personal token"
    if len(label) > 100 or not label.isprintable():
        raise UsageError("A token's --label is 1-100 printable characters.")
    return label


def issue_token(
    haven: Haven,
    username: str,
    *,
    actor: str,
    label: str = "",
    days: int = DEFAULT_TOKEN_DAYS,
    not_after: datetime | None = None,
) -> IssuedToken:
    """Make a token for the active user ``username``, valid ``days`` days (and never past
    ``not_after``); only the argon2 hash of its secret is stored. Returns the token string,
    which nobody can see again."""
    from carehaven.audit import record
    from carehaven.audit.events import TokenIssued
    from carehaven.control.models import AccessToken, User

    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise UsageError(f"A token lasts 1 to {MAX_TOKEN_DAYS} days (--expires-days).")
    label = _label(label)
    token_id, secret = "tk-" + secrets.token_hex(8), secrets.token_urlsafe(32)
    hashed = hash_secret(secret)
    now = clock.now()
    expires = now + timedelta(days=days)
    if not_after is not None:
        expires = min(expires, _utc(not_after) or expires)
    with haven.transaction() as session:
        user = session.get(User, username)
        if user is None or not user.active:
            raise NotFoundError(f"There is no active user {username} in this haven.")
        session.add(AccessToken(id=token_id, username=username, secret_hash=hashed, label=label,
                                created_at=now, expires_at=expires))
        record(session, TokenIssued(token_id=token_id, username=username,
                                    expires=expires.isoformat(timespec="seconds")), actor=actor)
    return IssuedToken(token_id, username, label, now, expires, f"chv1.{token_id}.{secret}")


def tokens(haven: Haven, username: str) -> list[TokenView]:
    """``username``'s tokens, newest first, revoked and expired ones included."""
    from sqlalchemy import select

    from carehaven.control.models import AccessToken

    with haven.sessions() as session:
        rows = session.scalars(
            select(AccessToken).where(AccessToken.username == username)
            .order_by(AccessToken.created_at.desc(), AccessToken.id)
        )
        return [_view(r) for r in rows]


def token(haven: Haven, token_id: str) -> TokenView | None:
    from carehaven.control.models import AccessToken

    if TOKEN_ID.fullmatch(token_id) is None:
        return None
    with haven.sessions() as session:
        row = session.get(AccessToken, token_id)
        return None if row is None else _view(row)


def revoke_token(haven: Haven, token_id: str, *, actor: str) -> TokenView:
    """Revoke a token (it stays on record, marked revoked); the caller decides who may."""
    from carehaven.audit import record
    from carehaven.audit.events import TokenRevoked
    from carehaven.control.models import AccessToken

    with haven.transaction() as session:
        row = session.get(AccessToken, token_id) if TOKEN_ID.fullmatch(token_id) else None
        if row is None:
            raise NotFoundError(f"There is no token {token_id} in this haven.")
        if row.revoked_at is not None:
            raise UsageError(f"Token {token_id} is already revoked.")
        row.revoked_at = clock.now()
        record(session, TokenRevoked(token_id=token_id, username=row.username), actor=actor)
        return _view(row)


class Refusal(Enum):
    """Why a token does not authenticate. INVALID covers a malformed token, an unknown id and
    a wrong secret alike; the others are said only to someone who proved the secret."""

    INVALID = "invalid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class TokenCheck:
    token_id: str | None  # the id, when it names a token of this haven
    username: str | None  # that token's user
    refusal: Refusal | None  # None: the token authenticates its user
    expires_at: datetime | None = None


def check_token(haven: Haven, presented: str) -> TokenCheck:
    """Check a token string. Success stamps its last_used_at (and replaces a hash made with
    older parameters), unless the haven is read-only. Plain SQL (``Haven.rows``)."""
    match = TOKEN.fullmatch(presented.strip())
    row = haven.rows.first(
        "SELECT t.id, t.username, t.secret_hash, t.expires_at, t.revoked_at, u.active "
        "FROM access_tokens t LEFT JOIN users u ON u.username = t.username WHERE t.id = :id",
        {"id": match.group(1)},
    ) if match else None
    secret = match.group(2) if match else presented
    if not verify_secret(row[2] if row is not None else None, secret) or row is None:
        return TokenCheck(row[0] if row else None, row[1] if row else None, Refusal.INVALID)
    token_id, username, stored, expires_raw, revoked, active = row
    expires = parse_stamp(expires_raw)
    refusal = (
        Refusal.REVOKED if revoked is not None
        else Refusal.EXPIRED if expires is not None and expires <= clock.now()
        else Refusal.INACTIVE if not active
        else None
    )
    if refusal is None and not haven.read_only:
        newer = _rehashed(stored, secret)
        haven.rows.write(
            "UPDATE access_tokens SET last_used_at = :now, secret_hash = :hash WHERE id = :id",
            {"now": haven.rows.stamp(clock.now()), "hash": newer or stored, "id": token_id},
        )
    return TokenCheck(token_id, username, refusal, expires)


# -- files only their owner may read -----------------------------------------------------------


@contextmanager
def new_private_file(path: Path) -> Iterator[TextIO]:
    """A new file readable by its owner only (0600), for a token; an existing file (or link)
    is refused, never overwritten, and the file is removed if writing it fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(
            f"{path} already exists; name a new file for the token (one is never overwritten)."
        ) from None
    except OSError as exc:
        raise UsageError(f"Cannot create {path}: {exc.strerror}.") from None
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        done = True
    finally:
        if not done:
            path.unlink(missing_ok=True)


__all__ = [
    "DEFAULT_TOKEN_DAYS",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD",
    "TOKEN_ENV",
    "VIA_PASSWORD",
    "IssuedToken",
    "Refusal",
    "TokenCheck",
    "TokenView",
    "ask_new_password",
    "check_new_password",
    "check_password",
    "check_token",
    "common_passwords",
    "hash_password",
    "issue_token",
    "new_private_file",
    "revoke_token",
    "set_password",
    "terminal_prompt",
    "token",
    "tokens",
]
