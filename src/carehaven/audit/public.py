"""The audit log's ``Public`` models: its state (``audit verify --json``, the auditor's page)
and its newest entries (``audit show --json``). Entries name actors and subjects (submission
ids, user names, release labels), never an identifier value: the chain records none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.audit.guards import TriggerCheck
    from carehaven.audit.state import AuditState
    from carehaven.audit.verification import VerifyResult
    from carehaven.audit.witness import Inclusion, StoredCheck, WitnessCheck
    from carehaven.collection.readback import LandedProblem


class ChainPublic(Public):
    """The hash chain walked from the first entry."""

    ok: bool
    entries: int
    first_bad: int | None
    reason: str | None

    @classmethod
    def of(cls, c: VerifyResult) -> ChainPublic:
        return cls(ok=c.ok, entries=c.entries, first_bad=c.first_bad, reason=c.reason)


class WitnessPublic(Public):
    """What one witness's checkpoint file showed (``audit verify --checkpoint``)."""

    file: str
    ok: bool
    size: int | None
    root: str | None
    signed_at: str | None
    key_id: str | None
    #: pinned (--public-key) or haven (this haven's signing key).
    key: str | None
    consistency: dict[str, Any] | None
    first_bad: int | None
    #: What failed: form, key, signature, haven, shorter, root or consistency.
    problem: str | None
    reason: str | None

    @classmethod
    def of(cls, w: WitnessCheck) -> WitnessPublic:
        return cls(file=w.file, ok=w.ok, size=w.size, root=w.root, signed_at=w.signed_at,
                   key_id=w.key_id, key=w.key, consistency=w.consistency,
                   first_bad=w.first_bad, problem=w.problem, reason=w.reason)


class StoredCheckpointPublic(Public):
    """What one checkpoint the haven recorded showed about today's log."""

    checkpoint: str
    ok: bool
    size: int
    root: str
    signed_at: str
    key_id: str
    #: haven, recorded (a previous key) or pinned.
    key: str | None
    first_bad: int | None
    problem: str | None
    reason: str | None

    @classmethod
    def of(cls, c: StoredCheck) -> StoredCheckpointPublic:
        return cls(checkpoint=c.checkpoint, ok=c.ok, size=c.size, root=c.root,
                   signed_at=c.signed_at, key_id=c.key_id, key=c.key, first_bad=c.first_bad,
                   problem=c.problem, reason=c.reason)


class TriggersPublic(Public):
    """Whether the append-only triggers are in place; ``failed`` names each that is not."""

    ok: bool
    failed: list[str]
    reason: str | None

    @classmethod
    def of(cls, t: TriggerCheck) -> TriggersPublic:
        return cls(ok=t.ok, failed=list(t.failed), reason=t.reason)


class LandedProblemPublic(Public):
    submission_id: str
    #: missing, unreadable, tag or digest.
    problem: str

    @classmethod
    def of(cls, p: LandedProblem) -> LandedProblemPublic:
        return cls(submission_id=p.submission_id, problem=p.problem)


class InclusionPublic(Public):
    """The RFC 9162 inclusion proof of one entry, verified before it is given."""

    seq: int
    leaf_index: int
    tree_size: int
    leaf: str
    leaf_hash: str
    path: list[str]
    root: str
    checkpoint: str | None
    verified: bool

    @classmethod
    def of(cls, i: Inclusion) -> InclusionPublic:
        return cls(seq=i.seq, leaf_index=i.seq - 1, tree_size=i.tree_size, leaf=i.leaf,
                   leaf_hash=i.leaf_hash, path=i.path, root=i.root, checkpoint=i.checkpoint,
                   verified=True)


class TreeState(Public):
    size: int
    root: str


class LandingState(Public):
    #: How many landed files were read back; None when skipped.
    checked: int | None
    failed: list[LandedProblemPublic]


class AuditStatePublic(Public):
    ok: bool
    entries: int
    first_bad: int | None
    #: The first problem's sentence; every one is in ``failures``.
    reason: str | None
    failures: list[str]
    chain: ChainPublic
    tree: TreeState
    checkpoints: list[WitnessPublic]
    stored_checkpoints: list[StoredCheckpointPublic]
    triggers: TriggersPublic
    landing: LandingState

    @classmethod
    def of(cls, state: AuditState) -> AuditStatePublic:
        failures = state.failures
        return cls(
            ok=not failures, entries=state.chain.entries, first_bad=state.first_bad,
            reason=failures[0] if failures else None, failures=failures,
            chain=ChainPublic.of(state.chain),
            tree=TreeState(size=state.log.size, root=state.log.root),
            checkpoints=[WitnessPublic.of(w) for w in state.log.witnesses],
            stored_checkpoints=[StoredCheckpointPublic.of(c) for c in state.log.stored],
            triggers=TriggersPublic.of(state.log.triggers),
            landing=LandingState(checked=state.checked,
                                 failed=[LandedProblemPublic.of(p) for p in state.landed]),
        )


class AuditEntryPublic(Public):
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: str
