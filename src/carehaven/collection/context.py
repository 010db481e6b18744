"""What a check needs to know beyond the row, as the one-row table compiled checks join.

Apart from rules.py so that running a compiled plan needs no Ibis (ADR 0014).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from carehaven.collection.period import Period
from carehaven.consent.notices import NoticeVersion

#: Columns of the one-row context table joined to every row (names no spec field can have).
CTX_ORG, CTX_START, CTX_END = "__ctx_org", "__ctx_period_start", "__ctx_period_end"
CTX_KIND, CTX_REFERENCES = "__ctx_org_kind", "__ctx_references_known"


def reference_table(raw_name: str, field: str) -> str:
    """The name the rows ``field`` may name are registered under, beside ``raw_name``."""
    return f"{raw_name}_ref_{field}"


def reference_column(field: str, name: str) -> str:
    """A column of ``field``'s reference table: ``key``, or a date of the row named."""
    return f"__ref_{field}__{name}"


@dataclass(frozen=True)
class Context:
    """What a check needs to know beyond the row: who submitted, of what kind, for when, which
    notices. ``org_kind`` None (not known) makes every ``submitterKind`` test unknown, so the
    rules that test it are not judged."""

    org_code: str
    period: Period
    notices: Sequence[NoticeVersion] = ()
    org_kind: str | None = None
    #: Per referencing field, the rows it may name (``collection.references``): None when they
    #: were not looked up (validating outside a haven), and the ``reference`` rules are then
    #: not judged. Registered as tables, never compiled in, so the SQL serves every submission.
    references: Mapping[str, pa.Table] | None = dataclasses.field(
        default=None, compare=False
    )

    def as_table(self) -> pa.Table:
        """The per-submission values as a one-row table, so compiled checks can be reused."""
        return pa.Table.from_arrays(
            [
                pa.array([self.org_code], pa.string()),
                pa.array([self.period.start], pa.date32()),
                pa.array([self.period.end], pa.date32()),
                pa.array([self.org_kind], pa.string()),
                pa.array([self.references is not None], pa.bool_()),
            ],
            names=[CTX_ORG, CTX_START, CTX_END, CTX_KIND, CTX_REFERENCES],
        )


__all__ = [
    "CTX_END", "CTX_KIND", "CTX_ORG", "CTX_REFERENCES", "CTX_START", "Context",
    "reference_column", "reference_table",
]
