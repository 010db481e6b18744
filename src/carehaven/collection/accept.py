"""Accepting valid rows into the data plane, typed as the spec says, in one statement."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from carehaven.collection.reading import ROW_COLUMN
from carehaven.data import ensure_dataset_table
from carehaven.specs import Spec

_CAST = {"date": "date", "integer": "int64", "number": "float64"}
_SELECTS: dict[tuple[str, int], tuple[Spec, str]] = {}


def typed_rows(t: ir.Table, spec: Spec) -> ir.Table:
    """Text columns cast to their types; validation has already proved every cast succeeds."""
    return t.select(
        _row=t[ROW_COLUMN],
        **{
            f.name: t[f.name].cast(_CAST[f.type]) if f.type in _CAST else t[f.name]
            for f in spec.fields
        },
    )


def _select_sql(con: DuckDBBackend, raw_name: str, spec: Spec) -> str:
    """The SELECT of the valid rows, compiled once per dataset (the rejected rows are a table)."""
    key = (raw_name, id(spec))
    if key not in _SELECTS:
        t = con.table(raw_name)
        valid = t.anti_join(con.table(f"{raw_name}_bad"), ROW_COLUMN)
        _SELECTS[key] = (spec, ibis.to_sql(typed_rows(valid, spec), dialect="duckdb"))
    return _SELECTS[key][1]


def accept(
    con: DuckDBBackend, raw_name: str, spec: Spec, bad_rows: pa.Array, submission_id: str
) -> int:
    """Insert the rows not in ``bad_rows``; one INSERT, so it lands whole or not at all."""
    ensure_dataset_table(con, spec)
    raw = con.con
    raw.register(
        f"{raw_name}_bad",
        pa.Table.from_arrays([pa.array(bad_rows, pa.int64())], names=[ROW_COLUMN]),
    )
    # One thread for the insert: each thread builds its own row groups of the persistent table
    # in memory, and the insert was the submit's peak (issue 13 item 12; bench_submit.py).
    threads = raw.execute("SELECT current_setting('threads')").fetchone()
    raw.execute("SET threads = 1")
    try:
        select = _select_sql(con, raw_name, spec)
        # Names come from the spec and carehaven; the submission id is a bound parameter.
        inserted = raw.execute(
            f'INSERT INTO "{spec.table_name}" BY NAME '  # noqa: S608
            f"SELECT $sid AS _submission_id, * FROM ({select})",
            {"sid": submission_id},
        ).fetchone()
    finally:
        raw.unregister(f"{raw_name}_bad")
        if threads is not None:
            raw.execute(f"SET threads = {int(threads[0])}")
    return int(inserted[0]) if inserted else 0
