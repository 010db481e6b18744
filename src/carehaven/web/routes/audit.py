"""The audit log's state for the data team and the auditor (READ_AUDIT, as ``carehaven audit
show`` and ``audit verify``): the newest entries, and a verification run on request that
walks the hash chain, recomputes the Merkle tree, checks the checkpoints and the append-only
triggers, and (when asked) reads every landed file back. The verdict names every failure in a
sentence, the first bad entry among them; entries name actors and subjects, never an
identifier value."""

from __future__ import annotations

from dataclasses import asdict

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.audit.public import AuditEntryPublic, AuditStatePublic
from carehaven.web.deps import SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
api = APIRouter(prefix="/api", tags=["api"])

#: The page's entries, as ``audit show``'s default.
LIMIT = 20


class VerifyIn(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    #: Also decrypt every landed file and compare it with its recorded sha256 (slow on a big
    #: haven); ``audit verify`` without ``--skip-landing``.
    read_landed: bool = False


def _entries(request: Request, caller: SignedIn, limit: int) -> list[AuditEntryPublic]:
    from carehaven.audit.state import newest

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_AUDIT)
    return [AuditEntryPublic(**asdict(e)) for e in newest(haven, max(1, min(limit, 1000)))]


def _verify(request: Request, caller: SignedIn, read_landed: bool) -> AuditStatePublic:
    from carehaven.audit.state import check

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_AUDIT)
    # Reads only: the chain and tree from the control plane, landed files from disk.
    return AuditStatePublic.of(check(haven, skip_landing=not read_landed))


@router.get("/audit", include_in_schema=False)
def audit_page(request: Request, caller: SignedIn) -> Response:
    entries = _entries(request, caller, LIMIT)
    return render(request, "audit.html", caller, title="The audit log", entries=entries,
                  state=None, read_landed=False)


@router.post("/audit/verify", include_in_schema=False)
async def verify_page(request: Request, caller: SignedIn) -> Response:
    form = await small_form(request)
    read_landed = form.get("read_landed") == "yes"
    state = _verify(request, caller, read_landed)
    entries = _entries(request, caller, LIMIT)
    return render(request, "audit.html", caller, title="The audit log", entries=entries,
                  state=state, read_landed=read_landed)


@api.get("/audit/entries", response_model=list[AuditEntryPublic], responses=ERRORS)
def entries_api(request: Request, caller: SignedIn, limit: int = LIMIT) -> list[AuditEntryPublic]:
    """The newest entries of the audit log (at most 1,000), oldest of them first."""
    return _entries(request, caller, limit)


@api.post("/audit/verify", response_model=AuditStatePublic, responses=ERRORS)
def verify_api(request: Request, caller: SignedIn,
               body: VerifyIn | None = None) -> AuditStatePublic:
    """Verify the audit log now: ``ok`` false names the first bad entry and every failure."""
    return _verify(request, caller, body.read_landed if body is not None else False)
