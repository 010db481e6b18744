"""Submitting a file: land, validate, report, accept, record, as one step that lands whole.

Order matters for crash safety. Everything written before the control-plane commit (the landed
file, the report, the accepted rows) is tagged with the new submission id, and a submission exists
only once its control-plane row commits, in the same transaction as its audit entries and the
supersession of the submission it replaces. A step that dies earlier leaves only orphans, which
``recovery.recover`` removes before the next write.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import (
    SpecRegistered,
    SubmissionReceived,
    SubmissionRefused,
    SubmissionSuperseded,
)
from carehaven.collection import landing, report
from carehaven.collection.accept import accept
from carehaven.collection.period import Period, parse_period
from carehaven.collection.reading import FileRejectedError, check_size, read_table
from carehaven.collection.recovery import journal, recover
from carehaven.collection.rules import Context
from carehaven.collection.validate import Validation, counts_by_rule, file_finding, validate
from carehaven.consent.notices import NoticeVersion
from carehaven.control.models import (
    DatasetSpecRecord,
    NoticeVersionRecord,
    Submission,
    SubmissionStatus,
)
from carehaven.data import connect
from carehaven.errors import UsageError, WrongSubmitterError
from carehaven.faults import checkpoint
from carehaven.haven import Haven
from carehaven.specs import Spec, load_spec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SubmitResult:
    submission_id: str
    status: Literal["accepted", "rejected", "unchanged"]
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    message: str
    report: Path | None = None
    superseded: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "submission_id": self.submission_id,
            "status": self.status,
            "rows": {
                "total": self.rows_total,
                "accepted": self.rows_accepted,
                "rejected": self.rows_rejected,
            },
            "findings": self.findings,
            "message": self.message,
            "report": str(self.report) if self.report else None,
            "superseded": self.superseded,
        }


STAGES = ("read", "land", "validate", "report", "accept", "record")


def submit(
    haven: Haven,
    path: Path,
    *,
    dataset: str,
    org: str,
    period: str,
    actor: str,
    progress: Progress | None = None,
) -> SubmitResult:
    """Submit one file; returns once the haven holds it fully, or raises having changed nothing."""
    step = progress or (lambda _stage: None)
    spec = load_spec(dataset)
    organisation = haven.organisation(org)
    refused = spec.refusal(organisation.code, organisation.kind)
    if refused is not None:  # before anything is read or landed; the attempt is recorded
        with haven.transaction() as session:
            record(session, SubmissionRefused(organisation.code, organisation.kind, spec.name),
                   actor=actor)
        raise WrongSubmitterError(refused)
    when = parse_period(period)
    if when.kind not in spec.periods:
        raise UsageError(
            f"{spec.name} is returned by {' or '.join(spec.periods)}, "
            f"not by {when.kind} ({when.label})."
        )
    if not path.is_file():
        raise UsageError(f"There is no file at {path}.")
    name = path.name
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            recover(haven, con, actor=actor)
            step("read")
            check_size(path.stat().st_size, haven.settings.max_file_mb, name)
            data = path.read_bytes()
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
                    haven, con, spec, organisation.code, when, name, data, digest, sid, actor, step
                )
        finally:
            con.disconnect()


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
        con.con.register(raw_name, table)
        ctx = Context(org_code=org, period=when, notices=_notices(haven))
        result = validate(con, raw_name, spec, ctx)
        findings, rows = result.findings, result.rows
        message = _row_message(result)
    checkpoint(settings, "validated")

    accepted_rows = result.accepted if result else 0
    status = SubmissionStatus.ACCEPTED if accepted_rows > 0 else SubmissionStatus.REJECTED
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
    if result is not None and status is SubmissionStatus.ACCEPTED:
        inserted = accept(con, raw_name, spec, result.bad_rows, sid)
        if inserted != accepted_rows:  # pragma: no cover - a broken engine, not bad input
            raise RuntimeError(f"accepted {inserted} rows where {accepted_rows} were valid")
    if result is not None:
        con.con.unregister(raw_name)
    checkpoint(settings, "accepted")

    step("record")
    row = Submission(
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
    superseded = _record(haven, spec, row, actor)
    checkpoint(settings, "committed")
    return SubmitResult(
        sid,
        status.value,
        rows,
        accepted_rows,
        rows - accepted_rows,
        findings.num_rows,
        message,
        report_dir,
        superseded,
    )


def _same_bytes(
    haven: Haven, org: str, dataset: str, period: str, digest: str
) -> Submission | None:
    """The submission these exact bytes already are: the one in force, or the latest received."""
    with haven.sessions() as session:
        slot = list(
            session.scalars(
                select(Submission)
                .where(
                    Submission.org_code == org,
                    Submission.dataset == dataset,
                    Submission.period == period,
                )
                .order_by(Submission.received_at.desc())
            )
        )
    in_force = [s for s in slot if s.status == "accepted" and s.superseded_by is None]
    candidates = in_force + slot[:1]
    return next((s for s in candidates if s.sha256 == digest), None)


def _notices(haven: Haven) -> list[NoticeVersion]:
    with haven.sessions() as session:
        return [
            NoticeVersion(
                notice=n.notice,
                version=n.version,
                published_on=n.published_on,
                change_note=n.change_note,
                date_stated=n.date_stated,
            )
            for n in session.scalars(select(NoticeVersionRecord))
        ]


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


def _record(haven: Haven, spec: Spec, row: Submission, actor: str) -> str | None:
    """One transaction: spec in use, the submission, what it supersedes, and their audit entries."""
    superseded: str | None = None
    with haven.transaction() as session:
        if session.get(DatasetSpecRecord, (spec.name, spec.version)) is None:
            descriptor = spec.descriptor()
            sha = hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest()
            session.add(
                DatasetSpecRecord(
                    name=spec.name,
                    version=spec.version,
                    sha256=sha,
                    descriptor=descriptor,
                    registered_at=row.received_at,
                )
            )
            record(
                session,
                SpecRegistered(name=spec.name, version=spec.version, sha256=sha),
                actor=actor,
            )
        previous = None
        if row.status == "accepted":
            previous = session.scalars(
                select(Submission).where(
                    Submission.org_code == row.org_code,
                    Submission.dataset == row.dataset,
                    Submission.period == row.period,
                    Submission.status == "accepted",
                    Submission.superseded_by.is_(None),
                )
            ).first()
        session.add(row)
        session.flush()
        record(
            session,
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
        if previous is not None:
            previous.superseded_by = row.id
            superseded = previous.id
            record(
                session,
                SubmissionSuperseded(
                    submission_id=previous.id,
                    superseded_by=row.id,
                    rows_retired=previous.rows_accepted,
                ),
                actor=actor,
            )
    return superseded
