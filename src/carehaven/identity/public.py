"""The identity package's ``Public`` models: an uncertain pair in the review queue (with its
evidence: comparison levels, never identifier values) and a decision on one (issue 14 part 0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.identity.feedback import Feedback, HoldView
    from carehaven.identity.link import LinkResult
    from carehaven.identity.review import PairView, Side


class SidePublic(Public):
    """Where one side of a pair comes from: its dataset, organisation and number of rows."""

    source: str
    org: str
    records: int

    @classmethod
    def of(cls, side: Side | None) -> SidePublic | None:
        return None if side is None else cls(source=side.source, org=side.org,
                                             records=side.records)


class LinkPairPublic(Public):
    pair_id: str
    match_probability: float
    #: Each identifier's comparison level (e.g. "exact", "one letter differs").
    evidence: dict[str, str]
    left: SidePublic | None
    right: SidePublic | None
    status: Literal["waiting", "decided", "withdrawn"]
    decision: Literal["same", "different"] | None

    @classmethod
    def of(cls, pair: PairView) -> LinkPairPublic:
        return cls(pair_id=pair.pair_id, match_probability=pair.probability,
                   evidence=dict(pair.evidence), left=SidePublic.of(pair.left),
                   right=SidePublic.of(pair.right), status=pair.status,
                   decision=pair.decision)


class PairDecisionPublic(Public):
    """A person's decision on a pair, and the one it replaced."""

    pair_id: str
    decision: Literal["same", "different"]
    previous: Literal["same", "different"] | None


class LinkRunPublic(Public):
    """What a link run found (``carehaven link --json``)."""

    records: int
    people: int
    merged_by_rule: int
    merged_by_model: int
    waiting_review: int

    @classmethod
    def of(cls, r: LinkResult) -> LinkRunPublic:
        return cls(records=r.records, people=r.people, merged_by_rule=r.merged_by_rule,
                   merged_by_model=r.merged_by_model, waiting_review=r.waiting_review)


class FeedbackPublic(Public):
    """A provider's concurrent-provider feedback as written (IDN-2): counts, never a client."""

    org: str
    file: str | None
    artefact: str | None
    open_clients: int
    clients_with_other_providers: int
    rows: int

    @classmethod
    def of(cls, f: Feedback) -> FeedbackPublic:
        return cls(org=f.org, file=str(f.file) if f.file else None, artefact=f.artefact,
                   open_clients=f.open_clients, clients_with_other_providers=f.clients_shared,
                   rows=len(f.rows))


class HoldPublic(Public):
    """A feedback match held for the data team, with the evidence (which returns, periods and
    dates each side's episodes came in; no person's data)."""

    hold: str
    org: str
    other_org: str
    status: str
    reason: str
    link_run: int
    created_at: str
    decided_by: str | None
    evidence: dict[str, Any]

    @classmethod
    def of(cls, h: HoldView) -> HoldPublic:
        return cls(hold=h.label, org=h.org, other_org=h.other_org, status=h.status,
                   reason=h.reason, link_run=h.link_run, created_at=h.created_at,
                   decided_by=h.decided_by, evidence=h.evidence)
