"""Engines, sessions and migrations for the control plane."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from carehaven.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

from carehaven.control.version import HEAD as HEAD


def control_url(configured: str | None, sqlite_path: Path) -> str:
    return configured or f"sqlite:///{sqlite_path}"


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url``; ``read_only`` for a SQLite file on a folder nobody may write
    (a haven mounted read-only, or copied for an auditor), which is opened without a journal
    so that read-only commands still work (issue 13 item 13)."""
    if read_only and url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")

        def readonly() -> sqlite3.Connection:
            # With no write-ahead log beside it the file is the whole database, and immutable
            # opens it without the -shm file that cannot be made here; a log left by a writer
            # is read through its -shm (mode=ro), so no commit is missed.
            how = "mode=ro" if Path(path + "-wal").exists() else "mode=ro&immutable=1"
            return sqlite3.connect(f"file:{quote(path)}?{how}", uri=True,
                                   check_same_thread=False)

        engine = create_engine("sqlite://", creator=readonly, future=True)
        event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_foreign_keys(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


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
    move_to(engine, "head")


def move_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (``down``: downgrade) the control database to ``revision``, in one transaction.

    On SQLite a migration that changes a constraint rebuilds the table (Alembic's batch mode:
    copy, drop, rename), and dropping a table that other rows refer to fails while foreign keys
    are enforced. So they are switched off on the migration's connection, outside its
    transaction as SQLite requires, every reference is checked before the commit, and they are
    switched on again before the connection goes back to the pool."""
    from alembic import command

    cfg = _alembic_config(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                (command.downgrade if down else command.upgrade)(cfg, revision)
                if sqlite:
                    _refuse_dangling(conn)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _refuse_dangling(conn: Connection) -> None:
    dangling = {str(row[0]) for row in conn.exec_driver_sql("PRAGMA foreign_key_check")}
    if dangling:
        raise ConfigurationError(
            "The control database's migration would leave rows referring to rows that do not "
            f"exist (in {', '.join(sorted(dangling))}); nothing was changed."
        )


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
        app_role = role_of(app)
        # Refused before the schema is built, so a refused role leaves nothing behind.
        with admin.connect() as conn:
            _refuse_owner_as_app(conn, app_role)
        migrate(admin)
        grant_app_role(admin, app_role)
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


#: Predefined roles (PostgreSQL 14+) whose members get round the grants: writing every table,
#: owning the database's public schema, or running programs and writing files as the server.
_PREDEFINED_UNSAFE = {
    "pg_write_all_data": "can write every table, the audit log's included",
    "pg_database_owner": "owns the database's public schema, so it can drop the audit tables",
    "pg_execute_server_program": "can run programs as the database server",
    "pg_write_server_files": "can write files as the database server",
}


def _refuse_owner_as_app(conn: Connection, app_role: str) -> None:
    """Refuse an application role that could switch the audit log's guard off (exit 10).

    Comparing names is not enough: a role that is a member of the owner can SET ROLE to it, a
    CREATEROLE role can grant itself the owner's role (before PostgreSQL 16), and some
    predefined roles get round the table grants. ``pg_has_role(.., 'MEMBER')`` follows
    membership through every level, including the implicit one of pg_database_owner."""
    found = conn.execute(
        text("SELECT rolsuper, rolcreaterole, rolbypassrls, rolname = current_user "
             "FROM pg_roles WHERE rolname = :r"),
        {"r": app_role},
    ).first()
    if found is None:
        raise ConfigurationError(
            f"The application's role {app_role} (the user in CAREHAVEN_CONTROL_URL) does not "
            "exist in the PostgreSQL server; create it (CREATE ROLE ... LOGIN) first."
        )
    superuser, createrole, bypassrls, is_owner = found
    why: str | None = None
    if superuser:
        why = "a superuser"
    elif is_owner:
        why = "the schema owner (CAREHAVEN_CONTROL_ADMIN_URL)"
    elif createrole:
        why = "allowed to create roles (CREATEROLE), so it can grant itself the owner's role"
    elif bypassrls:
        why = "allowed to bypass row-level security (BYPASSRLS)"
    else:
        why = _unsafe_membership(conn, app_role)
    if why is not None:
        raise ConfigurationError(
            f"The application's role {app_role} is {why}, so it could still drop the audit "
            "log's triggers; connect carehaven as an ordinary role (NOSUPERUSER NOCREATEROLE "
            "NOBYPASSRLS, a member of no owner's role)."
        )


def _unsafe_membership(conn: Connection, app_role: str) -> str | None:
    """Why ``app_role``'s memberships make it unsafe, or None. pg_roles, pg_database,
    pg_namespace and pg_class are readable by every role, and to_regrole answers NULL for a
    predefined role an older server does not have, where naming it would raise."""
    # The roles that own what the application must not control: the schema owner running the
    # migrations, the database, the schema, and every table, view and sequence in it.
    owner = conn.execute(
        text(
            "WITH owners(oid, what) AS ("
            " SELECT oid, 'the role that runs the migrations' FROM pg_roles"
            "  WHERE rolname = current_user"
            " UNION ALL SELECT datdba, 'the owner of the control database' FROM pg_database"
            "  WHERE datname = current_database()"
            " UNION ALL SELECT nspowner, 'the owner of its schema' FROM pg_namespace"
            "  WHERE nspname = current_schema()"
            " UNION ALL SELECT c.relowner, 'the owner of its tables' FROM pg_class c"
            "  JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S'))"
            " SELECT r.rolname, o.what FROM owners o JOIN pg_roles r ON r.oid = o.oid"
            " WHERE pg_has_role(:app, o.oid, 'MEMBER') LIMIT 1"
        ),
        {"app": app_role},
    ).first()
    if owner is not None:
        name, what = owner
        return (f"{what}" if name == app_role
                else f"a member of {name}, {what}")
    strong = conn.execute(
        text("SELECT rolname FROM pg_roles WHERE rolname <> :app "
             "AND (rolsuper OR rolcreaterole OR rolbypassrls) "
             "AND pg_has_role(:app, oid, 'MEMBER') ORDER BY rolname LIMIT 1"),
        {"app": app_role},
    ).scalar()
    if strong is not None:
        return f"a member of {strong}, a superuser or a role that creates roles or bypasses RLS"
    for predefined, power in _PREDEFINED_UNSAFE.items():
        member = conn.execute(
            text("SELECT pg_has_role(:app, to_regrole(:p), 'MEMBER') "
                 "WHERE to_regrole(:p) IS NOT NULL"),
            {"app": app_role, "p": predefined},
        ).scalar()
        if member:
            return f"a member of {predefined}, which {power}"
    return None


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
