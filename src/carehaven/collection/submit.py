"""Submitting a file: land, validate, report, accept, record, as one step that lands whole.

Order matters for crash safety. Everything written before the control-plane commit (the landed
file, the report, the accepted rows) is tagged with the new submission id, and a submission exists
only once its control-plane row commits, in the same transaction as its audit entries and the
supersession of the submission it replaces. A step that dies earlier leaves only orphans, which
``recovery.recover`` removes before the next write.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from carehaven import clock
from carehaven.audit.chain import append
from carehaven.audit.events import SubmissionReceived, SubmissionRefused
from carehaven.collection import landing, ledger, references, report
from carehaven.collection.accept import accept
from carehaven.collection.cadence import require_no_overlap
from carehaven.collection.context import Context
from carehaven.collection.ledger import NewSubmission, SubmissionRow
from carehaven.collection.masking import shape
from carehaven.collection.period import Period, parse_period, require_begun
from carehaven.collection.plan import plan_for
from carehaven.collection.reading import FileRejectedError, check_size, read_table
from carehaven.collection.recovery import journal, recover
from carehaven.collection.supersession import Hold, guard
from carehaven.collection.validate import Validation, counts_by_rule, file_finding, validate
from carehaven.control.kinds import SubmissionStatus
from carehaven.data.rawsql import open_data
from carehaven.errors import UsageError, WrongSubmitterError
from carehaven.faults import checkpoint
from carehaven.haven import Haven, OrgRecord
from carehaven.specs import Spec, load_spec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SubmitResult:
    submission_id: str
    status: Literal["accepted", "rejected", "held", "unchanged"]
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    message: str
    report: Path | None = None
    superseded: str | None = None



STAGES = ("read", "land", "validate", "report", "accept", "record")

#: Datasets that one partner named in the sharing policy's data returns, and nobody else: by
#: the policy's name for it (``partners.json``). HMRC alone answers the IPS exchange (XCH-2).
PARTNER_RETURNS: dict[str, str] = {"hmrc-return": "hmrc"}

#: A file name's words: split on ``_``, ``-`` and ``.``.
_WORD = re.compile(r"[_.-]+")
_SAFE_CHARS = re.compile(r"[A-Za-z0-9_.-]{1,100}")
#: Words a name may carry besides the org code, dataset and period: a version or a counter.
_COUNTER = re.compile(r"v?[0-9]{1,2}", re.IGNORECASE)
_KEPT_SUFFIXES = frozenset({"csv", "txt"})


def shown_file_name(name: str, *, org: str, dataset: str, period: Period) -> str:
    """A submitted file's name as the haven keeps and shows it: as it is when it is in a
    conventional form, else only its shape (``masking.shape``).

    A name is kept when it is at most 100 characters of letters, digits, ``_``, ``-`` and
    ``.``, ends in ``.csv`` (or ``.txt``), and every word of its stem is the organisation's
    code, the dataset's name or one of its words, the period (``2025Q2``, or its year and
    ``Q2``; ``2025-06``, or its year and month), or a version or counter of at most two
    digits (``v2``, ``3``). So ``P001_2025Q2.csv``, ``P001-ndtms-episode-2025Q2-v2.csv`` are
    kept; ``E08000035_2025Q2_4283089648_Declan_Phillips.csv`` is kept and shown only as
    ``A99999999*9999A9*9999999999*AAAAAA*AAAAA….csv`` (the stem's shape, cut at 40
    characters): a name can hold a person's names and numbers, and the haven keeps no more
    of it than it has judged safe (docs/security.md, "Output paths and file names").
    """
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if suffix.casefold() in _KEPT_SUFFIXES and _SAFE_CHARS.fullmatch(name):
        known = {org.casefold(), dataset.casefold(), period.label.casefold(),
                 str(period.start.year)}
        known |= {w.casefold() for w in _WORD.split(dataset) if w}
        if period.kind == "quarter":
            known.add(f"q{(period.start.month + 2) // 3}")
        else:
            known.add(f"{period.start.month:02d}")
        words = [w for w in _WORD.split(stem) if w]
        if words and all(w.casefold() in known or _COUNTER.fullmatch(w) for w in words):
            return name
    kept = "." + suffix.casefold() if dot and suffix.casefold() in _KEPT_SUFFIXES else ""
    return shape(stem if kept else name) + kept


def _partner_refusal(dataset: str, code: str, kind: str) -> str | None:
    """Why ``code`` may not submit ``dataset``, a return only a named partner makes (COL-9)."""
    named = PARTNER_RETURNS.get(dataset)
    if named is None:
        return None
    from carehaven.governance.policy.engine import partners  # Cedar, only for a partner's return

    partner = next((p for p in partners() if p.name == named), None)
    if partner is None:
        return (
            f"Organisation {code} may not submit {dataset}: it is returned only by a partner "
            "the sharing policy's data names, and none is named for it (COL-9). Nothing was "
            "landed."
        )
    if code.upper() == partner.recipient and kind == partner.kind:
        return None
    return (
        f"Organisation {code}, of kind {kind}, may not submit {dataset}: only {partner.title} "
        f"({partner.recipient}), the partner the sharing policy names, returns it (COL-9). "
        "Nothing was landed."
    )


def admissible(
    haven: Haven, *, dataset: str, org: str, period: str, actor: str
) -> tuple[Spec, OrgRecord, Period]:
    """The dataset, organisation and period of a submission submit would not refuse at once:
    an unknown dataset or organisation, a kind that does not return the dataset (recorded as
    SubmissionRefused), a period not begun, of the wrong kind, or overlapping one in force.
    The portal asks this before it queues an upload (carehaven.jobs.queue)."""
    spec = load_spec(dataset)
    organisation = haven.organisation(org)
    refused = spec.refusal(organisation.code, organisation.kind) or _partner_refusal(
        spec.name, organisation.code, organisation.kind
    )
    if refused is not None:  # before anything is read or landed; the attempt is recorded
        with haven.rows.transaction() as tx:
            append(tx, SubmissionRefused(organisation.code, organisation.kind, spec.name),
                   actor=actor)
        raise WrongSubmitterError(refused)
    when = require_begun(parse_period(period))
    if when.kind not in spec.periods:
        raise UsageError(
            f"{spec.name} is returned by {' or '.join(spec.periods)}, "
            f"not by {when.kind} ({when.label})."
        )
    require_no_overlap(haven, organisation.code, spec.name, when)
    return spec, organisation, when


def submit(
    haven: Haven,
    path: Path,
    *,
    dataset: str,
    org: str,
    period: str,
    actor: str,
    progress: Progress | None = None,
    file_name: str | None = None,
) -> SubmitResult:
    """Submit one file; returns once the haven holds it fully, or raises having changed nothing.

    ``file_name`` is the name the submission records and shows (through ``shown_file_name``)
    when it is not the file's own: the portal's upload has a random name, the client's is kept.
    """
    step = progress or (lambda _stage: None)
    spec, organisation, when = admissible(haven, dataset=dataset, org=org, period=period,
                                          actor=actor)
    name = shown_file_name(file_name or path.name, org=organisation.code, dataset=spec.name,
                           period=when)
    if path.is_symlink():  # a link could land any file the haven's account can read
        raise UsageError(
            f"{name} in {path.parent} is a symbolic link; submit the file itself, not a link "
            "to it. Nothing was landed."
        )
    if path.exists() and not path.is_file():  # a folder, a FIFO, a device
        raise UsageError(
            f"{name} in the folder {path.parent} is not a regular file; submit a CSV file."
        )
    if not path.is_file():
        raise UsageError(f"There is no file {name} in the folder {path.parent}.")
    with haven.writer():
        con = open_data(haven.paths.data_db)
        try:
            recover(haven, con, actor=actor)
            step("read")
            check_size(path.stat().st_size, haven.settings.max_file_mb, name)
            data = _read_no_follow(path, name)
            digest = hashlib.sha256(data).hexdigest()
            same = _same_bytes(haven, organisation.code, spec.name, when.label, digest)
            if same is not None:
                return SubmitResult(
                    same.id,
                    "unchanged",
                    same.rows_total,
                    same.rows_accepted,
                    same.rows_rejected,
                    same.findings,
                    f"These bytes were already submitted as {same.id}; nothing changed.",
                )
            sid = "sub-" + secrets.token_hex(6)
            with journal(haven, f"submit {sid}"):
                return _submit_new(
                    haven, con, spec, organisation.code, when, name, data, digest, sid, actor, step,
                    kind=organisation.kind,
                )
        finally:
            con.close()


def _submit_new(
    haven: Haven,
    con: Any,
    spec: Spec,
    org: str,
    when: Period,
    name: str,
    data: bytes,
    digest: str,
    sid: str,
    actor: str,
    step: Progress,
    *,
    kind: str,
) -> SubmitResult:
    settings, paths = haven.settings, haven.paths
    size = len(data)
    step("land")
    key = haven.master_key
    landing.land(paths.landing, paths.tmp, key, sid, data)
    checkpoint(settings, "landed")

    step("validate")
    # One name for every submission: each submit has its own connection, and a fixed name lets
    # validation reuse the SQL it compiled for the dataset.
    raw_name = "_submitted"
    result: Validation | None = None
    try:
        table = read_table(data, spec, name)
    except FileRejectedError as rejected:
        p = rejected.problem
        findings = file_finding(p.rule, p.message, p.line)
        rows = 0
        message = p.message
    else:
        con.register(raw_name, table)
        ctx = Context(org_code=org, period=when, notices=ledger.notices(haven.rows),
                      org_kind=kind, references=references.for_submission(haven, con, spec, org))
        # Compiled once per spec and notices, then read from the haven (ADR 0014).
        plan = plan_for(raw_name, spec, ctx.notices, ctx.as_table().schema,
                        folder=paths.plans, seal_key=key.derive("plans/v1"))
        result = validate(con, raw_name, spec, ctx, plan=plan)
        findings, rows = result.findings, result.rows
        message = _row_message(result)
    checkpoint(settings, "validated")

    accepted_rows = result.accepted if result else 0
    hold: Hold | None = None
    if result is not None and accepted_rows > 0:
        hold = guard(haven, con, raw_name, spec, org=org, period=when.label,
                     bad_rows=result.bad_rows, accepted=accepted_rows, submission_id=sid)
    status = (
        SubmissionStatus.HELD  # its rows are kept, out of force, until someone confirms it
        if hold is not None
        else SubmissionStatus.ACCEPTED if accepted_rows > 0 else SubmissionStatus.REJECTED
    )
    if hold is not None:
        message = f"{message} {hold.message}"
    received = clock.now()
    summary = {
        "submission_id": sid,
        "org": org,
        "dataset": spec.name,
        "spec_version": spec.version,
        "period": when.label,
        "file_name": name,
        "sha256": digest,
        "size_bytes": size,
        "received_at": received.isoformat(timespec="seconds"),
        "status": status.value,
        "message": message,
        "rows": {"total": rows, "accepted": accepted_rows, "rejected": rows - accepted_rows},
        "findings": findings.num_rows,
        "by_rule": counts_by_rule(findings),
    }
    step("report")
    report_dir = report.write(paths.reports / sid, paths.tmp, summary, findings)
    checkpoint(settings, "reported")

    step("accept")
    if result is not None and status in (SubmissionStatus.ACCEPTED, SubmissionStatus.HELD):
        inserted = accept(con, raw_name, spec, plan, result.bad_rows, sid)
        if inserted != accepted_rows:  # pragma: no cover - a broken engine, not bad input
            raise RuntimeError(f"accepted {inserted} rows where {accepted_rows} were valid")
    if result is not None:
        con.unregister(raw_name)
    checkpoint(settings, "accepted")

    step("record")
    row = NewSubmission(
        id=sid,
        org_code=org,
        dataset=spec.name,
        spec_version=spec.version,
        period=when.label,
        file_name=name,
        sha256=digest,
        size_bytes=size,
        received_at=received,
        status=status.value,
        rows_total=rows,
        rows_accepted=accepted_rows,
        rows_rejected=rows - accepted_rows,
        findings=findings.num_rows,
        message=message,
        summary={"by_rule": summary["by_rule"]},
        landing_key_id=key.key_id,
    )
    superseded = _record(haven, spec, row, actor, hold)
    checkpoint(settings, "committed")
    return SubmitResult(
        sid,
        cast(Literal["accepted", "rejected", "held"], status.value),  # never withdrawn here
        rows,
        accepted_rows,
        rows - accepted_rows,
        findings.num_rows,
        message,
        report_dir,
        superseded,
    )


def _read_no_follow(path: Path, name: str) -> bytes:
    """The file's bytes, opened without following a link swapped in since it was checked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(
            f"{name} in {path.parent} cannot be read ({exc.strerror or type(exc).__name__}); "
            "nothing was landed."
        ) from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _same_bytes(
    haven: Haven, org: str, dataset: str, period: str, digest: str
) -> SubmissionRow | None:
    """The submission these exact bytes already are: the one in force, or the latest received."""
    slot = ledger.slot(haven.rows, org, dataset, period)
    candidates = [s for s in slot if s.in_force] + slot[:1]
    return next((s for s in candidates if s.sha256 == digest), None)


