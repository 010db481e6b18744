"""The supersession guard: a resubmission that would retire markedly more than it brings is held.

A resubmission (same organisation, dataset and period) normally retires the submission in
force. When it brings fewer than ``supersede_hold_share`` of that submission's accepted rows,
or of its people (distinct local references), it is recorded as *held*: its valid rows are
stored but nothing selects them, and the earlier submission stays in force until someone who
may submit for the organisation (its submitter, or the data team) confirms or withdraws it
(``carehaven submissions confirm|withdraw``). Every in-force selection asks for status
``accepted``, so a held submission is out of force everywhere (tiers, linkage, publication).
The sentence saying what would be lost carries counts only (issue 13 item 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from carehaven.audit.chain import append
from carehaven.audit.events import (
    SubmissionConfirmed,
    SubmissionHeld,
    SubmissionWithdrawn,
)
from carehaven.collection import ledger
from carehaven.collection.ledger import SubmissionRow
from carehaven.collection.reading import ROW_COLUMN
from carehaven.control.kinds import SubmissionStatus
from carehaven.control.rows import Tx
from carehaven.data.rawsql import columns
from carehaven.errors import NotFoundError, UsageError
from carehaven.haven import Haven
from carehaven.specs import Spec

#: The column whose distinct values are a return's people, per dataset: each organisation's own
#: reference for a person. Datasets absent here are compared by rows only.
PERSON_KEY = {
    "ndtms-episode": "client_ref",
    "ips-episode": "client_ref",
    "cld-event": "LA_Person_Unique_Identifier",
    "hmrc-return": "match_ref",
}


@dataclass(frozen=True)
class Brought:
    """What a submission brings: its accepted rows and people (``None``: not counted)."""

    rows: int
    people: int | None


def people_in_file(con: Any, raw_name: str, spec: Spec, bad_rows: pa.Array) -> int | None:
    """Distinct people among the rows of the registered file ``raw_name`` not in ``bad_rows``."""
    key = PERSON_KEY.get(spec.name)
    if key is None:
        return None
    raw = getattr(con, "con", con)
    rejected = pa.Table.from_arrays([bad_rows.cast(pa.int64())], names=[ROW_COLUMN])
    raw.register(f"{raw_name}_rejected", rejected)
    try:
        found = raw.execute(
            f'SELECT count(DISTINCT "{key}") FROM "{raw_name}" '  # noqa: S608 - spec names
            f'ANTI JOIN "{raw_name}_rejected" USING ("{ROW_COLUMN}")'
        ).fetchone()
    finally:
        raw.unregister(f"{raw_name}_rejected")
    return int(found[0]) if found else 0


def people_stored(con: Any, spec: Spec, submission_id: str) -> int | None:
    """Distinct people among the accepted rows the data plane holds for ``submission_id``."""
    key = PERSON_KEY.get(spec.name)
    raw = getattr(con, "con", con)
    if key is None or columns(raw, spec.table_name) is None:
        return None
    found = raw.execute(
        f'SELECT count(DISTINCT "{key}") FROM "{spec.table_name}" '  # noqa: S608 - spec names
        "WHERE _submission_id = $sid",
        {"sid": submission_id},
    ).fetchone()
    return int(found[0]) if found else 0


def hold_reason(previous: SubmissionRow, before: Brought, now: Brought, share: float) -> str | None:
    """Why the new submission is held instead of retiring ``previous``; ``None``: it is not."""
    if share <= 0:
        return None
    rows_short = now.rows < share * before.rows
    people_short = (
        before.people is not None and now.people is not None and now.people < share * before.people
    )
    if not (rows_short or people_short):
        return None
    lost = [f"{before.rows:,} accepted rows with {now.rows:,}"]
    if before.people is not None and now.people is not None:
        lost.append(f"{before.people:,} people with {now.people:,}")
    return (
        f"Held, needs confirmation: it would replace {previous.id}'s {' and its '.join(lost)}, "
        f"under {share:.0%} of what is in force. {previous.id} stays in force until someone "
        "who may submit for the organisation runs carehaven submissions confirm (or withdraw)."
    )


def _held(tx: Tx, submission_id: str) -> SubmissionRow:
    found = ledger.submission(tx, submission_id)
    if found is None:
        raise NotFoundError(f"There is no submission {submission_id} in this haven.")
    if found.status != SubmissionStatus.HELD.value:
        raise UsageError(
            f"Submission {submission_id} is {found.status}, not held: only a held submission "
            "is confirmed or withdrawn."
        )
    return found


def confirm(haven: Haven, submission_id: str, *, actor: str) -> str | None:
    """Put a held submission in force, retiring the one in force; returns that one's id.

    Refused when a submission received after the held one is in force: confirming would put
    older data over newer, so the organisation submits again instead.
    """
    with haven.writer(), haven.rows.transaction() as tx:
        held = _held(tx, submission_id)
        previous = ledger.in_force_for(tx, held.org_code, held.dataset, held.period)
        if previous is not None and previous.received_at > held.received_at:
            raise UsageError(
                f"Submission {submission_id} cannot be confirmed: {previous.id}, received "
                "after it, is in force for the same organisation, dataset and period. Submit "
                "the file again if it should replace that one."
            )
        ledger.set_status(tx, held.id, SubmissionStatus.ACCEPTED)
        append(
            tx,
            SubmissionConfirmed(
                submission_id=held.id,
                supersedes=previous.id if previous else "",
                rows_accepted=held.rows_accepted,
                rows_retired=previous.rows_accepted if previous else 0,
            ),
            actor=actor,
        )
        if previous is None:
            return None
        return ledger.retire(tx, previous, held.id, actor=actor)


def withdraw(haven: Haven, submission_id: str, *, actor: str) -> None:
    """Refuse a held submission: it never comes into force; the one in force stays."""
    with haven.writer(), haven.rows.transaction() as tx:
        held = _held(tx, submission_id)
        ledger.set_status(tx, held.id, SubmissionStatus.WITHDRAWN)
        append(tx, SubmissionWithdrawn(held.id, held.rows_accepted), actor=actor)


@dataclass(frozen=True)
class Hold:
    message: str
    event: SubmissionHeld


def guard(
    haven: Haven,
    con: Any,
    raw_name: str,
    spec: Spec,
    *,
    org: str,
    period: str,
    bad_rows: pa.Array,
    accepted: int,
    submission_id: str,
) -> Hold | None:
    """Whether a file whose valid rows are ``accepted`` is held (called under the writer lock,
    so the submission in force cannot change before the new one is recorded)."""
    share = haven.settings.supersede_hold_share
    previous = ledger.in_force_for(haven.rows, org, spec.name, period)
    if previous is None or share <= 0:
        return None
    before = Brought(previous.rows_accepted, people_stored(con, spec, previous.id))
    now = Brought(accepted, people_in_file(con, raw_name, spec, bad_rows))
    message = hold_reason(previous, before, now, share)
    if message is None:
        return None
    event = SubmissionHeld(
        submission_id=submission_id,
        in_force=previous.id,
        rows_in_force=before.rows,
        rows_brought=now.rows,
        people_in_force=-1 if before.people is None else before.people,
        people_brought=-1 if now.people is None else now.people,
    )
    return Hold(message, event)
