"""The review queue (SHR-12): uncertain pairs wait for a person, whose decision then holds.

A reviewer sees the evidence: how each identifier compared (exact, one letter differs, day and
month swapped, neighbouring district, ...), the match probability, and which organisations and
datasets each side comes from. Identifier values themselves are never shown in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import LinkPairDecided
from carehaven.control.kinds import LinkDecision, LinkPairStatus
from carehaven.control.models import LinkPair
from carehaven.data import connect
from carehaven.errors import NotFoundError, UsageError
from carehaven.haven import Haven
from carehaven.identity.link import current_run, table_name


@dataclass(frozen=True)
class Side:
    source: str
    org: str
    records: int


@dataclass(frozen=True)
class PairView:
    pair_id: str
    probability: float
    evidence: dict[str, str]
    left: Side | None
    right: Side | None
    status: str
    decision: str | None

    def as_json(self) -> dict[str, Any]:
        def side(s: Side | None) -> dict[str, Any] | None:
            return None if s is None else {"source": s.source, "org": s.org, "records": s.records}

        return {
            "pair_id": self.pair_id,
            "match_probability": self.probability,
            "evidence": self.evidence,
            "left": side(self.left),
            "right": side(self.right),
            "status": self.status,
            "decision": self.decision,
        }


def _sides(haven: Haven, profile_ids: set[str]) -> dict[str, Side]:
    with haven.sessions() as session:
        run = current_run(session)
    if run is None or not profile_ids:
        return {}
    con = connect(haven.paths.data_db)
    try:
        t = con.table(table_name("identity_profiles", run))
        rows = (
            t.filter(t.profile_id.isin(list(profile_ids)))
            .select("profile_id", "source", "org", "records")
            .to_pyarrow()
            .to_pylist()
        )
    finally:
        con.disconnect()
    return {r["profile_id"]: Side(r["source"], r["org"], int(r["records"])) for r in rows}


def waiting(haven: Haven, *, limit: int | None = None, status: str = "waiting") -> list[PairView]:
    """Pairs waiting for a decision, the likeliest matches first."""
    with haven.sessions() as session:
        q = select(LinkPair).where(LinkPair.status == status)
        q = q.order_by(LinkPair.probability.desc(), LinkPair.id)
        if limit is not None:
            q = q.limit(limit)
        pairs = list(session.scalars(q))
    sides = _sides(haven, {p.left_profile for p in pairs} | {p.right_profile for p in pairs})
    return [
        PairView(
            p.id,
            p.probability,
            dict(p.evidence.get("fields", {})),  # type: ignore[call-overload]
            sides.get(p.left_profile),
            sides.get(p.right_profile),
            p.status,
            p.decision,
        )
        for p in pairs
    ]


def decide(haven: Haven, pair_id: str, *, same: bool, actor: str) -> tuple[str | None, str]:
    """Record a person's decision; it overrides the model from the next ``link`` run.

    Returns the earlier decision (or None) and the new one.
    """
    decision = LinkDecision.SAME if same else LinkDecision.DIFFERENT
    with haven.transaction() as session:
        pair = session.get(LinkPair, pair_id)
        if pair is None:
            raise NotFoundError(
                f"There is no pair {pair_id} in the review queue; see 'carehaven link review'."
            )
        if pair.status == LinkPairStatus.WITHDRAWN:
            raise UsageError(
                f"Pair {pair_id} is no longer uncertain (the evidence changed at a later run); "
                "there is nothing to decide."
            )
        earlier = pair.decision
        pair.decision = decision
        pair.status = LinkPairStatus.DECIDED
        pair.decided_by = actor
        pair.decided_at = clock.now()
        record(session, LinkPairDecided(pair_id, decision), actor=actor)
    return earlier, decision
