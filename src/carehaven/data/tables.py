"""Data-plane tables: one per dataset, typed from its spec, plus carehaven's own columns."""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends.duckdb import Backend as DuckDBBackend

from carehaven.data.rawsql import ensure_table
from carehaven.specs import Spec

#: Columns carehaven adds to every accepted row: which submission it came from, and its row.
META_COLUMNS: dict[str, dt.DataType] = {"_submission_id": dt.string, "_row": dt.int64}

_TYPES: dict[str, dt.DataType] = {
    "string": dt.string,
    "date": dt.date,
    "integer": dt.int64,
    "number": dt.float64,
}


def dataset_schema(spec: Spec) -> ibis.Schema:
    cols = {**META_COLUMNS, **{f.name: _TYPES[f.type] for f in spec.fields}}
    return ibis.schema(cols)


def ensure_dataset_table(con: DuckDBBackend, spec: Spec) -> None:
    """Create the dataset's table, or add the columns a newer spec version brought."""
    ensure_table(con.con, spec)


def in_force_rows(con: DuckDBBackend, spec: Spec, submission_ids: Iterable[str]) -> ir.Table:
    """Accepted rows of the submissions in force (superseded submissions' rows are retired)."""
    ids = list(submission_ids)
    if spec.table_name not in con.list_tables():
        # Nobody has submitted this dataset yet: its (empty) table, so that SQL built on it
        # runs as on any other; the callers hold the haven's writer lock.
        ensure_dataset_table(con, spec)
    table = con.table(spec.table_name)
    return table.filter(table._submission_id.isin(ids)) if ids else table.limit(0)