def _row_message(v: Validation) -> str:
    if v.accepted == 0:
        return (
            f"Every one of the {v.rows:,} rows has a finding, so nothing was accepted; "
            "see the report."
        )
    if v.rejected == 0:
        return f"All {v.rows:,} rows accepted."
    return (
        f"{v.accepted:,} of {v.rows:,} rows accepted; {v.rejected:,} rows rejected with "
        f"{v.findings.num_rows:,} findings (see the report)."
    )


def _record(
    haven: Haven, spec: Spec, row: NewSubmission, actor: str, hold: Hold | None = None
) -> str | None:
    """One transaction: spec in use, the submission, what it supersedes, and their audit entries."""
    with haven.rows.transaction() as tx:
        ledger.register_spec(tx, spec, row.received_at, actor=actor)
        previous = None
        if row.status == SubmissionStatus.ACCEPTED.value:
            previous = ledger.in_force_for(tx, row.org_code, row.dataset, row.period)
        ledger.insert(tx, row)
        append(
            tx,
            SubmissionReceived(
                submission_id=row.id,
                org=row.org_code,
                dataset=row.dataset,
                period=row.period,
                sha256=row.sha256,
                status=row.status,
                rows_total=row.rows_total,
                rows_accepted=row.rows_accepted,
                rows_rejected=row.rows_rejected,
                findings=row.findings,
                landing_key_id=row.landing_key_id,
            ),
            actor=actor,
        )
        if hold is not None:
            append(tx, hold.event, actor=actor)
        return None if previous is None else ledger.retire(tx, previous, row.id, actor=actor)
