"""What a check needs to know beyond the row, as the one-row table compiled checks join.

Apart from rules.py so that running a compiled plan needs no Ibis (ADR 0014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from carehaven.collection.period import Period
from carehaven.consent.notices import NoticeVersion

#: Columns of the one-row context table joined to every row (names no spec field can have).
CTX_ORG, CTX_START, CTX_END = "__ctx_org", "__ctx_period_start", "__ctx_period_end"


@dataclass(frozen=True)
class Context:
    """Who submitted, for when, and which notice versions are published."""

    org_code: str
    period: Period
    notices: Sequence[NoticeVersion] = ()

    def as_table(self) -> pa.Table:
        """The per-submission values as a one-row table, so compiled checks can be reused."""
        return pa.Table.from_arrays(
            [
                pa.array([self.org_code], pa.string()),
                pa.array([self.period.start], pa.date32()),
                pa.array([self.period.end], pa.date32()),
            ],
            names=[CTX_ORG, CTX_START, CTX_END],
        )


__all__ = ["CTX_END", "CTX_ORG", "CTX_START", "Context"]
