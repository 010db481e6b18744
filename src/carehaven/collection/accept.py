"""Accepting valid rows into the data plane, typed as the spec says, in one statement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from carehaven.collection.plan import Plan
from carehaven.collection.reading import ROW_COLUMN
from carehaven.data.rawsql import ensure_table
from carehaven.specs import Spec

if TYPE_CHECKING:
    import ibis.expr.types as ir

_CAST = {"date": "date", "integer": "int64", "number": "float64"}


def typed_rows(t: ir.Table, spec: Spec) -> ir.Table:
    """Text columns cast to their types; validation has already proved every cast succeeds."""
    return t.select(
        _row=t[ROW_COLUMN],
        **{
            f.name: t[f.name].cast(_CAST[f.type]) if f.type in _CAST else t[f.name]
            for f in spec.fields
        },
    )


def accept(
    con: Any, raw_name: str, spec: Spec, plan: Plan, bad_rows: pa.Array, submission_id: str
) -> int:
    """Insert the rows not in ``bad_rows``; one INSERT, so it lands whole or not at all.

    ``con`` is DuckDB's connection or an Ibis DuckDB backend over one; ``plan.accept_sql``
    selects the rows of ``raw_name`` not in ``<raw_name>_bad``.
    """
    raw = getattr(con, "con", con)
    ensure_table(raw, spec)
    raw.register(
        f"{raw_name}_bad", pa.Table.from_arrays([bad_rows.cast(pa.int64())], names=[ROW_COLUMN])
    )
    # One thread for the insert: each thread builds its own row groups of the persistent table
    # in memory, and the insert was the submit's peak (issue 13 item 12; bench_submit.py).
    threads = raw.execute("SELECT current_setting('threads')").fetchone()
    raw.execute("SET threads = 1")
    try:
        # Names come from the spec and carehaven; the submission id is a bound parameter.
        inserted = raw.execute(
            f'INSERT INTO "{spec.table_name}" BY NAME '  # noqa: S608
            f"SELECT $sid AS _submission_id, * FROM ({plan.accept_sql})",
            {"sid": submission_id},
        ).fetchone()
    finally:
        raw.unregister(f"{raw_name}_bad")
        if threads is not None:
            raw.execute(f"SET threads = {int(threads[0])}")
    return int(inserted[0]) if inserted else 0
