"""Release approvals as jobs: writing a release reads the data plane and writes an extract,
which only the one writer does, so the portal checks what the control plane can tell at once
(``release.approvable``: proposed, a second independent person, the policy still allows it)
and queues the rest for the worker, which approves as the person who asked."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from carehaven import clock
from carehaven.access.permissions import Permission
from carehaven.access.users import Actor, require
from carehaven.control.kinds import JobState
from carehaven.errors import CarehavenError, NotFoundError
from carehaven.haven import Haven
from carehaven.jobs.public import _utc
from carehaven.public import Public

KIND = "release"


class ReleaseJobPublic(Public):
    """A queued release approval: where it stands and, once ended, what came of it."""

    job_id: str
    release_id: str
    state: Literal["queued", "running", "done", "failed"]
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    message: str


def _public(row: object) -> ReleaseJobPublic:
    from carehaven.control.models import Job

    assert isinstance(row, Job) and row.release_label is not None
    return ReleaseJobPublic(
        job_id=row.id, release_id=row.release_label, state=row.state,
        created_by=row.created_by, created_at=_utc(row.created_at),
        started_at=_utc(row.started_at), finished_at=_utc(row.finished_at),
        attempts=row.attempts, message=row.message)


def enqueue_approval(haven: Haven, label: str, *, actor: Actor) -> ReleaseJobPublic:
    """Queue the approval of release ``label`` by ``actor`` after every check that needs no
    data plane; a refusal (the proposer, someone not independent, a policy that no longer
    allows it) is raised now, audited, and nothing is queued. One approval waits at a time."""
    from sqlalchemy import select

    from carehaven.audit import record
    from carehaven.audit.events import ReleaseApprovalQueued
    from carehaven.control.models import Job
    from carehaven.errors import UsageError
    from carehaven.governance.release import approvable

    require(haven, actor, Permission.APPROVE_RELEASE)
    row, _ = approvable(haven, label, approver=actor)
    job_id = "job-" + secrets.token_hex(8)
    with haven.transaction() as session:
        waiting = session.scalars(select(Job).where(
            Job.kind == KIND, Job.release_label == row.label,
            Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))).first()
        if waiting is not None:
            raise UsageError(f"The approval of release {row.label} is already queued "
                             f"({waiting.id}); wait for it to end.")
        job = Job(
            id=job_id, kind=KIND, state=JobState.QUEUED.value, org_code=None,
            dataset=row.dataset, period="", file_name="", upload="", size_bytes=0,
            sha256="", release_label=row.label, created_by=actor.label,
            created_at=clock.now(), attempts=0,
            message="Waiting for the haven's writer to write the release.")
        session.add(job)
        record(session, ReleaseApprovalQueued(job_id=job_id, release=row.label),
               actor=actor.label)
        session.flush()
        return _public(job)


def approval_job(haven: Haven, actor: Actor, job_id: str) -> ReleaseJobPublic:
    """One release approval job, to someone who may read governance."""
    from carehaven.control.models import Job

    require(haven, actor, Permission.READ_GOVERNANCE)
    with haven.sessions() as session:
        found = session.get(Job, job_id) if len(job_id) <= 24 else None
        if found is None or found.kind != KIND:
            raise NotFoundError(f"There is no release approval job {job_id}.")
        return _public(found)


def approvals(haven: Haven, label: str) -> list[ReleaseJobPublic]:
    """The approval jobs of release ``label``, newest first (for its page)."""
    from sqlalchemy import select

    from carehaven.control.models import Job

    with haven.sessions() as session:
        return [_public(j) for j in session.scalars(
            select(Job).where(Job.kind == KIND, Job.release_label == label)
            .order_by(Job.created_at.desc(), Job.id))]


def run_approval(haven: Haven, job_id: str) -> tuple[JobState, str]:
    """Under the writer lock: approve and write the job's release as the person who queued
    it (who must still hold the permission). A retry after a worker died finds the release
    already written by that person (the artefact writer commits it whole or not at all) and
    reports it done."""
    from carehaven.access.users import _actor
    from carehaven.control.models import Job
    from carehaven.governance.release import approve, get

    with haven.sessions() as session:
        row = session.get(Job, job_id)
        assert row is not None and row.release_label is not None
        label, created_by = row.release_label, row.created_by
    current = get(haven, label)
    if current.status == "written" and current.approved_by == created_by:
        return JobState.DONE, _written(current.label, current.rows, current.people)
    who = _actor(haven, created_by.removeprefix("user:"), "job")
    if who is None:
        return JobState.FAILED, (f"The user who asked for release {label} to be approved is "
                                 "no longer active, so it was not written.")
    try:
        require(haven, who, Permission.APPROVE_RELEASE)
        written = approve(haven, label, approver=who)
    except CarehavenError as exc:
        return JobState.FAILED, exc.message
    return JobState.DONE, _written(written.label, written.rows, written.people)


def _written(label: str, rows: int, people: int) -> str:
    return f"Release {label} written: {rows:,} rows about {people:,} people."
