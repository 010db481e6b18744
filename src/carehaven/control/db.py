"""Engines, sessions and migrations for the control plane."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from carehaven.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration. Checked against the migration scripts by a test, so that opening a
#: haven needs one query rather than Alembic and every script (most of a command's start-up).
HEAD = "0006"


def control_url(configured: str | None, sqlite_path: Path) -> str:
    return configured or f"sqlite:///{sqlite_path}"


def make_engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
    cur.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
    cur.close()


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("carehaven.control") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the control database to the newest schema."""
    from alembic import command

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def migrate_control(app: Engine, admin_url: str | None) -> None:
    """Migrate the control database: as the application's own role, or, when ``admin_url``
    (CAREHAVEN_CONTROL_ADMIN_URL) is set, as the schema owner, granting the application's role
    only what it needs afterwards (``grant_app_role``)."""
    if admin_url is None:
        migrate(app)
        return
    if app.dialect.name != "postgresql":
        raise ConfigurationError(
            "CAREHAVEN_CONTROL_ADMIN_URL is for a PostgreSQL control database; unset it, or "
            "set CAREHAVEN_CONTROL_URL to the PostgreSQL database as the application's role."
        )
    admin = make_engine(admin_url)
    try:
        if (admin.url.host, admin.url.port, admin.url.database) != (
            app.url.host, app.url.port, app.url.database
        ):
            raise ConfigurationError(
                "CAREHAVEN_CONTROL_ADMIN_URL and CAREHAVEN_CONTROL_URL name different databases; "
                "they must be the same database as two roles."
            )
        migrate(admin)
        grant_app_role(admin, role_of(app))
    finally:
        admin.dispose()


#: What the application's role may do to each table when the schema has another owner: the
#: audit tables can be read and appended to, never rewritten (docs/security.md).
APP_PRIVILEGES = {
    "audit_log": "SELECT, INSERT",
    "audit_checkpoints": "SELECT, INSERT",
    "audit_head": "SELECT, UPDATE",
    "alembic_version": "SELECT",
}
ORDINARY_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def role_of(engine: Engine) -> str:
    """The role an engine connects as."""
    if not engine.url.username:
        raise ConfigurationError(
            "CAREHAVEN_CONTROL_URL names no user; with CAREHAVEN_CONTROL_ADMIN_URL set it must "
            "name the application's own role."
        )
    return engine.url.username


def grant_app_role(admin: Engine, app_role: str) -> None:
    """Give ``app_role`` rows but not ownership: no TRUNCATE, no DDL, so no way to drop or
    disable the audit log's triggers; only SELECT and INSERT on the append-only tables."""
    with admin.begin() as conn:
        _refuse_owner_as_app(conn, app_role)
        quote = conn.dialect.identifier_preparer.quote
        role = quote(app_role)
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {role}"))
        for table in inspect(conn).get_table_names(schema=schema):
            privileges = APP_PRIVILEGES.get(table, ORDINARY_PRIVILEGES)
            conn.execute(text(f"REVOKE ALL ON TABLE {quote(table)} FROM {role}"))
            conn.execute(text(f"GRANT {privileges} ON TABLE {quote(table)} TO {role}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} "
                          f"TO {role}"))


def _refuse_owner_as_app(conn: Connection, app_role: str) -> None:
    found = conn.execute(
        text("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = :r"),
        {"r": app_role},
    ).first()
    if found is None:
        raise ConfigurationError(
            f"The application's role {app_role} (the user in CAREHAVEN_CONTROL_URL) does not "
            "exist in the PostgreSQL server; create it (CREATE ROLE ... LOGIN) first."
        )
    superuser, is_owner = found
    if superuser or is_owner:
        raise ConfigurationError(
            f"The application's role {app_role} is "
            + ("a superuser" if superuser else "the schema owner (CAREHAVEN_CONTROL_ADMIN_URL)")
            + ", so it could still drop the audit log's triggers; connect carehaven as an "
            "ordinary role."
        )


def script_head(engine: Engine) -> str | None:
    """The newest revision among the migration scripts (what ``HEAD`` must equal)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def is_current(engine: Engine) -> bool:
    """Whether the control database is at ``HEAD`` (one query; no Alembic import)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return found == [HEAD]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: committed whole on success, rolled back whole on any error."""
    with factory() as session, session.begin():
        yield session
