"""The collection's ``Public`` models: a submission, and the outcome of submitting one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.collection.listing import SubmissionView
    from carehaven.collection.submit import SubmitResult


class RowCounts(Public):
    total: int
    accepted: int
    rejected: int


class SubmissionPublic(Public):
    """One submission: who sent which dataset for which period, and how it was judged."""

    submission_id: str
    org: str
    dataset: str
    period: str
    status: Literal["accepted", "rejected", "held", "withdrawn"]
    rows: RowCounts
    findings: int
    superseded_by: str | None
    received_at: datetime
    sha256: str
    file_name: str
    message: str

    @classmethod
    def of(cls, view: SubmissionView) -> SubmissionPublic:
        return cls(
            submission_id=view.submission_id, org=view.org, dataset=view.dataset,
            period=view.period, status=view.status,
            rows=RowCounts(total=view.rows_total, accepted=view.rows_accepted,
                           rejected=view.rows_rejected),
            findings=view.findings, superseded_by=view.superseded_by,
            received_at=view.received_at.replace(microsecond=0), sha256=view.sha256,
            file_name=view.file_name, message=view.message,
        )


class SubmitOutcome(Public):
    """What submitting one file did (``carehaven submit --json``)."""

    submission_id: str
    status: Literal["accepted", "rejected", "held", "unchanged"]
    rows: RowCounts
    findings: int
    message: str
    #: The report's folder inside the haven, for the data team at a terminal; the web API
    #: sends None (a path inside the haven means nothing to a provider).
    report: str | None
    superseded: str | None

    @classmethod
    def of(cls, result: SubmitResult, *, with_path: bool = True) -> SubmitOutcome:
        return cls(
            submission_id=result.submission_id, status=result.status,
            rows=RowCounts(total=result.rows_total, accepted=result.rows_accepted,
                           rejected=result.rows_rejected),
            findings=result.findings, message=result.message,
            report=str(result.report) if result.report and with_path else None,
            superseded=result.superseded,
        )


class Confirmation(Public):
    """A held submission confirmed (in force) or withdrawn."""

    submission_id: str
    status: Literal["accepted", "withdrawn"]
    superseded: str | None = None


class FileOutcome(Public):
    """One file of ``submit --manifest`` or a folder: its entry and how it ended."""

    entry: int
    file: str
    org: str
    dataset: str
    period: str
    outcome: str
    exit_code: int
    submission_id: str | None
    rows: RowCounts | None
    findings: int | None
    superseded: str | None
    message: str


class ManyOutcome(Public):
    """A manifest's or folder's submission: the worst exit code and each file's outcome."""

    exit_code: int
    files: list[FileOutcome]
