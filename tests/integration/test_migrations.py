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


def test_a_young_peoples_service_is_a_kind_the_schema_accepts(tmp_path: Path) -> None:
    """0008 (issue 13 item 6): the CHECK on organisations.kind names every ``OrgKind``,
    young-peoples-service among them; going back to 0007 makes one a treatment service."""
    import pytest
    import sqlalchemy as sa
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'control.db'}")
    db.migrate(engine)
    insert = sa.text("INSERT INTO organisations (code, name, kind, created_at) "
                     "VALUES (:code, :code, :kind, '2026-01-01')")
    with engine.begin() as conn:
        conn.execute(insert, {"code": "YP01", "kind": "young-peoples-service"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"code": "X1", "kind": "youth-service"})

    cfg = db._alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT kind FROM organisations")).scalars().all() == [
            "treatment-service"]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"code": "YP02", "kind": "young-peoples-service"})
