"""On PostgreSQL the application's role cannot switch the audit log's guard off (issue 12,
item 6): migrations run as the schema owner (CAREHAVEN_CONTROL_ADMIN_URL), carehaven as a role
granted rows only, with just SELECT and INSERT on the append-only tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from carehaven.audit import checkpoint as cp
from carehaven.audit import verify
from carehaven.collection import submit
from carehaven.config import Settings
from carehaven.errors import ConfigurationError
from carehaven.haven import init_haven, open_haven
from tests.helpers import episodes_file

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_role(pg_url: str) -> Iterator[str]:
    """A fresh login role for carehaven itself; dropped (with its grants) afterwards."""
    role = "carehaven_app_" + uuid.uuid4().hex[:10]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        yield role
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _settings(tmp_path: Path, pg_url: str, role: str) -> Settings:
    app_url = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    return Settings(haven=tmp_path / "haven", control_url=app_url, control_admin_url=pg_url)


REFUSED = [
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "UPDATE audit_checkpoints SET root = 'x'",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM audit_head",
    "DROP TABLE audit_log",
    "UPDATE alembic_version SET version_num = '0001'",
]


def test_the_app_role_works_but_cannot_rewrite_the_log(tmp_path, pg_url, app_role):
    settings = _settings(tmp_path, pg_url, app_role)
    haven = init_haven(settings, actor="test")
    try:
        haven.add_organisation("P001", "treatment-service", "Riverside", actor="test")
        f = tmp_path / "P001.csv"
        f.write_bytes(episodes_file(3))
        result = submit(haven, f, dataset="ndtms-episode", org="P001", period="2025Q2",
                        actor="test")
        assert result.status == "accepted"
        assert cp.sign(haven, actor="test").size == 4  # init, P001, the spec, the return
        assert verify(haven.engine).ok
        assert haven.engine.url.username == app_role
        for statement in REFUSED:
            with pytest.raises(DBAPIError) as raised, haven.engine.begin() as conn:
                conn.execute(text(statement))
            assert getattr(raised.value.orig, "sqlstate", None) == "42501", statement
        assert verify(haven.engine).ok  # and nothing changed
    finally:
        haven.close()
    # A later start needs no owner's connection: the schema is current.
    again = open_haven(settings)
    try:
        assert verify(again.engine).ok
    finally:
        again.close()


def test_the_owner_as_the_app_role_is_refused(tmp_path, pg_url):
    settings = Settings(haven=tmp_path / "haven", control_url=pg_url, control_admin_url=pg_url)
    with pytest.raises(ConfigurationError, match="superuser"):
        init_haven(settings, actor="test")


def test_an_admin_url_needs_postgresql(tmp_path, pg_url):
    settings = Settings(haven=tmp_path / "haven", control_admin_url=pg_url)
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        init_haven(settings, actor="test")
