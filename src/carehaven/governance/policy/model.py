"""What a sharing decision is asked and what it answers (docs/design/0007-sharing-policy.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from carehaven.control.kinds import RecipientKind, Tier

#: The four categories of 000 §5, most identifying first (PSE-1): ``Tier``'s members.
TIERS: tuple[str, ...] = tuple(Tier)

#: How identifying each tier is: a tier allows itself and every tier with a lower level.
IDENTIFYING: Mapping[str, int] = {
    "personal": 3,
    "de-personalised": 2,
    "anonymised": 1,
    "aggregate": 0,
}

#: Recipient kinds, as the notices distinguish them: ``RecipientKind``'s members.
RECIPIENT_KINDS: tuple[str, ...] = tuple(RecipientKind)

#: Datasets that 001 (the IPS notice and consent form) governs: the IPS episodes and what HMRC
#: returns about IPS participants.
IPS_DATASETS: frozenset[str] = frozenset({"ips-episode", "hmrc-return"})

_REQUIREMENT_ID = re.compile(r"^([A-Z]{3})-(\d+)$")


def requirement_key(requirement: str) -> tuple[str, int, str]:
    """Sort key for requirement ids in natural order (SHR-2 before SHR-10)."""
    match = _REQUIREMENT_ID.match(requirement)
    if match is None:
        return (requirement, 0, requirement)
    return (match.group(1), int(match.group(2)), requirement)


@dataclass(frozen=True)
class Reason:
    """One rule behind a decision: the requirement it comes from and a sentence saying it."""

    requirement: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"requirement": self.requirement, "text": self.text}


@dataclass(frozen=True)
class Decision:
    """Allow or deny, with the reasons: for allow the permit rules that applied, for deny why."""

    allow: bool
    reasons: tuple[Reason, ...]

    @property
    def requirements(self) -> tuple[str, ...]:
        """The requirement ids behind the decision, unique, in natural order."""
        return tuple(sorted({r.requirement for r in self.reasons}, key=requirement_key))

    def as_json(self) -> dict[str, object]:
        return {
            "decision": "allow" if self.allow else "deny",
            "reasons": [r.as_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class RowScope:
    """Which rows: by submitting organisation (provider_code, LA_Code) and by period; None
    means every one (SHR-9: a sub-licensed authority gets its own rows only)."""

    orgs: tuple[str, ...] | None = None
    periods: tuple[str, ...] | None = None

    @classmethod
    def of(cls, stored: Mapping[str, Sequence[str]] | None) -> RowScope:
        """From the JSON an agreement or release keeps (empty or missing lists: every one)."""
        stored = stored or {}
        orgs, periods = stored.get("orgs") or (), stored.get("periods") or ()
        return cls(tuple(orgs) or None, tuple(periods) or None)

    def as_json(self) -> dict[str, list[str]]:
        return {"orgs": list(self.orgs or ()), "periods": list(self.periods or ())}

    def within(self, outer: RowScope) -> bool:
        """Whether every row of this scope is also in ``outer``."""
        def inside(mine: tuple[str, ...] | None, theirs: tuple[str, ...] | None) -> bool:
            return theirs is None or (mine is not None and set(mine) <= set(theirs))

        return inside(self.orgs, outer.orgs) and inside(self.periods, outer.periods)


@dataclass(frozen=True)
class AgreementTerms:
    """The terms of a data sharing agreement that the policy reads (SHR-1, SHR-7 to SHR-11)."""

    id: str
    tier: str
    fields: Mapping[str, Sequence[str]]
    purposes: Sequence[str]
    lawful_bases: Sequence[str]
    starts_on: date
    expires_on: date
    revoked_on: date | None
    uk_only: bool
    onward_sharing: bool
    sub_licensing: bool
    no_reidentification_signed: bool
    #: The rows the agreement covers (every row unless it says otherwise).
    row_scope: RowScope = field(default_factory=RowScope)
    #: The contract a processor works under (000 §5.1); needed for personal data (SHR-1).
    contract_ref: str | None = None


@dataclass(frozen=True)
class ShareRequest:
    """One proposed share: an artefact of one dataset and tier, for one recipient and purpose."""

    recipient: str
    recipient_kind: str
    tier: str
    dataset: str
    fields: Sequence[str]
    purpose: str
    on: date
    agreement: AgreementTerms | None
    consent: bool
    #: The rows the artefact would hold.
    rows: RowScope = field(default_factory=RowScope)
    #: The registered organisation the recipient is (a local authority's own code), if any.
    recipient_org: str | None = None


@dataclass(frozen=True)
class Rule:
    """One policy of sharing.cedar, read from its annotations."""

    id: str
    requirement: str
    text: str
    effect: str
