"""A provider's concurrent-provider feedback (IDN-2) through the portal: asking for it queues a
job (it reads the data plane, so the worker writes it, through the same identity.feedback the
CLI runs), and the file is handed over once the job is done, only to readers of that
organisation's submissions."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require, visible_orgs
from carehaven.jobs.public import JobPublic
from carehaven.web.deps import Caller, SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()


def _may_read_somewhere(request: Request, caller: Caller) -> None:
    if visible_orgs(caller.actor, Permission.READ_SUBMISSIONS) == set():
        require(haven_of(request), caller.actor, Permission.READ_SUBMISSIONS)  # 403, audited


def _providers(request: Request, caller: Caller) -> list[tuple[str, str]]:
    from carehaven.identity.feedback import PROVIDER_KINDS

    orgs = visible_orgs(caller.actor, Permission.READ_SUBMISSIONS)
    return [(o.code, o.name) for o in haven_of(request).organisations()
            if o.kind in PROVIDER_KINDS and (orgs is None or o.code in orgs)]


def _csv(found: JobPublic, path: object) -> Response:
    return FileResponse(str(path), media_type="text/csv; charset=utf-8",
                        filename=found.file_name, content_disposition_type="attachment")


@router.get("/feedback", include_in_schema=False)
def feedback_page(request: Request, caller: SignedIn) -> Response:
    from carehaven.jobs import queue

    _may_read_somewhere(request, caller)
    asked = [j for j in queue.jobs(haven_of(request), caller.actor) if j.kind == "feedback"]
    return render(request, "feedback.html", caller, title="Feedback on shared clients",
                  providers=_providers(request, caller), jobs=asked)


@router.post("/feedback", include_in_schema=False)
async def ask_for_feedback(request: Request, caller: SignedIn) -> Response:
    from carehaven.jobs import queue

    org = (await small_form(request)).get("org", "").strip()
    found = queue.enqueue_feedback(haven_of(request), org=org, actor=caller.actor)
    return RedirectResponse(f"/jobs/{found.job_id}", status_code=303)


@router.get("/feedback/{job_id}/file", include_in_schema=False)
def feedback_download(request: Request, caller: SignedIn, job_id: str) -> Response:
    from carehaven.jobs import queue

    return _csv(*queue.feedback_file(haven_of(request), caller.actor, job_id))


api = APIRouter(prefix="/api", tags=["api"])


@api.post("/feedback", status_code=202, response_model=JobPublic, responses=ERRORS)
def api_ask_for_feedback(request: Request, caller: SignedIn,
                         org: str = Query(max_length=20)) -> JobPublic:
    """Queue the writing of ``org``'s feedback (IDN-2): which of its open clients another
    provider treats now. The job says when the CSV is ready."""
    from carehaven.jobs import queue

    return queue.enqueue_feedback(haven_of(request), org=org, actor=caller.actor)


@api.get("/feedback/{job_id}/file", response_class=FileResponse,
         responses={200: {"content": {"text/csv": {}}}, **ERRORS})
def api_feedback_download(request: Request, caller: SignedIn, job_id: str) -> Response:
    """The CSV a done feedback job wrote."""
    from carehaven.jobs import queue

    return _csv(*queue.feedback_file(haven_of(request), caller.actor, job_id))
