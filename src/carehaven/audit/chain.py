"""Appending to the hash chain."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit.events import AuditEvent
from carehaven.control.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def canonical(seq: int, at: str, actor: str, action: str, subject: str, details: str) -> bytes:
    """The bytes an entry's hash covers (besides the previous hash)."""
    return json.dumps(
        [seq, at, actor, action, subject, details], ensure_ascii=False, separators=(",", ":")
    ).encode()


def entry_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def record(session: Session, event: AuditEvent, *, actor: str) -> AuditEntry:
    """Append ``event`` in the session's transaction: it commits or rolls back with the change."""
    # Locking the head row serialises appenders on PostgreSQL; SQLite has one writer anyway.
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        raise RuntimeError("the audit chain has no head row; is the control database migrated?")
    seq = head.seq + 1
    at = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    details = json.dumps(event.details(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = entry_hash(head.hash, canonical(seq, at, actor, event.action, event.subject, details))
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=event.action,
        subject=event.subject,
        details=details,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry
