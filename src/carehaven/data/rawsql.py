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


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    """The columns of ``table``, or None if there is no such table (cheaper than the catalog
    views, which a batch of submissions would query hundreds of times). Outside a transaction
    only: a failed statement aborts one."""
    try:
        found = con.execute(f'SELECT * FROM "{table}" LIMIT 0')  # noqa: S608 - a spec's name
    except duckdb.CatalogException:
        return None
    return [str(d[0]) for d in found.description or ()]


def ensure_table(con: duckdb.DuckDBPyConnection, spec: Spec) -> None:
    """Create the dataset's table, or add the columns a newer spec version brought."""
    # Names come from a shipped descriptor, never from a submitted file. IF NOT EXISTS rather
    # than a failed look-up: a failed statement would abort a caller's open transaction.
    cols = {**META_SQL, **{f.name: SQL_TYPES[f.type] for f in spec.fields}}
    body = ", ".join(f'"{n}" {t}' for n, t in cols.items())
    con.execute(f'CREATE TABLE IF NOT EXISTS "{spec.table_name}" ({body})')
    have = columns(con, spec.table_name) or []
    for field in spec.fields:
        if field.name not in have:
            con.execute(
                f'ALTER TABLE "{spec.table_name}" ADD COLUMN "{field.name}" '
                f"{SQL_TYPES[field.type]}"
            )


__all__ = ["META_SQL", "SQL_TYPES", "columns", "ensure_table", "open_data", "tables"]
