"""The job queue: the control plane's ``jobs`` table. The portal queues, the worker runs.

Each job moves queued -> running -> done or failed, each state committed as it is reached, so
a worker killed part-way leaves a job ``running`` that the next worker recovers (ADR 0016).
"""

from __future__ import annotations

import logging
import os
import secrets
import traceback
import unicodedata
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast

from carehaven import clock
from carehaven.access.permissions import Permission
from carehaven.access.users import Actor, require, require_visible
from carehaven.collection.reading import check_size
from carehaven.collection.submit import admissible, shown_file_name
from carehaven.control.kinds import JobState
from carehaven.errors import AccessDeniedError, CarehavenError, NotFoundError, UsageError
from carehaven.faults import checkpoint
from carehaven.haven import Haven
from carehaven.jobs.public import JobPublic
from carehaven.jobs.uploads import Upload, discard, upload_path

log = logging.getLogger("carehaven.jobs")

#: How many times a job is started before a worker dying under it marks it failed.
MAX_ATTEMPTS = 3
#: Longest file name a job keeps (its suffix is kept when a longer one is cut).
NAME_LIMIT = 100
_FALLBACK_NAME = "upload.csv"

Outcome = Literal["accepted", "rejected", "held", "unchanged"]


def clean_file_name(name: str) -> str:
    """The bare file name of what a client sent: no folders (either slash), no control or
    format characters, no leading dots or spaces, at most ``NAME_LIMIT`` characters (the
    suffix kept); ``upload.csv`` when nothing is left."""
    bare = name.replace("\\", "/").rsplit("/", 1)[-1]
    bare = "".join(ch for ch in bare if not unicodedata.category(ch).startswith("C"))
    bare = bare.strip().lstrip(".").strip()
    if len(bare) > NAME_LIMIT:
        stem, dot, suffix = bare.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            bare = stem[: NAME_LIMIT - len(suffix) - 1] + "." + suffix
        else:
            bare = bare[:NAME_LIMIT]
    return bare or _FALLBACK_NAME


def enqueue_submission(
    haven: Haven, upload: Upload, *, file_name: str, org: str, dataset: str, period: str,
    actor: Actor,
) -> JobPublic:
    """Queue ``upload`` to be submitted as ``dataset`` for ``org`` and ``period``; refuses
    (and deletes the upload) what submit would refuse at once. The job records the client's
    name for the file as the haven keeps file names (``shown_file_name``)."""
    from carehaven.audit import record
    from carehaven.audit.events import JobQueued
    from carehaven.control.models import Job

    try:
        require(haven, actor, Permission.SUBMIT, org)
        spec, organisation, when = admissible(haven, dataset=dataset, org=org, period=period,
                                              actor=actor.label)
        shown = shown_file_name(clean_file_name(file_name), org=organisation.code,
                                dataset=spec.name, period=when)
        path = upload_path(haven, upload.name)
        if not path.is_file() or path.is_symlink() or path.stat().st_size != upload.size_bytes:
            raise UsageError(f"The upload of {shown} is no longer whole in the haven; "
                             "send the file again.")
        check_size(upload.size_bytes, haven.settings.max_file_mb, shown)
        job_id = "job-" + secrets.token_hex(8)
        with haven.transaction() as session:
            row = Job(
                id=job_id, kind="submit", state=JobState.QUEUED.value, org_code=organisation.code,
                dataset=spec.name, period=when.label, file_name=shown, upload=upload.name,
                size_bytes=upload.size_bytes, sha256=upload.sha256, created_by=actor.label,
                created_at=clock.now(), attempts=0, message="Waiting for the haven's writer.",
            )
            session.add(row)
            record(session, JobQueued(job_id=job_id, org=organisation.code, dataset=spec.name,
                                      period=when.label, size_bytes=upload.size_bytes,
                                      sha256=upload.sha256), actor=actor.label)
            session.flush()
            public = JobPublic.of(row)
    except BaseException:
        discard(haven, upload.name)
        raise
    return public


#: Where the worker writes a feedback job's CSV: under the haven's outputs, one folder a job.
FEEDBACK_FOLDER = "portal-feedback"


