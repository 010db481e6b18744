"""The privacy notices' published versions for the data team and the auditor (read-governance,
as ``carehaven notice list``), each with its change note, and publishing a new version
(publish-notice, as ``notice publish``): publishing writes the control plane alone (the
sections, the version a consent may cite, the audit entry, in one transaction), so the portal
does it itself. The rendered notices are public at /notices."""

from __future__ import annotations

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.governance.public import NoticePublishedPublic, NoticeVersionPublic
from carehaven.web.deps import SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
api = APIRouter(prefix="/api", tags=["api"])


class PublishIn(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    collection: str = pydantic.Field(max_length=40)
    #: Numbers with dots, greater than the last published version, e.g. 1.1.
    version: str = pydantic.Field(max_length=20)


def _versions(request: Request, caller: SignedIn) -> list[NoticeVersionPublic]:
    from carehaven.governance.notice import versions

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    return [NoticeVersionPublic.model_validate(v.as_json()) for v in versions(haven)]


def _publish(request: Request, caller: SignedIn, asked: PublishIn) -> NoticePublishedPublic:
    from carehaven import clock
    from carehaven.governance.notice import publish

    haven = haven_of(request)
    require(haven, caller.actor, Permission.PUBLISH_NOTICE)
    doc = publish(haven, asked.collection, asked.version, clock.today(),
                  actor=caller.actor.label)
    return NoticePublishedPublic(collection=doc.collection, version=doc.version,
                                 published_on=doc.published_on.isoformat(), sha256=doc.sha256,
                                 change_note=doc.change_note.splitlines())


@router.get("/notice-versions", include_in_schema=False)
def versions_page(request: Request, caller: SignedIn) -> Response:
    from carehaven.governance.collections import catalogue

    found = _versions(request, caller)
    collections = list(catalogue().collections)
    return render(request, "notice_versions.html", caller, title="Privacy notice versions",
                  versions=found, collections=collections,
                  may_publish=caller.actor.may(Permission.PUBLISH_NOTICE, None),
                  done=request.query_params.get("done", "")[:80])


@router.post("/notice-versions", include_in_schema=False)
async def publish_page(request: Request, caller: SignedIn) -> Response:
    form = await small_form(request)
    doc = _publish(request, caller, PublishIn(collection=form.get("collection", "")[:40],
                                              version=form.get("version", "")[:20]))
    return RedirectResponse(f"/notice-versions?done=The+{doc.collection}+notice+version+"
                            f"{doc.version}+published", status_code=303)


@api.get("/notice-versions", response_model=list[NoticeVersionPublic], responses=ERRORS)
def versions_api(request: Request, caller: SignedIn) -> list[NoticeVersionPublic]:
    """Every published version of every collection's notice, oldest first, with its change
    note."""
    return _versions(request, caller)


@api.post("/notice-versions", status_code=201, response_model=NoticePublishedPublic,
          responses=ERRORS)
def publish_api(request: Request, caller: SignedIn, body: PublishIn) -> NoticePublishedPublic:
    """Publish a new version of a collection's notice as the rules stand today, with a change
    note generated from the previous version; versions must increase."""
    return _publish(request, caller, body)
