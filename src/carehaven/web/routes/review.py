"""The data team's link review queue (SHR-12): each uncertain pair with its evidence (how
each identifier compared, never its value) and a form to decide same or different. The page
and the API call what ``carehaven link review`` and ``link decide`` call, with their
permission (run-pipeline); the decision is audited by ``identity.review.decide``."""

from __future__ import annotations

from typing import Literal

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.errors import UsageError
from carehaven.identity.public import LinkPairPublic, PairDecisionPublic
from carehaven.web.deps import SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
api = APIRouter(prefix="/api", tags=["api"])

#: At most this many pairs on the page (the likeliest first), as ``link review``'s default.
LIMIT = 50


class DecisionIn(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    decision: Literal["same", "different"]


def _queue(request: Request, caller: SignedIn, limit: int) -> list[LinkPairPublic]:
    from carehaven.identity.review import waiting

    haven = haven_of(request)
    require(haven, caller.actor, Permission.RUN_PIPELINE)
    # The web process never opens the data plane: sides come from the control plane.
    return [LinkPairPublic.of(p)
            for p in waiting(haven, limit=max(1, min(limit, 1000)), data_plane=False)]


def _decide(request: Request, caller: SignedIn, pair_id: str,
            decision: str) -> PairDecisionPublic:
    from carehaven.identity.review import decide

    haven = haven_of(request)
    require(haven, caller.actor, Permission.RUN_PIPELINE)
    if decision not in ("same", "different"):
        raise UsageError("Choose whether the two are the same person or different people.")
    return decide(haven, pair_id[:40], same=decision == "same", actor=caller.actor.label)


@router.get("/review", include_in_schema=False)
def review_page(request: Request, caller: SignedIn) -> Response:
    pairs = _queue(request, caller, LIMIT)
    decided = request.query_params.get("decided", "")[:40]
    return render(request, "review.html", caller, title="Link review", pairs=pairs,
                  decided=decided)


@router.post("/review/{pair_id}", include_in_schema=False)
async def decide_page(request: Request, caller: SignedIn, pair_id: str) -> Response:
    form = await small_form(request)
    choice = form.get("decision")
    done = _decide(request, caller, pair_id, choice if isinstance(choice, str) else "")
    return RedirectResponse(f"/review?decided={done.pair_id}", status_code=303)


@api.get("/link-pairs", response_model=list[LinkPairPublic], responses=ERRORS)
def pairs_api(request: Request, caller: SignedIn, limit: int = LIMIT) -> list[LinkPairPublic]:
    """The uncertain pairs waiting for a decision, the likeliest first, with the evidence
    (comparison levels, never identifier values)."""
    return _queue(request, caller, limit)


@api.post("/link-pairs/{pair_id}", response_model=PairDecisionPublic, responses=ERRORS)
def decide_api(request: Request, caller: SignedIn, pair_id: str,
               body: DecisionIn) -> PairDecisionPublic:
    """Decide a pair: the same person or different people; it holds from the next link run."""
    return _decide(request, caller, pair_id, body.decision)
