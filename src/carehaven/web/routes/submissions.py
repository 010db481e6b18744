"""The submitter's pages (issue 14 part 6): its organisation's submissions, the upload form,
a job's progress, a validation report with its downloads. Each route calls the function the
command line calls; the access rules are theirs."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carehaven import clock
from carehaven.access.permissions import Permission
from carehaven.access.users import Actor, require, visible_orgs
from carehaven.collection import listing
from carehaven.collection.public import SubmissionPublic
from carehaven.errors import AccessDeniedError, UsageError
from carehaven.haven import Haven
from carehaven.web.deps import CSRF_FIELD, Caller, SignedIn, check_csrf, haven_of
from carehaven.web.embed import body_of
from carehaven.web.pages import render

router = APIRouter()


def submit_orgs(haven: Haven, actor: Actor) -> list[tuple[str, str, str]]:
    """(code, kind, name) of the organisations ``actor`` may submit for."""
    orgs = visible_orgs(actor, Permission.SUBMIT)
    return [(o.code, o.kind, o.name) for o in haven.organisations()
            if orgs is None or o.code in orgs]


def datasets_for(kind: str) -> list[str]:
    """The datasets an organisation of ``kind`` returns (the specs' submitterKinds)."""
    from carehaven.specs.registry import available, load_spec

    return [name for name in available()
            if kind in {k.value for k in load_spec(name).submitter_kinds}]


def recent_periods(today: date, quarters: int = 6) -> list[str]:
    """The last ``quarters`` quarters that have begun, newest first (like 2025Q2)."""
    year, q = today.year, (today.month - 1) // 3 + 1
    out = []
    for _ in range(quarters):
        out.append(f"{year}Q{q}")
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
    return out


def _may_submit_somewhere(haven: Haven, caller: Caller) -> None:
    if visible_orgs(caller.actor, Permission.SUBMIT) == set():
        require(haven, caller.actor, Permission.SUBMIT)  # records the refusal, raises 403


@router.get("/submissions", include_in_schema=False)
def submissions_page(request: Request, caller: SignedIn) -> Response:
    found = [SubmissionPublic.of(v) for v in listing.submissions(haven_of(request), caller.actor)]
    return render(request, "submissions.html", caller, title="Submissions", submissions=found)


@router.get("/submissions/new", include_in_schema=False)
def new_submission(request: Request, caller: SignedIn) -> Response:
    haven = haven_of(request)
    _may_submit_somewhere(haven, caller)
    orgs = submit_orgs(haven, caller.actor)
    datasets = sorted({d for _, kind, _ in orgs for d in datasets_for(kind)})
    return render(request, "upload.html", caller, title="Upload a return", orgs=orgs,
                  datasets=datasets, periods=recent_periods(clock.today()),
                  max_mb=haven.settings.max_file_mb)


@router.post("/submissions", include_in_schema=False)
async def upload(request: Request, caller: SignedIn) -> Response:
    from carehaven.jobs import queue, uploads
    from carehaven.web.streaming import read_form

    haven = haven_of(request)
    _may_submit_somewhere(haven, caller)
    with uploads.receiving(haven) as sink:
        form = await read_form(request.headers.get("content-type", ""), request.stream(),
                               sink)
        check_csrf(caller, form.fields.get(CSRF_FIELD))
        if form.file_name is None:
            raise UsageError("Choose the file to upload.")
        org, dataset, period = (form.fields.get(k, "").strip()
                                for k in ("org", "dataset", "period"))
        if not (org and dataset and period):
            raise UsageError("Choose the organisation, the dataset and the period.")
        received = sink.finish()
    job = queue.enqueue_submission(haven, received, file_name=form.file_name, org=org,
                                   dataset=dataset, period=period, actor=caller.actor)
    return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, caller: SignedIn, job_id: str) -> Response:
    from carehaven.jobs import queue

    found = queue.job(haven_of(request), caller.actor, job_id)
    waiting = found.state in ("queued", "running")
    return render(request, "job.html", caller, title=found.file_name, job=found,
                  waiting=waiting)


@router.get("/submissions/{submission_id}", include_in_schema=False)
def submission_page(request: Request, caller: SignedIn, submission_id: str) -> Response:
    from carehaven.collection import report as reports

    haven = haven_of(request)
    found = SubmissionPublic.of(listing.submission(haven, caller.actor, submission_id))
    summary, findings = reports.readable(haven, caller.actor, submission_id)
    return render(request, "submission.html", caller, title=f"Submission {submission_id}",
                  sub=found, report=body_of(reports.as_html(summary, findings)))


@router.get("/submissions/{submission_id}/report.{fmt}", include_in_schema=False)
def report_download(request: Request, caller: SignedIn, submission_id: str,
                    fmt: str) -> Response:
    from carehaven.collection import report as reports

    if fmt not in ("csv", "json"):
        raise AccessDeniedError("There is no such download.", conceal=True)
    summary, findings = reports.readable(haven_of(request), caller.actor, submission_id)
    text = reports.as_csv(findings) if fmt == "csv" else reports.as_json(summary, findings)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return Response(text, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{submission_id}-report.{fmt}"'})
