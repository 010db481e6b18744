"""A haven: one folder holding everything the system knows, opened with explicit settings."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from carehaven import __version__
from carehaven.config import Settings
from carehaven.control.kinds import OrgKind
from carehaven.control.rows import Rows
from carehaven.control.version import HEAD
from carehaven.errors import (
    CarehavenError,
    ConfigurationError,
    ExitCode,
    NotFoundError,
    UsageError,
)
from carehaven.haven.keys import MasterKey, create_key_file, load_master_key
from carehaven.haven.lock import writer_lock
from carehaven.haven.paths import HavenPaths

# SQLAlchemy, the ORM models and the audit log are imported where a method needs them: opening
# a haven and reading who acts goes through ``Haven.rows`` (plain SQL), so a read-only command
# starts without them (issue 13 item 8, ADR 0015).
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker


class NoHavenError(CarehavenError):
    exit_code = ExitCode.NO_HAVEN


class UnknownOrganisationError(CarehavenError):
    exit_code = ExitCode.UNKNOWN_ORGANISATION


@dataclass
class Haven:
    settings: Settings
    paths: HavenPaths = field(init=False)

    _writing: threading.local = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.paths = HavenPaths(self.settings.haven.resolve())
        self._writing = threading.local()  # how deep this thread holds the writer lock

    @cached_property
    def read_only(self) -> bool:
        """Whether the haven's folder cannot be written (mounted read-only, or not ours)."""
        return not os.access(self.paths.root, os.W_OK)

    @cached_property
    def engine(self) -> Engine:
        from carehaven.control import db

        url = db.control_url(self.settings.control_url, self.paths.control_db)
        return db.make_engine(url, read_only=self.read_only and self.settings.control_url is None)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from carehaven.control import db

        return db.session_factory(self.engine)

    @cached_property
    def rows(self) -> Rows:
        """Plain SQL on the control plane (control.rows), without SQLAlchemy for the embedded
        SQLite file."""
        embedded = self.settings.control_url is None
        return Rows(self.paths.control_db if embedded else None, lambda: self.engine,
                    read_only=self.read_only)

    @cached_property
    def master_key(self) -> MasterKey:
        secret = self.settings.master_key
        return load_master_key(
            self.paths.key_file, secret.get_secret_value() if secret is not None else None
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from carehaven.control import db

        with db.transaction(self.sessions) as session:
            yield session

    @contextmanager
    def stamping(self) -> Iterator[Session]:
        """A transaction for bookkeeping a read may do (a token's or grant's last use): in a
        read-only haven the same session, rolled back, so reading still works there."""
        if not self.read_only:
            with self.transaction() as session:
                yield session
            return
        with self.sessions() as session, session.no_autoflush:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def writer(self) -> Iterator[None]:
        """The one-writer lock for pipeline steps that touch the data plane.

        Re-entrant in the thread that holds it through this haven: the worker holds the lock
        across a job (carehaven.jobs) and runs submit, which takes it too. Another thread, or
        another Haven object, opens the lock file anew and waits like another process."""
        held = self._writing.__dict__.get("depth", 0)
        if held:
            self._writing.depth = held + 1
            try:
                yield
            finally:
                self._writing.depth = held
            return
        with writer_lock(self.paths.lock, self.settings.lock_timeout_s):
            self._writing.depth = 1
            try:
                yield
            finally:
                self._writing.depth = 0

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    # -- organisations -------------------------------------------------------------------------
    def add_organisation(self, code: str, kind: str, name: str, *, actor: str) -> OrgRecord:
        from carehaven import clock
        from carehaven.audit import record
        from carehaven.audit.events import OrganisationAdded
        from carehaven.control.models import Organisation

        code = code.strip()
        if not code or len(code) > 20 or not code.replace("-", "").isalnum():
            raise UsageError("An organisation code is 1-20 letters, digits or hyphens.")
        if kind not in {k.value for k in OrgKind}:
            raise UsageError(
                f"Unknown organisation kind {kind!r}; use one of: "
                + ", ".join(k.value for k in OrgKind)
                + "."
            )
        with self.transaction() as session:
            if session.get(Organisation, code) is not None:
                raise UsageError(f"Organisation {code} already exists.")
            org = Organisation(
                code=code, name=name.strip() or code, kind=kind, created_at=clock.now()
            )
            session.add(org)
            record(session, OrganisationAdded(code=code, kind=kind), actor=actor)
        return OrgRecord(org.code, org.kind, org.name)

    def organisation(self, code: str) -> OrgRecord:
        found = self.rows.first("SELECT code, kind, name FROM organisations WHERE code = :code",
                                {"code": code})
        if found is None:
            raise UnknownOrganisationError(
                f"Organisation {code} is not registered in this haven; add it with "
                f"'carehaven orgs add {code} --kind ... --name ...'."
            )
        return OrgRecord(*found)

    def organisations(self) -> list[OrgRecord]:
        return [OrgRecord(*r) for r in self.rows.fetch(
            "SELECT code, kind, name FROM organisations ORDER BY code")]

    def schema_is_current(self) -> bool:
        """Whether the control database is at this version's schema (one query)."""
        if not self.rows.embedded:
            from carehaven.control import db

            return db.is_current(self.engine)
        if not self.paths.control_db.is_file():
            return False
        if self.rows.first("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'alembic_version'") is None:
            return False
        return [r[0] for r in self.rows.fetch("SELECT version_num FROM alembic_version")] == [
            HEAD]


@dataclass(frozen=True)
class OrgRecord:
    """A registered organisation, as commands read it."""

    code: str
    kind: str
    name: str


def init_haven(settings: Settings, *, actor: str) -> Haven:
    """Create the haven folder, its key file, and the control database; refuses to redo it."""
    from carehaven.audit import record, signing
    from carehaven.audit.events import HavenInitialised
    from carehaven.consent.notices import published_versions
    from carehaven.control import db
    from carehaven.control.models import HavenMeta, NoticeVersionRecord

    haven = Haven(settings)
    paths = haven.paths
    if paths.marker.exists():
        raise UsageError(f"{paths.root} is already a haven.")
    if paths.root.exists() and any(paths.root.iterdir()):
        raise UsageError(
            f"{paths.root} exists and is not empty; choose a new folder for the haven."
        )
    if settings.control_url is not None:  # before anything is made
        _reach_control(haven)
    for folder in paths.folders():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings.master_key is None:
        create_key_file(paths.key_file)
    if settings.audit_key is None:
        signing.create_key_file(paths.audit_key)
    key = haven.master_key
    db.migrate_control(haven.engine, settings.control_admin_url)
    with haven.transaction() as session:
        session.add(HavenMeta(name=MASTER_KEY_ID, value=key.key_id))
        for v in published_versions():
            session.merge(
                NoticeVersionRecord(
                    notice=v.notice,
                    version=v.version,
                    published_on=v.published_on,
                    change_note=v.change_note,
                    date_stated=v.date_stated,
                )
            )
        record(
            session,
            HavenInitialised(key_id=key.key_id, control=haven.engine.dialect.name),
            actor=actor,
        )
    paths.marker.write_text(json.dumps({"carehaven": __version__, "format": 1}) + "\n")
    return haven


def open_haven(settings: Settings) -> Haven:
    """An initialised haven, with its control database migrated to this version's schema."""
    haven = Haven(settings)
    if not haven.paths.marker.exists():
        raise NoHavenError(
            f"{haven.paths.root} is not a carehaven haven; create one with "
            "'carehaven --haven PATH init'."
        )
    if settings.control_url is not None:
        _reach_control(haven)
    if not haven.schema_is_current():
        if haven.read_only:
            raise ConfigurationError(
                f"{haven.paths.root} is read-only and its control database is from an earlier "
                "version of carehaven; open it writable once to upgrade it."
            )
        from carehaven.control import db

        db.migrate_control(haven.engine, haven.settings.control_admin_url)
    check_key(haven)
    return haven


def _reach_control(haven: Haven) -> None:
    """Refuse (exit 10) a CAREHAVEN_CONTROL_URL that is not a database URL, or names a database
    that cannot be reached. The driver's own message is not shown: it can quote the URL."""
    from sqlalchemy import exc, text

    try:
        with haven.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except exc.ArgumentError:
        raise ConfigurationError(
            "CAREHAVEN_CONTROL_URL is not a database URL; write it like "
            "postgresql+psycopg://USER@HOST:5432/DATABASE."
        ) from None
    except (exc.OperationalError, exc.InterfaceError):
        raise ConfigurationError(
            "The control database that CAREHAVEN_CONTROL_URL names cannot be reached: check "
            "that its server is running, and the URL's host, port, database, user and password."
        ) from None


#: The haven_meta row holding the id of the master key the haven was created with.
MASTER_KEY_ID = "master_key_id"


def check_key(haven: Haven) -> None:
    """Refuse a master key that is not the haven's own (exit 10), before anything is read or
    written with it: another haven's key file or a mistyped CAREHAVEN_MASTER_KEY would
    otherwise give every person a new pseudonym and land new files under the wrong key."""
    found = haven.rows.first("SELECT value FROM haven_meta WHERE name = :name",
                             {"name": MASTER_KEY_ID})
    recorded = None if found is None else str(found[0])
    given = haven.master_key.key_id
    if recorded is None:
        raise ConfigurationError(
            f"{haven.paths.root} records no master key id, so the key given cannot be checked; "
            "the control database is not this haven's or was altered."
        )
    if recorded != given:
        source = (
            "CAREHAVEN_MASTER_KEY" if haven.settings.master_key is not None
            else f"the key file {haven.paths.key_file}"
        )
        raise ConfigurationError(
            f"The master key from {source} ({given}) is not this haven's key "
            f"({recorded}); nothing was read or written. Use the key the haven was "
            "created with."
        )


__all__ = [
    "Haven",
    "NoHavenError",
    "NotFoundError",
    "OrgRecord",
    "UnknownOrganisationError",
    "check_key",
    "init_haven",
    "open_haven",
]
