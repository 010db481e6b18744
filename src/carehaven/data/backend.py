"""Opening the data-plane engine chosen by settings."""

from __future__ import annotations

from pathlib import Path

import ibis
from ibis.backends.duckdb import Backend as DuckDBBackend


def connect(data_db: Path, *, threads: int | None = None) -> DuckDBBackend:
    """The haven's DuckDB file through Ibis. Only the writer (under the haven lock) opens it."""
    data_db.parent.mkdir(parents=True, exist_ok=True)
    con: DuckDBBackend = ibis.duckdb.connect(str(data_db))
    if threads is not None:
        con.raw_sql(f"SET threads = {int(threads)}")
    return con
