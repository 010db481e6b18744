"""The database itself refuses a value outside its column's fixed set (migration 0010), on
SQLite and PostgreSQL; migrating a haven with rows to 0010 and back keeps every row, and a
row already outside a set stops the migration with a message naming the column."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from carehaven.control import db
from carehaven.control.models import Base
from carehaven.errors import ConfigurationError
from tests.unit.test_kinds import CONSTRAINED

BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
#: The tables a row is put in: every constrained one (and, first, what they refer to).
_FILLED = sorted({table for table, _column, _kind in CONSTRAINED.values()})


def _engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Engine:
    url = (request.getfixturevalue("pg_url") if backend == "postgres"
           else f"sqlite:///{tmp_path / 'control.db'}")
    return db.make_engine(url)


def _value(column: sa.Column[Any]) -> object:
    """A value of the column's type; a constrained column gets its enum's first value."""
    for table, name, kind in CONSTRAINED.values():
        if (table, name) == (column.table.name, column.name):
            return next(iter(kind)).value
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return date(2026, 1, 1)
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.Integer | sa.Float):
        return 1
    return "x"


def _fill(engine: Engine) -> dict[str, int]:
    """One row in every constrained table and each table it must refer to; nullable columns
    left empty. Returns how many rows each table holds."""
    needed: set[str] = set()

    def need(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for col in Base.metadata.tables[name].columns:
                for fk in col.foreign_keys:
                    if not col.nullable:
                        need(fk.column.table.name)

    for name in _FILLED:
        need(name)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in needed:
                row = {c.name: _value(c) for c in table.columns if not c.nullable}
                conn.execute(table.insert().values(**row))
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in sorted(needed)}


def _revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())


@BACKENDS
def test_the_database_refuses_a_value_outside_each_set(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine = _engine(backend, tmp_path, request)
    db.migrate(engine)
    _fill(engine)
    for name, (table, column, kind) in sorted(CONSTRAINED.items()):
        update = sa.text(f"UPDATE {table} SET {column} = :v")
        for member in kind:  # every value of the enum is allowed...
            with engine.begin() as conn:
                conn.execute(update, {"v": member.value})
        # ...and nothing else: a near miss, another set's value, the empty string.
        for bad in (next(iter(kind)).value.upper(), "secret", ""):
            with pytest.raises(sa.exc.IntegrityError, match=name), engine.begin() as conn:
                conn.execute(update, {"v": bad})
    engine.dispose()


@BACKENDS
def test_a_haven_with_rows_migrates_to_0010_and_back(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On SQLite the migration rebuilds tables other rows refer to (recipients, artefacts,
    extracts): every row survives, and foreign keys are enforced again afterwards."""
    engine = _engine(backend, tmp_path, request)
    db.migrate(engine)
    counts = _fill(engine)
    db.move_to(engine, "0009", down=True)
    assert _revision(engine) == "0009"
    with engine.begin() as conn:  # 0009 had no check on a release's tier
        conn.execute(sa.text("UPDATE releases SET tier = 'de-personalised'"))
    # 0008 and 0007 rebuild organisations and submissions, which users, role grants and
    # feedback holds refer to (going below 0009 drops its jobs table).
    db.move_to(engine, "0007", down=True)
    counts.pop("jobs")
    db.migrate(engine)
    assert _revision(engine) == db.HEAD
    with engine.connect() as conn:
        assert {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in counts} == counts
        assert conn.execute(sa.text("SELECT tier FROM releases")).scalar_one() == (
            "de-personalised")
        if backend == "sqlite":
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO releases (recipient, dataset, tier, fields, purpose, "
                             "status, decision, reasons, proposed_by, proposed_at, files, rows, "
                             "people, row_scope) VALUES ('nobody', 'd', 'personal', '[]', 'p', "
                             "'proposed', 'allow', '[]', 'a', '2026-01-01', '[]', 0, 0, '{}')"))
    engine.dispose()


@BACKENDS
def test_a_row_outside_a_set_stops_the_migration_and_changes_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    engine = _engine(backend, tmp_path, request)
    db.migrate(engine)
    _fill(engine)
    db.move_to(engine, "0009", down=True)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE releases SET status = 'approved'"))
        conn.execute(sa.text("UPDATE role_grants SET role = 'admin'"))
    with pytest.raises(ConfigurationError) as refused:
        db.migrate(engine)
    message = refused.value.message
    assert "releases.status holds 'approved' in 1 row(s)" in message
    assert "role_grants.role holds 'admin' in 1 row(s)" in message
    assert "releases.tier" not in message
    assert _revision(engine) == "0009"
    with engine.connect() as conn:
        assert sa.inspect(conn).get_check_constraints("releases") == []
        assert conn.execute(sa.text("SELECT status FROM releases")).scalar_one() == "approved"
    with engine.begin() as conn:  # corrected, it migrates
        conn.execute(sa.text("UPDATE releases SET status = 'written'"))
        conn.execute(sa.text("UPDATE role_grants SET role = 'auditor'"))
    db.migrate(engine)
    assert _revision(engine) == db.HEAD
    engine.dispose()
