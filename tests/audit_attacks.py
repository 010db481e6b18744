"""What an intruder with write access to the control database does to the audit log, step by
step, for the tests that show each is caught (tests/integration/test_audit_*.py)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from carehaven.audit import GENESIS, canonical, entry_hash, record
from carehaven.audit.events import OrganisationAdded
from carehaven.haven import Haven

#: What migration 0001 creates, to put the guard back after a rewrite as a careful intruder
#: would (the trigger check alone must then not be what catches them).
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
]
PG_TRIGGERS = [
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


def with_entries(haven: Haven, n: int) -> None:
    """Append ``n`` ordinary entries."""
    with haven.transaction() as s:
        for i in range(n):
            record(s, OrganisationAdded(code=f"T{i}", kind="partner"), actor="test")


def as_owner(haven: Haven, *statements: str) -> None:
    """Run SQL with the haven's own connection (on SQLite, and on PostgreSQL as the superuser
    the tests connect as: the schema owner's powers)."""
    with haven.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def drop_triggers(haven: Haven) -> None:
    if haven.engine.dialect.name == "sqlite":
        as_owner(haven, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        as_owner(haven, "DROP TRIGGER audit_log_append_only ON audit_log",
                 "DROP TRIGGER audit_log_no_truncate ON audit_log")


def restore_triggers(haven: Haven) -> None:
    sqlite = haven.engine.dialect.name == "sqlite"
    as_owner(haven, *(SQLITE_TRIGGERS if sqlite else PG_TRIGGERS))


def rechain(haven: Haven, start: int, edit: Callable[[Connection], object] | None = None) -> None:
    """Recompute every hash from entry ``start`` on (after ``edit`` changed the rows) and
    move the head, as an intruder who knows the chain's rules would."""
    with haven.engine.begin() as conn:
        if edit is not None:
            edit(conn)
        prev = GENESIS if start == 1 else conn.execute(
            text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": start - 1}).scalar_one()
        rows = conn.execute(text(
            "SELECT seq, at, actor, action, subject, details FROM audit_log WHERE seq >= :s "
            "ORDER BY seq"), {"s": start}).all()
        for seq, at, actor, action, subject, details in rows:
            digest = entry_hash(prev, canonical(seq, at, actor, action, subject, details))
            conn.execute(text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": digest, "s": seq})
            prev = digest
        last = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = :q, hash = :h WHERE id = 1"),
                     {"q": last, "h": prev})


def rewrite_entry(haven: Haven, seq: int, *, restore: bool = True) -> None:
    """The rewrite attack: drop the triggers, alter entry ``seq``, recompute every later hash
    and the head; with ``restore``, put the triggers back as they were."""
    drop_triggers(haven)
    rechain(haven, seq, lambda conn: conn.execute(
        text("UPDATE audit_log SET actor = 'mallory' WHERE seq = :s"), {"s": seq}))
    if restore:
        restore_triggers(haven)
