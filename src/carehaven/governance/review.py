"""The regular access review (SHR-7): what expires soon, who has had nothing, which roles idle.

Three lists, each a prompt for a person to act on (nothing is revoked automatically, SHR-12):
agreements that expire within ``soon`` days or have lapsed without being revoked; recipients
with nothing released for a year (or ever); and role grants not used for ``idle`` days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from carehaven import clock
from carehaven.control.kinds import ReleaseStatus
from carehaven.control.models import Agreement, Recipient, Release, RoleGrant
from carehaven.governance.sharing import state
from carehaven.haven import Haven

SOON_DAYS = 90
QUIET_DAYS = 365
IDLE_DAYS = 90


@dataclass
class Review:
    on: date
    expiring: list[dict[str, object]] = field(default_factory=list)
    quiet_recipients: list[dict[str, object]] = field(default_factory=list)
    idle_roles: list[dict[str, object]] = field(default_factory=list)
    access: list[dict[str, object]] = field(default_factory=list)  # who can get what now


def _day(when: datetime | None) -> str | None:
    return when.date().isoformat() if when else None


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the control plane stores UTC."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def review(
    haven: Haven, *, soon: int = SOON_DAYS, quiet: int = QUIET_DAYS, idle: int = IDLE_DAYS
) -> Review:
    today = clock.today()
    out = Review(on=today)
    with haven.sessions() as session:
        deals = list(session.scalars(select(Agreement).order_by(Agreement.expires_on)))
        for deal in deals:
            now = state(deal, today)
            if now == "active":
                out.access.append(
                    {
                        "recipient": deal.recipient,
                        "agreement": deal.label,
                        "tier": deal.tier,
                        "datasets": sorted(deal.fields),
                        "purposes": deal.purposes,
                        "expires_on": deal.expires_on.isoformat(),
                    }
                )
            left = (deal.expires_on - today).days
            if (now == "active" and left <= soon) or now == "expired":
                out.expiring.append(
                    {
                        "agreement": deal.label,
                        "recipient": deal.recipient,
                        "expires_on": deal.expires_on.isoformat(),
                        "days_left": left,
                        "state": now,
                    }
                )
        last = dict(
            session.execute(
                select(Release.recipient, func.max(Release.approved_at))
                .where(Release.status == ReleaseStatus.WRITTEN)
                .group_by(Release.recipient)
            ).all()
        )
        since = clock.now() - timedelta(days=quiet)
        for who in session.scalars(select(Recipient).order_by(Recipient.code)):
            when = _aware(last.get(who.code))
            if when is None or when < since:
                out.quiet_recipients.append(
                    {"recipient": who.code, "kind": who.kind, "last_release": _day(when)}
                )
        cutoff = clock.now() - timedelta(days=idle)
        grants = session.scalars(
            select(RoleGrant).where(RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.username)
        )
        for grant in grants:
            used = _aware(grant.last_used_at)
            if (used or _aware(grant.granted_at) or cutoff) < cutoff:
                out.idle_roles.append(
                    {
                        "user": grant.username,
                        "role": grant.role,
                        "org": grant.org_code or "*",
                        "last_used": _day(used),
                    }
                )
    return out
