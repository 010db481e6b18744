"""The review queue (SHR-12): uncertain pairs wait for a person, whose decision then holds.

A reviewer sees the evidence: how each identifier compared (exact, one letter differs, day and
month swapped, neighbouring district, ...), the match probability, and which organisations and
datasets each side comes from. Identifier values themselves are never shown in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from carehaven.identity.public import PairDecisionPublic


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


def _recorded(evidence: dict[str, Any], key: str) -> Side | None:
    """The side a link run recorded with the pair (runs since issue 14 do)."""
    found = evidence.get(key)
    if not isinstance(found, dict):
        return None
    return Side(str(found["source"]), str(found["org"]), int(found["records"]))


def waiting(haven: Haven, *, limit: int | None = None, status: str = "waiting",
            data_plane: bool = True) -> list[PairView]:
    """Pairs waiting for a decision, the likeliest matches first.

    Each side's source, organisation and row count come from what the link run recorded with
    the pair in the control plane; for a pair recorded before runs kept them, from the data
    plane, unless ``data_plane`` is False (the web process never opens it): its sides are
    then None."""
    with haven.sessions() as session:
        q = select(LinkPair).where(LinkPair.status == status)
        q = q.order_by(LinkPair.probability.desc(), LinkPair.id)
        if limit is not None:
            q = q.limit(limit)
        pairs = list(session.scalars(q))
    unrecorded = [p for p in pairs if "left" not in p.evidence or "right" not in p.evidence]
    sides = (_sides(haven, {p.left_profile for p in unrecorded}
                    | {p.right_profile for p in unrecorded})
             if data_plane and unrecorded else {})
    return [
        PairView(
            p.id,
            p.probability,
            dict(p.evidence.get("fields", {})),  # type: ignore[call-overload]
            _recorded(p.evidence, "left") or sides.get(p.left_profile),
            _recorded(p.evidence, "right") or sides.get(p.right_profile),
            p.status,
            p.decision,
        )
        for p in pairs
    ]


def decide(haven: Haven, pair_id: str, *, same: bool, actor: str) -> PairDecisionPublic:
    """Record a person's decision; it overrides the model from the next ``link`` run.

    Returns the new decision and the earlier one (or None).
    """
    from carehaven.identity.public import PairDecisionPublic

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
    return PairDecisionPublic(pair_id=pair_id, decision=decision,
                              previous=earlier)
