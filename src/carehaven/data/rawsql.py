"""The data plane through DuckDB's own connection, for the paths that must start fast.

A ``submit`` runs SQL compiled once and kept in the haven (collection/plan.py), so it needs
neither Ibis nor its compiler; what it does to the data plane beyond that is here, in plain SQL
that keeps the tables exactly as ``data.tables`` makes them (ADR 0014).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from carehaven.specs import Spec

#: DuckDB column types of the spec's field types (the same as data.tables' Ibis types).
SQL_TYPES = {"string": "VARCHAR", "date": "DATE", "integer": "BIGINT", "number": "DOUBLE"}
#: carehaven's own columns on every accepted row, first (data.tables.META_COLUMNS).
META_SQL = {"_submission_id": "VARCHAR", "_row": "BIGINT"}


def open_data(data_db: Path) -> duckdb.DuckDBPyConnection:
    """The haven's DuckDB file. Only the writer (under the haven lock) opens it."""
    data_db.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(data_db))


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The data plane's tables in the main schema."""
    found = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
    ).fetchall()
    return {str(r[0]) for r in found}


def ensure_table(con: duckdb.DuckDBPyConnection, spec: Spec) -> None:
    """Create the dataset's table, or add the columns a newer spec version brought."""
    # Names come from a shipped descriptor, never from a submitted file.
    if spec.table_name not in tables(con):
        cols = {**META_SQL, **{f.name: SQL_TYPES[f.type] for f in spec.fields}}
        body = ", ".join(f'"{n}" {t}' for n, t in cols.items())
        con.execute(f'CREATE TABLE "{spec.table_name}" ({body})')
        return
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND table_name = $t",
            {"t": spec.table_name},
        ).fetchall()
    }
    for field in spec.fields:
        if field.name not in have:
            con.execute(
                f'ALTER TABLE "{spec.table_name}" ADD COLUMN "{field.name}" '
                f"{SQL_TYPES[field.type]}"
            )


__all__ = ["META_SQL", "SQL_TYPES", "ensure_table", "open_data", "tables"]
