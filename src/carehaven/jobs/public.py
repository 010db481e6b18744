"""A job as the portal's API and pages show it: what it is, where it stands, what came of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, overload

import pydantic

if TYPE_CHECKING:
    from carehaven.control.models import Job


class JobPublic(pydantic.BaseModel):
    """What goes over the wire about a job; never a database row (no upload path, no worker)."""

    model_config = pydantic.ConfigDict(frozen=True)

    job_id: str
    #: submit: a return to judge; feedback: the organisation's concurrent-provider feedback
    #: (IDN-2), written by the worker for the portal to hand over.
    kind: Literal["submit", "feedback"]
    state: Literal["queued", "running", "done", "failed"]
    org: str
    dataset: str
    period: str
    #: The client's file name, as the haven keeps it (``collection.submit.shown_file_name``).
    file_name: str
    size_bytes: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    submission_id: str | None
    outcome: Literal["accepted", "rejected", "held", "unchanged"] | None
    message: str

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            job_id=job.id, kind=job.kind, state=job.state, org=job.org_code, dataset=job.dataset,
            period=job.period, file_name=job.file_name, size_bytes=job.size_bytes,
            created_at=_utc(job.created_at), started_at=_utc(job.started_at),
            finished_at=_utc(job.finished_at), attempts=job.attempts,
            submission_id=job.submission_id, outcome=job.outcome,
            message=job.message,
        )


@overload
def _utc(when: datetime) -> datetime: ...
@overload
def _utc(when: None) -> None: ...
def _utc(when: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC; the API always says which zone a time is in."""
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when