def enqueue_feedback(haven: Haven, *, org: str, actor: Actor) -> JobPublic:
    """Queue the writing of ``org``'s concurrent-provider feedback (IDN-2), which reads the
    data plane and so runs in the worker; the portal hands the CSV over when it is done."""
    from carehaven.audit import record
    from carehaven.audit.events import JobQueued
    from carehaven.control.models import Job
    from carehaven.identity.feedback import EPISODES, check_recipient

    require(haven, actor, Permission.READ_SUBMISSIONS, org)
    organisation = check_recipient(haven, org)
    job_id = "job-" + secrets.token_hex(8)
    now = clock.now()
    name = f"feedback_{organisation.code}_{now:%Y-%m-%d}.csv"
    with haven.transaction() as session:
        row = Job(
            id=job_id, kind="feedback", state=JobState.QUEUED.value,
            org_code=organisation.code, dataset=EPISODES, period=f"{now:%Y-%m}",
            file_name=name, upload="", size_bytes=0, sha256="", created_by=actor.label,
            created_at=now, attempts=0, message="Waiting for the haven's writer.",
        )
        session.add(row)
        record(session, JobQueued(job_id=job_id, org=organisation.code, dataset=EPISODES,
                                  period=row.period, size_bytes=0, sha256=""),
               actor=actor.label)
        session.flush()
        return JobPublic.of(row)


def feedback_file(haven: Haven, actor: Actor, job_id: str) -> tuple[JobPublic, Path]:
    """A done feedback job and its CSV, to someone who may read its organisation's
    submissions (another organisation's job reads as missing, as ``job`` does)."""
    found = job(haven, actor, job_id)
    path = haven.paths.outputs / FEEDBACK_FOLDER / found.job_id / found.file_name
    if found.kind != "feedback" or found.state != JobState.DONE.value or not path.is_file():
        raise NotFoundError(f"Job {job_id} has no feedback file to download.", conceal=True)
    return found, path


def job(haven: Haven, actor: Actor, job_id: str) -> JobPublic:
    """One job, to someone who may read its organisation's submissions; another
    organisation's job reads as one that does not exist (the same sentence either way)."""
    from carehaven.control.models import Job

    missing = f"There is no job {job_id} that you may see."
    with haven.sessions() as session:
        found = session.get(Job, job_id) if len(job_id) <= 24 else None
        public = JobPublic.of(found) if found is not None else None
    if public is None or not actor.may(Permission.READ_SUBMISSIONS, public.org):
        # Recorded as a refusal when it is one (as 'carehaven report' does), answered alike.
        with suppress(AccessDeniedError):
            require(haven, actor, Permission.READ_SUBMISSIONS,
                    public.org if public is not None else None, message=missing)
        raise NotFoundError(missing, conceal=True)
    require(haven, actor, Permission.READ_SUBMISSIONS, public.org)  # stamps the grant
    return public


def jobs(haven: Haven, actor: Actor, *, org: str | None = None, limit: int = 100
         ) -> list[JobPublic]:
    """Jobs newest first, of the organisations whose submissions ``actor`` may read (as
    ``carehaven submissions``): one organisation's if ``org`` is given."""
    from sqlalchemy import select

    from carehaven.control.models import Job

    query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(max(1, min(limit, 1000)))
    if org is not None:
        require(haven, actor, Permission.READ_SUBMISSIONS, org)
        query = query.where(Job.org_code == org)
    else:
        visible = require_visible(haven, actor, Permission.READ_SUBMISSIONS)
        if visible is not None:
            query = query.where(Job.org_code.in_(sorted(visible)))
    with haven.sessions() as session:
        return [JobPublic.of(j) for j in session.scalars(query)]


# -- running ------------------------------------------------------------------------------------


def pending(haven: Haven) -> bool:
    """Whether any job waits for a worker (queued, or left running by one that died)."""
    return haven.rows.first("SELECT id FROM jobs WHERE state IN ('queued', 'running') LIMIT 1"
                            ) is not None


def run_next(haven: Haven, *, worker: str) -> JobPublic | None:
    """Run the oldest waiting job under the writer lock and return it as it ended; None when
    nothing waits. A job still ``running`` when the lock is free was left by a worker that
    died: what its submit left is recovered, and it runs again (``MAX_ATTEMPTS`` in all).
    Raises HavenBusyError when another writer holds the lock past the lock timeout."""
    if not pending(haven):
        return None
    with haven.writer():
        taken = _take(haven, worker)
        if taken is None:
            return None
        job_id, retry = taken
        if retry is not None:
            return retry
        return _run(haven, job_id)


