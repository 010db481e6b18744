"""The data team's releases: the list, a proposal form (as ``release propose``), each
release's status, the policy's reasons and its lineage, and approval by a second person.
Approving writes an extract from the data plane, which only the worker opens: the route runs
every check the control plane can make at once (a refusal, such as the proposer approving
their own, is a 403 with the reason) and queues the writing as a job whose state the release
page shows (``jobs.releases``)."""

from __future__ import annotations

from typing import Annotated

import pydantic
from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.governance.public import ProposalPublic, ReleasePublic
from carehaven.jobs.releases import ReleaseJobPublic
from carehaven.web.deps import SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
#: A release's label as the API documents it (R-<number>), so a client learns the form
#: from the schema rather than from a refusal.
ReleaseId = Annotated[str, Path(pattern=r"^R-[0-9]{1,9}$", max_length=11)]

api = APIRouter(prefix="/api", tags=["api"])


class ProposalIn(pydantic.BaseModel):
    """What ``carehaven release propose`` takes; what is left out comes from the agreement."""

    model_config = pydantic.ConfigDict(extra="forbid")

    dataset: str = pydantic.Field(max_length=60)
    agreement: str | None = pydantic.Field(None, max_length=20)
    recipient: str | None = pydantic.Field(None, max_length=20)
    tier: str | None = pydantic.Field(None, max_length=30)
    purpose: str | None = pydantic.Field(None, max_length=200)
    fields: list[str] | None = pydantic.Field(None, max_length=500)
    orgs: list[str] | None = pydantic.Field(None, max_length=500)
    periods: list[str] | None = pydantic.Field(None, max_length=100)


class ProposedPublic(pydantic.BaseModel):
    """The policy's decision and the release it recorded (denied ones are kept too)."""

    proposal: ProposalPublic
    release: ReleasePublic


class ReleaseDetailPublic(pydantic.BaseModel):
    release: ReleasePublic
    approvals: list[ReleaseJobPublic]


def _propose(request: Request, caller: SignedIn, asked: ProposalIn) -> ProposedPublic:
    from carehaven.governance.release import propose

    haven = haven_of(request)
    require(haven, caller.actor, Permission.PROPOSE_RELEASE)
    done = propose(haven, dataset=asked.dataset, who=caller.actor,
                   agreement_label=asked.agreement or None,
                   recipient_code=asked.recipient or None, tier=asked.tier or None,
                   purpose=asked.purpose or None, fields=asked.fields or None,
                   orgs=asked.orgs or None, periods=asked.periods or None)
    return ProposedPublic(proposal=done.public(), release=ReleasePublic.of(done.release))


def _list(request: Request, caller: SignedIn) -> list[ReleasePublic]:
    from carehaven.governance.release import releases

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    return [ReleasePublic.of(r) for r in releases(haven)]


def _detail(request: Request, caller: SignedIn, release_id: str) -> ReleaseDetailPublic:
    from carehaven.governance.release import get
    from carehaven.jobs.releases import approvals

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    row = ReleasePublic.of(get(haven, release_id[:20]))
    return ReleaseDetailPublic(release=row, approvals=approvals(haven, row.release_id))


def _approve(request: Request, caller: SignedIn, release_id: str) -> ReleaseJobPublic:
    from carehaven.jobs.releases import enqueue_approval

    return enqueue_approval(haven_of(request), release_id[:20], actor=caller.actor)


def _csv(value: object) -> list[str] | None:
    if not isinstance(value, str):
        return None
    found = [v.strip() for v in value.split(",") if v.strip()]
    return found or None


@router.get("/releases", include_in_schema=False)
def releases_page(request: Request, caller: SignedIn) -> Response:
    from carehaven.specs.registry import available

    found = _list(request, caller)
    may_propose = caller.actor.may(Permission.PROPOSE_RELEASE, None)
    return render(request, "releases.html", caller, title="Releases", releases=found,
                  may_propose=may_propose, datasets=available())


@router.post("/releases", include_in_schema=False)
async def propose_page(request: Request, caller: SignedIn) -> Response:
    form = await small_form(request)

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip()[:200] or None if isinstance(value, str) else None

    asked = ProposalIn(dataset=(text("dataset") or "")[:60], agreement=text("agreement"),
                       recipient=text("recipient"), tier=text("tier"),
                       purpose=text("purpose"), fields=_csv(form.get("fields")),
                       orgs=_csv(form.get("orgs")), periods=_csv(form.get("periods")))
    done = _propose(request, caller, asked)
    return RedirectResponse(f"/releases/{done.release.release_id}", status_code=303)


@router.get("/releases/{release_id}", include_in_schema=False)
def release_page(request: Request, caller: SignedIn, release_id: str) -> Response:
    detail = _detail(request, caller, release_id)
    waiting = next((j for j in detail.approvals if j.state in ("queued", "running")), None)
    approvable = (caller.actor.may(Permission.APPROVE_RELEASE, None)
                  and detail.release.status == "proposed" and waiting is None)
    # The proposer is offered no button that could only be refused: the page says why
    # (approving through the API is refused with the same reason, and audited).
    own = approvable and detail.release.proposed_by == caller.actor.label
    return render(request, "release.html", caller, title=f"Release {release_id}",
                  release=detail.release, approvals=detail.approvals,
                  may_approve=approvable and not own, own=own, waiting=waiting)


@router.post("/releases/{release_id}/approve", include_in_schema=False)
def approve_page(request: Request, caller: SignedIn, release_id: str) -> Response:
    job = _approve(request, caller, release_id)
    return RedirectResponse(f"/releases/{job.release_id}", status_code=303)


@api.get("/releases", response_model=list[ReleasePublic], responses=ERRORS)
def releases_api(request: Request, caller: SignedIn) -> list[ReleasePublic]:
    """Every release: status, the policy's decision and reasons, and lineage."""
    return _list(request, caller)


@api.post("/releases", status_code=201, response_model=ProposedPublic, responses=ERRORS)
def propose_api(request: Request, caller: SignedIn, body: ProposalIn) -> ProposedPublic:
    """Propose a release; the sharing policy decides now (a denied one is recorded too)."""
    return _propose(request, caller, body)


@api.get("/releases/{release_id}", response_model=ReleaseDetailPublic, responses=ERRORS)
def release_api(request: Request, caller: SignedIn, release_id: ReleaseId) -> ReleaseDetailPublic:
    """One release, with its approval jobs."""
    return _detail(request, caller, release_id)


@api.post("/releases/{release_id}/approve", status_code=202, response_model=ReleaseJobPublic,
          responses=ERRORS)
def approve_api(request: Request, caller: SignedIn, release_id: ReleaseId) -> ReleaseJobPublic:
    """Approve a release proposed by someone else: refused at once (403, with the reason)
    when you may not; otherwise queued, and the worker writes it."""
    return _approve(request, caller, release_id)


@api.get("/release-jobs/{approval_id}", response_model=ReleaseJobPublic, responses=ERRORS)
def release_job_api(request: Request, caller: SignedIn, approval_id: str) -> ReleaseJobPublic:
    """A release approval job's state: queued, running, done (written) or failed."""
    from carehaven.jobs.releases import approval_job

    return approval_job(haven_of(request), caller.actor, approval_id)
