"""The audit log's state, as ``carehaven audit verify`` and the auditor's web page report it:
the hash chain, the Merkle tree and its checkpoints, the append-only triggers and (unless
skipped) every landed file read back (issue 14 part 0: moved out of the command line)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from carehaven.audit.verification import VerifyResult
    from carehaven.audit.witness import LogCheck
    from carehaven.collection.readback import LandedProblem
    from carehaven.haven import Haven


@dataclass(frozen=True)
class AuditState:
    chain: VerifyResult
    log: LogCheck
    #: None when the landed files were not read back.
    checked: int | None
    landed: list[LandedProblem] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """One sentence per problem: the chain first, then the tree, then the landing zone."""
        return (([self.chain.reason] if not self.chain.ok and self.chain.reason else [])
                + self.log.reasons()
                + ([landing_sentence(self.landed)] if self.landed else []))

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first_bad(self) -> int | None:
        return self.chain.first_bad if not self.chain.ok else self.log.first_bad()


def landing_sentence(problems: list[LandedProblem]) -> str:
    first = problems[0].sentence()
    if len(problems) == 1:
        return first
    named = ", ".join(p.submission_id for p in problems[1:6])
    more = f" and {len(problems) - 6:,} others" if len(problems) > 6 else ""
    return f"{first}, and the landed files of {named}{more} fail too"


def check(
    haven: Haven,
    checkpoints: Sequence[Path] = (),
    *,
    pinned: Ed25519PublicKey | None = None,
    skip_landing: bool = False,
    say: Callable[[str], None] | None = None,
    step: Callable[[int, int], None] | None = None,
) -> AuditState:
    """Verify everything; ``say`` hears each stage, ``step`` the landed files read back."""
    from carehaven.audit.verification import verify
    from carehaven.audit.witness import check_log

    tell = say or (lambda _m: None)
    tell("walking the hash chain")
    chain = verify(haven.engine)
    tell("recomputing the Merkle tree")
    log = check_log(haven, list(checkpoints), pinned=pinned)
    if skip_landing:
        return AuditState(chain, log, None)
    # Importing the collection's reader is slow: only when the files are read back.
    from carehaven.collection.readback import verify_landed

    checked = 0

    def counted(done: int, total: int) -> None:
        nonlocal checked
        checked = total
        if step is not None:
            step(done, total)

    landed = verify_landed(haven, counted)
    return AuditState(chain, log, checked, landed)


@dataclass(frozen=True)
class EntryView:
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: str


def newest(haven: Haven, limit: int = 20) -> list[EntryView]:
    """The newest ``limit`` entries of the log, oldest of them first (plain SQL)."""
    limit = max(1, min(int(limit), 1 << 62))  # the database's integers are 64-bit
    rows = haven.rows.fetch(
        "SELECT seq, at, actor, action, subject, details FROM audit_log "
        "ORDER BY seq DESC LIMIT :limit", {"limit": limit})
    return [EntryView(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]))
            for r in reversed(rows)]