def _take(haven: Haven, worker: str) -> tuple[str, JobPublic | None] | None:
    """Under the lock: the job to run, marked running (one commit); or a job whose worker
    died too often, marked failed; None if nothing waits."""
    from sqlalchemy import select

    from carehaven.control.models import Job

    # Recovery first, in its own transactions: the one below holds SQLite's write lock.
    left = haven.rows.first("SELECT created_by FROM jobs WHERE state = 'running' LIMIT 1")
    if left is not None:
        _recover(haven, actor=str(left[0]))
    given_up: JobPublic | None = None
    with haven.transaction() as session:
        orphan = session.scalars(select(Job).where(Job.state == JobState.RUNNING.value)
                                 .order_by(Job.started_at, Job.id).limit(1)).first()
        chosen = orphan or session.scalars(select(Job).where(Job.state == JobState.QUEUED.value)
                                           .order_by(Job.created_at, Job.id).limit(1)).first()
        if chosen is None:
            return None
        if orphan is not None and chosen.attempts >= MAX_ATTEMPTS:
            _end(chosen, JobState.FAILED, (
                f"The worker stopped {chosen.attempts} times while submitting this file, so it "
                "was given up; nothing of it is half-applied. Send it again, or ask the data "
                "team to look at the worker's log."))
            session.flush()
            given_up = JobPublic.of(chosen)
            upload = chosen.upload
        else:
            chosen.state = JobState.RUNNING.value
            chosen.attempts += 1
            chosen.started_at = clock.now()
            chosen.worker = worker[:100]
            chosen.message = ("Being submitted." if orphan is None else
                              f"Being submitted again (attempt {chosen.attempts}): the worker "
                              "stopped during the last attempt.")
        job_id = chosen.id
    if given_up is not None:
        discard(haven, upload)
    return job_id, given_up


def _recover(haven: Haven, *, actor: str) -> None:
    """Finish or undo what a dead worker's submit left (collection.recovery)."""
    from carehaven.collection.recovery import recover
    from carehaven.data.rawsql import open_data

    con = open_data(haven.paths.data_db)
    try:
        recover(haven, con, actor=actor)
    finally:
        con.close()


def _run(haven: Haven, job_id: str) -> JobPublic:
    """Submit a running job's upload and record how it ended; the upload is deleted after."""
    from carehaven.collection.submit import submit
    from carehaven.control.models import Job

    with haven.sessions() as session:
        row = session.get(Job, job_id)
        assert row is not None  # taken under the lock this worker still holds
        spec = (row.dataset, row.org_code, row.period, row.file_name, row.upload,
                row.created_by, row.created_at, row.attempts)
        kind = row.kind
    dataset, org, period, file_name, upload, created_by, created_at, attempts = spec
    if kind == "feedback":
        return _run_feedback(haven, job_id, org, file_name, created_by)
    checkpoint(haven.settings, "job-started")
    state, outcome, sid, message = JobState.FAILED, None, None, ""
    refused = _still_allowed(haven, created_by, org)
    if refused is not None:
        message = refused
    else:
        try:
            path = upload_path(haven, upload)
            if not path.is_file():
                raise UsageError(f"The uploaded file {file_name} is no longer in the haven; "
                                 "send it again.")
            result = submit(haven, path, dataset=dataset, org=org, period=period,
                            actor=created_by, file_name=file_name)
        except CarehavenError as exc:  # a refusal submit explains in a sentence
            message = exc.message
        except Exception as exc:  # the job fails; the worker carries on
            _log_failure(haven, job_id, exc)
            message = ("The file could not be submitted because of an internal error; nothing "
                       "of it was half-applied. The data team can find the details in the "
                       "haven's log.")
        else:
            state, sid, message = JobState.DONE, result.submission_id, result.message
            outcome = result.status
            if result.status == "unchanged" and attempts > 1:
                outcome, message = _own_earlier(haven, sid, created_at, outcome, message)
    checkpoint(haven.settings, "job-submitted")
    with haven.transaction() as session:
        row = session.get(Job, job_id)
        assert row is not None
        _end(row, state, message, outcome=outcome, submission_id=sid)
        session.flush()
        ended = JobPublic.of(row)
    discard(haven, upload)
    return ended


