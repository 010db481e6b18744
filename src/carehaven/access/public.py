"""People's ``Public`` models: users with their grants, and personal tokens (``users list
--json``, ``auth token ... --json`` and the portal's API). A token's secret appears in one
model only, ``IssuedTokenPublic``, answered once, when the token is made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.access.auth import IssuedToken, TokenView
    from carehaven.access.users import GrantView, UserView


def stamp(when: datetime | None) -> datetime | None:
    """A moment as the contract gives it: UTC, to the second (SQLite hands back naive UTC)."""
    if when is None:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


class GrantPublic(Public):
    role: str
    #: The organisation the grant is for; None: every organisation.
    org: str | None
    granted_at: datetime | None
    granted_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, g: GrantView) -> GrantPublic:
        return cls(role=g.role, org=g.org_code, granted_at=stamp(g.granted_at),
                   granted_by=g.granted_by, last_used_at=stamp(g.last_used_at),
                   revoked_at=stamp(g.revoked_at))


class UserPublic(Public):
    username: str
    name: str
    org: str | None
    active: bool
    created_at: datetime | None
    created_by: str
    grants: list[GrantPublic]

    @classmethod
    def of(cls, u: UserView) -> UserPublic:
        return cls(username=u.username, name=u.display_name, org=u.org_code, active=u.active,
                   created_at=stamp(u.created_at), created_by=u.created_by,
                   grants=[GrantPublic.of(g) for g in u.grants])


class TokenPublic(Public):
    id: str
    username: str
    label: str
    state: Literal["active", "expired", "revoked"]
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: TokenView) -> TokenPublic:
        return cls(id=t.id, username=t.username, label=t.label,
                   state=t.state,
                   created_at=stamp(t.created_at), expires_at=stamp(t.expires_at),
                   last_used_at=stamp(t.last_used_at), revoked_at=stamp(t.revoked_at))


class IssuedTokenPublic(Public):
    id: str
    username: str
    label: str
    created_at: datetime | None
    expires_at: datetime | None
    #: The whole token, shown this once; the haven keeps only a hash of its secret.
    token: str

    @classmethod
    def of(cls, t: IssuedToken) -> IssuedTokenPublic:
        return cls(id=t.id, username=t.username, label=t.label, created_at=stamp(t.created_at),
                   expires_at=stamp(t.expires_at), token=t.token)
