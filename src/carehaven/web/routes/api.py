"""The JSON API under /api/ (issue 14 part 6): the same functions and permissions as the pages;
every answer a pydantic ``Public`` model, so /api/openapi.json documents it."""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Query, Request

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.collection import listing
from carehaven.collection.public import SubmissionPublic
from carehaven.jobs.public import JobPublic
from carehaven.publish import public as published
from carehaven.web.deps import SignedIn, haven_of
from carehaven.web.routes.submissions import _may_submit_somewhere

router = APIRouter(prefix="/api", tags=["api"])


class ErrorBody(pydantic.BaseModel):
    code: str
    message: str
    reference: str | None = None


class ErrorPublic(pydantic.BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorPublic} for s in (400, 401, 403, 404, 422, 429, 503)}


class GrantPublic(pydantic.BaseModel):
    role: str
    org: str | None


class MePublic(pydantic.BaseModel):
    username: str
    org: str | None
    grants: list[GrantPublic]
    via: str  # "session:<first characters of its id>" or "token:<id>"


class ReportPublic(pydantic.BaseModel):
    summary: dict[str, Any]
    findings: list[dict[str, Any]]


class UnlockedPublic(pydantic.BaseModel):
    username: str
    unlocked: bool


@router.get("/me", response_model=MePublic, responses=ERRORS)
def me(caller: SignedIn) -> MePublic:
    """Who you are signed in as, and your roles."""
    a = caller.actor
    return MePublic(username=a.username, org=a.org_code, via=a.via,
                    grants=[GrantPublic(role=r, org=o) for r, o in a.roles])


@router.get("/submissions", response_model=list[SubmissionPublic], responses=ERRORS)
def submissions(request: Request, caller: SignedIn,
                org: str | None = Query(default=None, max_length=20)
                ) -> list[SubmissionPublic]:
    """The submissions you may read, newest first."""
    return [SubmissionPublic.of(v)
            for v in listing.submissions(haven_of(request), caller.actor, org=org)]


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic,
            responses=ERRORS)
def submission(request: Request, caller: SignedIn,
               submission_id: str) -> SubmissionPublic:
    """One submission (another organisation's is not found)."""
    return SubmissionPublic.of(listing.submission(haven_of(request), caller.actor, submission_id))


@router.get("/submissions/{submission_id}/report", response_model=ReportPublic,
            responses=ERRORS)
def report(request: Request, caller: SignedIn, submission_id: str) -> ReportPublic:
    """A submission's validation report: its summary and every finding."""
    import json

    from carehaven.collection import report as reports

    summary, findings = reports.readable(haven_of(request), caller.actor, submission_id)
    whole = json.loads(reports.as_json(summary, findings))
    return ReportPublic(findings=whole.pop("findings"), summary=whole)


@router.post("/submissions", status_code=202, response_model=JobPublic, responses=ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload(request: Request, caller: SignedIn,
                 dataset: str = Query(max_length=60), org: str = Query(max_length=20),
                 period: str = Query(max_length=10),
                 file_name: str = Query("upload.csv", max_length=255)) -> JobPublic:
    """Send a return as the raw CSV body (streamed into the haven); it is queued for the
    worker, and the job says when it has been judged."""
    from carehaven.jobs import queue, uploads

    haven = haven_of(request)
    _may_submit_somewhere(haven, caller)
    with uploads.receiving(haven) as sink:
        async for chunk in request.stream():
            sink.write(chunk)
        received = sink.finish()
    return queue.enqueue_submission(haven, received, file_name=file_name, org=org,
                                    dataset=dataset, period=period, actor=caller.actor)


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=ERRORS)
def job(request: Request, caller: SignedIn, job_id: str) -> JobPublic:
    """A queued submission's state: queued, running, done (judged) or failed."""
    from carehaven.jobs import queue

    return queue.job(haven_of(request), caller.actor, job_id)


@router.get("/publications", response_model=list[published.PublicationPublic],
            responses=ERRORS)
def publications(request: Request) -> list[published.PublicationPublic]:
    """Every published table (no sign-in needed): its disclosure profile and its files."""
    return published.publications(haven_of(request))


@router.post("/users/{username}/unlock", response_model=UnlockedPublic, responses=ERRORS)
def unlock(request: Request, caller: SignedIn, username: str) -> UnlockedPublic:
    """Lift an account's lockout after too many wrong passwords (MANAGE_USERS)."""
    from carehaven.access.signin import unlock as lift

    haven = haven_of(request)
    require(haven, caller.actor, Permission.MANAGE_USERS)
    lift(haven, username, actor=caller.actor.label)
    return UnlockedPublic(username=username, unlocked=True)
