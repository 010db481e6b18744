"""Plain SQL on the control plane, for what every command does before its work: check the
schema, find who is acting, stamp a grant's last use, list a table.

The embedded default (a SQLite file) is read with the standard library's ``sqlite3``: importing
SQLAlchemy and the ORM models was most of a read-only command's start-up (issue 13 item 8,
ADR 0015). Any other control database (PostgreSQL) runs the same SQL text through the haven's
SQLAlchemy engine. The SQL is written once, with ``:name`` parameters, which both accept; the
ORM models and migrations stay the schema's definition, and every statement run here is run by
the CLI tests on a migrated schema (SQLite, and PostgreSQL in tests/integration).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlalchemy import Engine

Row = tuple[Any, ...]
#: How long a writer waits for SQLite's lock, as SQLAlchemy's pysqlite default does.
BUSY_TIMEOUT_S = 5.0


class Tx:
    """Statements run in one transaction (``Rows.transaction``): all commit, or none."""

    def __init__(self, run: Callable[..., Any], *, embedded: bool) -> None:
        self._run = run
        self.embedded = embedded

    def fetch(self, sql: str, params: Mapping[str, object] | None = None) -> list[Row]:
        found: list[Row] = self._run(sql, params or {})
        return found

    def first(self, sql: str, params: Mapping[str, object] | None = None) -> Row | None:
        found = self.fetch(sql, params)
        return found[0] if found else None

    def run(self, sql: str, params: Mapping[str, object] | None = None) -> int:
        """Run one data-changing statement; how many rows it changed."""
        changed: int = self._run(sql, params or {}, rowcount=True)
        return changed

    def locked(self, sql: str) -> str:
        """``sql`` (a SELECT) taking its rows' write lock: FOR UPDATE on PostgreSQL; SQLite's
        transaction already holds the one write lock (BEGIN IMMEDIATE)."""
        return sql if self.embedded else f"{sql} FOR UPDATE"

    def json(self, name: str) -> str:
        """The placeholder for a JSON column's value given as JSON text (``json.dumps``)."""
        return f":{name}" if self.embedded else f"CAST(:{name} AS JSON)"

    def stamp(self, when: datetime) -> object:
        """``when`` as a DateTime(timezone=True) column takes it (as ``Rows.stamp``)."""
        return stamp_for(when, embedded=self.embedded)


def stamp_for(when: datetime, *, embedded: bool) -> object:
    """SQLAlchemy keeps a DateTime(timezone=True) in SQLite as naive UTC text, so a stamp
    written by plain SQL reads back the same through the ORM; PostgreSQL takes the datetime."""
    if not embedded:
        return when
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class Rows:
    """One way to run a statement on the control plane: ``fetch`` reads, ``write`` runs a
    statement in a transaction of its own, ``transaction`` several in one."""

    def __init__(self, sqlite_path: Path | None, engine: Callable[[], Engine],
                 *, read_only: bool) -> None:
        self._sqlite_path = sqlite_path
        self._engine = engine
        self._read_only = read_only

    @property
    def embedded(self) -> bool:
        return self._sqlite_path is not None

    def fetch(self, sql: str, params: Mapping[str, object] | None = None) -> list[Row]:
        with self._connection() as run:
            found: list[Row] = run(sql, params or {})
        return found

    def first(self, sql: str, params: Mapping[str, object] | None = None) -> Row | None:
        found = self.fetch(sql, params)
        return found[0] if found else None

    def write(self, sql: str, params: Mapping[str, object] | None = None) -> int:
        """Run one data-changing statement, committed; how many rows it changed."""
        with self._connection(write=True) as run:
            changed: int = run(sql, params or {}, rowcount=True)
        return changed

    def stamp(self, when: datetime) -> object:
        """``when`` as a DateTime(timezone=True) column takes it (``stamp_for``)."""
        return stamp_for(when, embedded=self.embedded)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Several statements in one transaction, committed when the block ends without an
        exception and rolled back otherwise. On SQLite it takes the write lock at once
        (BEGIN IMMEDIATE), so two writers queue rather than fail midway."""
        with self._connection(write=True) as run:
            yield Tx(run, embedded=self.embedded)

    @contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Callable[..., Any]]:
        if self._sqlite_path is None:
            from sqlalchemy import text

            engine = self._engine()
            with engine.begin() if write else engine.connect() as conn:

                def run_sa(sql: str, params: Mapping[str, object], rowcount: bool = False) -> Any:
                    result = conn.execute(text(sql), dict(params))
                    if rowcount:
                        return int(getattr(result, "rowcount", 0) or 0)
                    return [tuple(r) for r in result] if result.returns_rows else []

                yield run_sa
            return
        lite = self._sqlite(write)
        try:

            def run_lite(sql: str, params: Mapping[str, object], rowcount: bool = False) -> Any:
                cursor = lite.execute(sql, dict(params))
                return cursor.rowcount if rowcount else [tuple(r) for r in cursor.fetchall()]

            if write:
                lite.execute("BEGIN IMMEDIATE")
                try:
                    yield run_lite
                except BaseException:
                    lite.rollback()
                    raise
                lite.commit()
            else:
                yield run_lite
        finally:
            lite.close()

    def _sqlite(self, write: bool) -> sqlite3.Connection:
        assert self._sqlite_path is not None
        path = str(self._sqlite_path)
        if self._read_only:
            # As control.db.make_engine: immutable when no write-ahead log is beside the file.
            how = "mode=ro" if Path(path + "-wal").exists() else "mode=ro&immutable=1"
            return sqlite3.connect(f"file:{quote(path)}?{how}", uri=True)
        # Autocommit mode: a writer begins its own transaction (BEGIN IMMEDIATE, above).
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S,
                               isolation_level=None)
        conn.execute("PRAGMA foreign_keys=ON")
        if write:
            conn.execute("PRAGMA synchronous=FULL")  # as the engine's: a commit survives
        return conn


def in_list(name: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``IN (:name0, :name1, ...)`` and its parameters, for a list of values."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params


def as_datetime(value: object) -> datetime:
    """A DateTime column read by plain SQL, as the ORM gives it (naive from SQLite)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def parse_stamp(value: object) -> datetime | None:
    """A DateTime(timezone=True) column read by plain SQL, as an aware UTC datetime."""
    if value is None:
        return None
    when = as_datetime(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
