"""Accepting valid rows into the data plane, typed as the spec says, in one statement."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from carehaven.collection.reading import ROW_COLUMN
from carehaven.data import ensure_dataset_table
from carehaven.specs import Spec

_CAST = {"date": "date", "integer": "int64", "number": "float64", "string": "string"}


def typed_rows(t: ir.Table, spec: Spec, submission_id: str) -> ir.Table:
    """Text columns cast to their types; validation has already proved every cast succeeds."""
    return t.select(
        _submission_id=ibis.literal(submission_id),
        _row=t[ROW_COLUMN],
        **{
            f.name: t[f.name].cast(_CAST[f.type]) if f.type != "string" else t[f.name]
            for f in spec.fields
        },
    )


def accept(
    con: DuckDBBackend, raw_name: str, spec: Spec, bad_rows: pa.Array, submission_id: str
) -> int:
    """Insert the rows not in ``bad_rows``; a single INSERT, so it lands whole or not at all."""
    ensure_dataset_table(con, spec)
    t = con.table(raw_name)
    if len(bad_rows):
        bad_name = f"{raw_name}_bad"
        con.con.register(bad_name, pa.table({ROW_COLUMN: bad_rows}))
        t = t.anti_join(con.table(bad_name), ROW_COLUMN)
    rows = typed_rows(t, spec, submission_id)
    before = _count(con, spec.table_name, submission_id)
    con.insert(spec.table_name, rows)
    return _count(con, spec.table_name, submission_id) - before


def _count(con: DuckDBBackend, table: str, submission_id: str) -> int:
    t = con.table(table)
    return int(t.filter(t._submission_id == submission_id).count().execute())
