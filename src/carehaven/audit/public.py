"""The audit log's ``Public`` models: its state (``audit verify --json``, the auditor's page)
and its newest entries (``audit show --json``). Entries name actors and subjects (submission
ids, user names, release labels), never an identifier value: the chain records none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.audit.state import AuditState


class TreeState(Public):
    size: int
    root: str


class LandingState(Public):
    #: How many landed files were read back; None when skipped.
    checked: int | None
    failed: list[dict[str, str]]


class AuditStatePublic(Public):
    ok: bool
    entries: int
    first_bad: int | None
    #: The first problem's sentence; every one is in ``failures``.
    reason: str | None
    failures: list[str]
    chain: dict[str, Any]
    tree: TreeState
    checkpoints: list[dict[str, Any]]
    stored_checkpoints: list[dict[str, Any]]
    triggers: dict[str, Any]
    landing: LandingState

    @classmethod
    def of(cls, state: AuditState) -> AuditStatePublic:
        failures = state.failures
        return cls(
            ok=not failures, entries=state.chain.entries, first_bad=state.first_bad,
            reason=failures[0] if failures else None, failures=failures,
            chain=state.chain.as_json(), tree=TreeState(size=state.log.size,
                                                        root=state.log.root),
            checkpoints=[w.as_json() for w in state.log.witnesses],
            stored_checkpoints=[c.as_json() for c in state.log.stored],
            triggers=state.log.triggers.as_json(),
            landing=LandingState(checked=state.checked,
                                 failed=[p.as_json() for p in state.landed]),
        )


class AuditEntryPublic(Public):
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: str
