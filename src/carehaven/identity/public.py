"""The identity package's ``Public`` models: an uncertain pair in the review queue (with its
evidence: comparison levels, never identifier values) and a decision on one (issue 14 part 0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from carehaven.public import Public

if TYPE_CHECKING:
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
