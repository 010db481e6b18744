"""The Alembic migrations build exactly the tables the models describe (no drift)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from carehaven.control import db
from carehaven.control.models import Base


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'control.db'}")
    db.migrate(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(ctx, Base.metadata)
                if not (isinstance(d, tuple) and d[0] in {"add_index", "remove_index"}
                        and d[1].name.startswith("sqlite_"))]
    assert diff == [], diff


def test_head_constant_is_the_newest_migration(tmp_path: Path) -> None:
    """``db.HEAD`` lets a command check the schema without loading Alembic; it must follow
    the scripts, or every haven would be migrated (or refused) on each open."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    assert db.script_head(engine) == db.HEAD
    assert not db.is_current(engine)
    db.migrate(engine)
    assert db.is_current(engine)