def _run_feedback(haven: Haven, job_id: str, org: str, file_name: str, created_by: str
                  ) -> JobPublic:
    """Write a feedback job's CSV through the artefact writer (``identity.feedback``), into
    the job's own folder under the outputs; a rerun after a crash writes it afresh."""
    import hashlib
    import shutil

    from carehaven.control.models import Job
    from carehaven.identity.feedback import feedback

    folder = haven.paths.outputs / FEEDBACK_FOLDER / job_id
    state, message, size, digest = JobState.FAILED, "", 0, ""
    refused = _still_allowed(haven, created_by, org, Permission.READ_SUBMISSIONS)
    if refused is not None:
        message = refused
    else:
        try:
            shutil.rmtree(folder, ignore_errors=True)  # what a dead worker's attempt left
            folder.mkdir(mode=0o700, parents=True)
            result = feedback(haven, org, folder / file_name, actor=created_by)
        except CarehavenError as exc:
            message = exc.message
        except Exception as exc:
            _log_failure(haven, job_id, exc)
            message = ("The feedback could not be written because of an internal error. The "
                       "data team can find the details in the haven's log.")
        else:
            data = (folder / file_name).read_bytes()
            state, size, digest = JobState.DONE, len(data), hashlib.sha256(data).hexdigest()
            message = (f"{result.clients_shared:,} of {result.org}'s {result.open_clients:,} "
                       "open clients are also open at another provider.")
    with haven.transaction() as session:
        row = session.get(Job, job_id)
        assert row is not None
        _end(row, state, message)
        row.size_bytes, row.sha256 = size, digest
        session.flush()
        return JobPublic.of(row)


def _own_earlier(haven: Haven, sid: str, created_at: datetime, outcome: Outcome, message: str
                 ) -> tuple[Outcome, str]:
    """A retried job whose bytes a submission received after the job was queued already
    holds: that submission is this job's own earlier attempt, so its outcome is the job's."""
    from carehaven.control.models import Submission

    with haven.sessions() as session:
        found = session.get(Submission, sid)
        if found is None:
            return outcome, message
        received = found.received_at.replace(tzinfo=found.received_at.tzinfo or UTC)
        queued = created_at.replace(tzinfo=created_at.tzinfo or UTC)
        if received < queued or found.status not in ("accepted", "rejected", "held"):
            return outcome, message
        return cast(Outcome, found.status), found.message


def _still_allowed(haven: Haven, created_by: str, org: str,
                   permission: Permission = Permission.SUBMIT) -> str | None:
    """Why the user who queued the job may no longer submit for ``org``, or None: a grant
    revoked (or an account deactivated) while the job waited stops it."""
    from carehaven.access.users import _actor

    if not created_by.startswith("user:"):
        return None  # queued in single-operator mode, by the haven's owner
    who = _actor(haven, created_by.removeprefix("user:"), "job")
    if who is not None and who.may(permission, org):
        return None
    if permission is not Permission.SUBMIT:
        return (f"The user who asked for this may no longer read organisation {org}'s "
                "submissions, so nothing was written.")
    return (f"The user who queued this file may no longer submit for organisation {org}, so "
            "it was not submitted.")


def _end(row: object, state: JobState, message: str, *, outcome: str | None = None,
         submission_id: str | None = None) -> None:
    from carehaven.control.models import Job

    assert isinstance(row, Job)
    row.state = state.value
    row.outcome = outcome
    row.submission_id = submission_id
    row.message = message
    row.finished_at = clock.now()


def _log_failure(haven: Haven, job_id: str, exc: BaseException) -> None:
    """Where a job failed, never what: an engine's message can quote the file's cells."""
    frames = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n"
                     for f in traceback.extract_tb(exc.__traceback__))
    line = (f"{clock.now().isoformat(timespec='seconds')} job {job_id} failed: "
            f"{type(exc).__name__}\n{frames}")
    log.error("job %s failed: %s", job_id, type(exc).__name__)
    try:
        fd = os.open(haven.paths.logs / "carehaven.log",
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError:
        pass


def finished_uploads(haven: Haven) -> list[str]:
    """Uploads of jobs that have ended, still on disk (a worker died before deleting one)."""
    names = [str(r[0]) for r in haven.rows.fetch(
        "SELECT upload FROM jobs WHERE state IN ('done', 'failed')")]
    return [n for n in names if (haven.paths.uploads / n).exists()]
