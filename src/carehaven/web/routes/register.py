"""The record of processing activities (UK GDPR Article 30(1)) for the data team and the
auditor (READ_GOVERNANCE, as ``carehaven register``): one activity per collection, built by
``governance.register`` from the same sources as the privacy notices, as a page and as the
JSON ``register --format json`` prints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.governance.register import Register
from carehaven.web.deps import SignedIn, haven_of
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
api = APIRouter(prefix="/api", tags=["api"])


def _register(request: Request, caller: SignedIn) -> Register:
    from carehaven import clock
    from carehaven.governance.register import register

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    return register(haven, clock.today())


@router.get("/register", include_in_schema=False)
def register_page(request: Request, caller: SignedIn) -> Response:
    return render(request, "register.html", caller, title="Record of processing activities",
                  register=_register(request, caller))


@api.get("/register", response_model=Register, responses=ERRORS)
def register_api(request: Request, caller: SignedIn) -> Register:
    """The record of processing activities as the haven stands today: the same JSON as
    ``carehaven register --format json``."""
    return _register(request, caller)
