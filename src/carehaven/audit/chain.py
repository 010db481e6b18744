"""Appending to the hash chain: through the ORM session (``record``) or plain SQL (``append``).

Both lock the head row, compute the link the same way (entry.next_link) and write it in the
caller's transaction, so the entry commits or rolls back with the change it records.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from carehaven.audit.entry import GENESIS, canonical, entry_hash, next_link
from carehaven.audit.events import AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from carehaven.control.models import AuditEntry
    from carehaven.control.rows import Tx

_NO_HEAD = "the audit chain has no head row; is the control database migrated?"


def record(session: Session, event: AuditEvent, *, actor: str) -> AuditEntry:
    """Append ``event`` in the session's transaction: it commits or rolls back with the change."""
    from carehaven.control.models import AuditEntry, AuditHead

    # Locking the head row serialises appenders on PostgreSQL; SQLite has one writer anyway.
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        raise RuntimeError(_NO_HEAD)
    link = next_link(head.seq, head.hash, event, actor=actor)
    entry = AuditEntry(**asdict(link))
    session.add(entry)
    head.seq, head.hash = link.seq, link.hash
    session.flush()
    return entry


def append(tx: Tx, event: AuditEvent, *, actor: str) -> int:
    """Append ``event`` in the plain-SQL transaction ``tx``; the new entry's sequence number."""
    head = tx.first(tx.locked("SELECT seq, hash FROM audit_head WHERE id = 1"))
    if head is None:
        raise RuntimeError(_NO_HEAD)
    link = next_link(int(head[0]), str(head[1]), event, actor=actor)
    tx.run(
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) "
        "VALUES (:seq, :at, :actor, :action, :subject, :details, :prev_hash, :hash)",
        asdict(link),
    )
    tx.run("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
           {"seq": link.seq, "hash": link.hash})
    return link.seq


__all__ = ["GENESIS", "append", "canonical", "entry_hash", "record"]
