"""Whether the audit log's append-only triggers (migration 0001) are still in place.

The triggers do not prove anything: whoever can drop them can also recreate them after a
rewrite, which only a witnessed checkpoint catches. But a log whose guard is gone is a log
someone switched off on purpose, and a checkpoint signed over it would bless whatever was done
while it was off; so ``audit verify`` reports it and ``audit checkpoint`` refuses to sign.

Each trigger is compared with what the migration created, not only by name: a trigger of the
same name that does nothing (or fires on INSERT, or under a WHEN that is never true) is no guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

#: SQLite: the exact statements of migration 0001 (sqlite_master keeps the text as given).
SQLITE_TRIGGERS = {
    f"audit_log_no_{verb.lower()}": (
        f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    for verb in ("UPDATE", "DELETE")
}

# PostgreSQL pg_trigger.tgtype bits (include/catalog/pg_trigger.h).
_ROW, _BEFORE, _DELETE, _UPDATE, _TRUNCATE = 1, 2, 8, 16, 32
#: PostgreSQL: each trigger's name and the tgtype bits it must have.
PG_TRIGGERS = {
    "audit_log_append_only": _ROW | _BEFORE | _UPDATE | _DELETE,
    "audit_log_no_truncate": _BEFORE | _TRUNCATE,
}
PG_FUNCTION = "audit_log_append_only"
PG_FUNCTION_BODY = "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END"

SENTENCE = "the append-only triggers were removed or disabled"


@dataclass(frozen=True)
class TriggerCheck:
    """``failed`` names each trigger that is missing, disabled or not the migration's."""

    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def reason(self) -> str | None:
        if self.ok:
            return None
        verb = "is" if len(self.failed) == 1 else "are"
        return (f"{SENTENCE}: {', '.join(self.failed)} {verb} missing, disabled or not what "
                "migration 0001 made")


def check_triggers(engine: Engine) -> TriggerCheck:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return TriggerCheck(_sqlite_failed(conn))
        return TriggerCheck(_pg_failed(conn))


def _normal(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _sqlite_failed(conn: Connection) -> list[str]:
    found: dict[str, str | None] = {
        row.name: row.sql
        for row in conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                 "AND tbl_name = 'audit_log'")
        )
    }
    return [name for name, sql in SQLITE_TRIGGERS.items()
            if _normal(found.get(name)) != _normal(sql)]


def _pg_failed(conn: Connection) -> list[str]:
    # pg_trigger and pg_proc are readable by every role, the application's included.
    # tgenabled: O fires in ordinary sessions, A always; D is disabled and R fires only in
    # replication sessions, so neither guards the log.
    rows = conn.execute(
        text(
            "SELECT t.tgname, t.tgenabled::text, t.tgtype::int, t.tgqual IS NULL, "
            "cardinality(t.tgattr::int2[]), p.proname, p.prosrc "
            "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = to_regclass('audit_log') AND NOT t.tgisinternal"
        )
    ).all()
    good = {
        name
        for name, enabled, kind, unconditional, columns, function, body in rows
        if name in PG_TRIGGERS
        and enabled in ("O", "A")
        and kind & PG_TRIGGERS[name] == PG_TRIGGERS[name]
        and unconditional
        and not columns  # UPDATE OF <columns> would let the other columns change
        and function == PG_FUNCTION
        and _normal(body) == PG_FUNCTION_BODY
    }
    return [name for name in PG_TRIGGERS if name not in good]
