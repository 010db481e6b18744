"""On PostgreSQL the application's role cannot switch the audit log's guard off (issue 12,
item 6): migrations run as the schema owner (CAREHAVEN_CONTROL_ADMIN_URL), carehaven as a role
granted rows only, with just SELECT and INSERT on the append-only tables; and a role that could
become the owner (a member of it, CREATEROLE, ...) is refused as the application's role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from carehaven.audit import checkpoint as cp
from carehaven.audit import verify
from carehaven.audit.guards import check_triggers
from carehaven.cli import main
from carehaven.collection.submit import submit
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
    return Settings.load(haven=tmp_path / "haven", control_url=app_url, control_admin_url=pg_url)


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
        # The catalogs the trigger check reads are open to the application's role.
        assert check_triggers(haven.engine).ok
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
    settings = Settings.load(haven=tmp_path / "haven", control_url=pg_url, control_admin_url=pg_url)
    with pytest.raises(ConfigurationError, match="superuser"):
        init_haven(settings, actor="test")


def test_an_admin_url_needs_postgresql(tmp_path, pg_url):
    settings = Settings.load(haven=tmp_path / "haven", control_admin_url=pg_url)
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        init_haven(settings, actor="test")


# ---- an application role that could become the owner (found by an outside tester) ----------
# Each case: the SQL that sets the roles up (as the superuser; {o} the owner who runs the
# migrations, {a} the application's role, {x} a third role, {db} the control database), whether
# {o} or the superuser runs the migrations, and what the refusal names.
UNSAFE = {
    "member-of-owner": (["GRANT {o} TO {a}", "ALTER DATABASE {db} OWNER TO {o}"], "o",
                        "is a member of {o}"),
    "member-through-another": (["GRANT {o} TO {x}", "GRANT {x} TO {a}",
                                "ALTER DATABASE {db} OWNER TO {o}"], "o", "is a member of {o}"),
    "database-owner": (["ALTER DATABASE {db} OWNER TO {a}"], "super",
                       "the owner of the control database"),
    "createrole": (["ALTER ROLE {a} CREATEROLE"], "super", "CREATEROLE"),
    "bypassrls": (["ALTER ROLE {a} BYPASSRLS"], "super", "BYPASSRLS"),
    "member-of-a-superuser": (["ALTER ROLE {x} SUPERUSER", "GRANT {x} TO {a}"], "super",
                              "is a member of {x}"),
    "write-all-data": (["GRANT pg_write_all_data TO {a}"], "super", "pg_write_all_data"),
}


@pytest.fixture
def roles(pg_url: str) -> Iterator[dict[str, str]]:
    """Three fresh roles, {o} and {a} able to log in, and the control database's name; all
    ownership handed back and the roles dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = {k: f"carehaven_{k}_{tag}" for k in ("o", "a", "x")}
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for key, role in names.items():
            conn.execute(text(f'CREATE ROLE "{role}"' + (" LOGIN" if key != "x" else "")))
    try:
        yield {**names, "db": str(make_url(pg_url).database)}
    finally:
        listed = ", ".join(f'"{r}"' for r in names.values())
        with admin.connect() as conn:
            conn.execute(text(f"REASSIGN OWNED BY {listed} TO CURRENT_USER"))
            conn.execute(text(f"DROP OWNED BY {listed}"))
            for role in names.values():
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.parametrize("case", list(UNSAFE))
def test_an_app_role_that_could_become_the_owner_is_refused(
    tmp_path, pg_url, roles, case, capsys, monkeypatch
):
    """Through ``carehaven init``: exit 10, one sentence naming why, and nothing migrated."""
    setup, runner, named = UNSAFE[case]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in setup:
                conn.execute(text(statement.format(**{k: f'"{v}"' for k, v in roles.items()})))
    finally:
        admin.dispose()
    url = make_url(pg_url)
    as_role = {k: url.set(username=roles[k]).render_as_string(hide_password=False)
               for k in ("o", "a")}
    monkeypatch.setenv("CAREHAVEN_CONTROL_URL", as_role["a"])
    monkeypatch.setenv("CAREHAVEN_CONTROL_ADMIN_URL", as_role["o"] if runner == "o" else pg_url)
    capsys.readouterr()
    code = main(["--haven", str(tmp_path / "haven"), "init"])
    err = capsys.readouterr().err
    assert code == 10, err
    assert named.format(**roles) in " ".join(err.split()) and "Traceback" not in err
    assert "could still drop the audit log's triggers" in " ".join(err.split())
    check = create_engine(pg_url)
    try:
        with check.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('audit_log')")).scalar() is None
    finally:
        check.dispose()
