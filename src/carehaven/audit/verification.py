"""Walking the chain: the first entry that was altered, removed, inserted or reordered."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from carehaven.audit.entry import GENESIS, canonical, entry_hash
from carehaven.control.models import AuditEntry, AuditHead

#: The columns an entry's hash covers, in the order ``canonical`` takes them.
CHAIN_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.subject,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad: int | None
    reason: str | None


def verify(engine: Engine, *, batch: int = 20_000) -> VerifyResult:
    """Check every entry in order; stream, so a million entries need little memory."""
    running, expected_seq, count = GENESIS, 1, 0
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
        rows = conn.execution_options(yield_per=batch).execute(
            select(*CHAIN_COLUMNS).order_by(AuditEntry.seq)
        )
        for seq, at, actor, action, subject, details, prev_hash, stored in rows:
            count += 1
            own = entry_hash(prev_hash, canonical(seq, at, actor, action, subject, details))
            if own != stored:
                return _bad(
                    total, seq, f"entry {seq} was altered: its content does not match its hash"
                )
            if seq != expected_seq or prev_hash != running:
                what = "removed" if seq > expected_seq else "inserted or reordered"
                return _bad(
                    total,
                    seq,
                    f"the chain breaks at entry {seq}: an entry before it was "
                    f"{what} (expected entry {expected_seq} to follow)",
                )
            running, expected_seq = stored, seq + 1
    if head is None:
        return _bad(total, None, "the chain's head record is missing")
    if head.seq != count or head.hash != running:
        return _bad(
            total,
            count + 1 if head.seq > count else head.seq,
            f"the log ends at entry {count} but the head records entry {head.seq}: "
            "entries were removed from the end or the head was altered",
        )
    return VerifyResult(ok=True, entries=count, first_bad=None, reason=None)


def _bad(total: int, seq: int | None, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, entries=total, first_bad=seq, reason=reason)
