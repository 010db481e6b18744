"""Recipients and data sharing agreements (the data team's, as ``carehaven recipients`` and
``agreements``), and the regular access review (SHR-7, ``carehaven access review``). Reading
them needs read-governance (the auditor too); adding a recipient, recording an agreement and
revoking one need manage-sharing, through the same domain functions, which check the terms
and audit each change."""

from __future__ import annotations

from datetime import date

import pydantic
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carehaven.access.permissions import Permission
from carehaven.access.users import require
from carehaven.errors import UsageError
from carehaven.governance.public import AccessReviewPublic, AgreementPublic, RecipientPublic
from carehaven.web.deps import SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.routes.api import ERRORS

router = APIRouter()
api = APIRouter(prefix="/api", tags=["api"])

RECIPIENT_KINDS = ("processor", "research", "government", "local-authority", "partner",
                   "police", "court", "public")
AGREEMENT_TIERS = ("personal", "de-personalised", "anonymised", "aggregate")


class RecipientIn(pydantic.BaseModel):
    """What ``carehaven recipients add`` takes."""

    model_config = pydantic.ConfigDict(extra="forbid")

    code: str = pydantic.Field(max_length=20)
    kind: str = pydantic.Field(max_length=30)
    name: str = pydantic.Field("", max_length=200)
    #: The registered organisation it is (required for a local authority, SHR-9).
    org: str | None = pydantic.Field(None, max_length=20)


class AgreementIn(pydantic.BaseModel):
    """What ``carehaven agreements add`` takes; fields are plain names (every dataset),
    ``dataset:field`` for one, or ``all`` for every field of the tier."""

    model_config = pydantic.ConfigDict(extra="forbid")

    recipient: str = pydantic.Field(max_length=20)
    tier: str = pydantic.Field(max_length=30)
    datasets: list[str] = pydantic.Field(max_length=50)
    fields: list[str] = pydantic.Field(max_length=500)
    purposes: list[str] = pydantic.Field(max_length=50)
    lawful_bases: list[str] = pydantic.Field(max_length=20)
    expires_on: date
    starts_on: date | None = None
    uk_only: bool = True
    onward_sharing: bool = False
    sub_licensing: bool = False
    no_reidentification_signed: bool = False
    orgs: list[str] = pydantic.Field(default_factory=list, max_length=500)
    periods: list[str] = pydantic.Field(default_factory=list, max_length=100)
    contract: str | None = pydantic.Field(None, max_length=200)


class SharingPublic(pydantic.BaseModel):
    recipients: list[RecipientPublic]
    agreements: list[AgreementPublic]


def _recipients(request: Request, caller: SignedIn) -> list[RecipientPublic]:
    from carehaven.governance.sharing import recipients

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    return [RecipientPublic.of(r) for r in recipients(haven)]


def _agreements(request: Request, caller: SignedIn,
                recipient: str | None = None) -> list[AgreementPublic]:
    from carehaven import clock
    from carehaven.governance.sharing import agreements

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    today = clock.today()
    return [AgreementPublic.of(a, today)
            for a in agreements(haven, recipient[:20] if recipient else None)]


def _add_recipient(request: Request, caller: SignedIn, asked: RecipientIn) -> RecipientPublic:
    from carehaven.governance.sharing import add_recipient

    haven = haven_of(request)
    require(haven, caller.actor, Permission.MANAGE_SHARING)
    row = add_recipient(haven, asked.code, asked.name, asked.kind, actor=caller.actor.label,
                        org_code=asked.org or None)
    return RecipientPublic.of(row)


def _add_agreement(request: Request, caller: SignedIn, asked: AgreementIn) -> AgreementPublic:
    from carehaven import clock
    from carehaven.governance.sharing import Terms, add_agreement

    haven = haven_of(request)
    require(haven, caller.actor, Permission.MANAGE_SHARING)
    row = add_agreement(haven, Terms(
        recipient=asked.recipient, tier=asked.tier, datasets=asked.datasets,
        fields=asked.fields, purposes=asked.purposes, lawful_bases=asked.lawful_bases,
        expires_on=asked.expires_on, starts_on=asked.starts_on, uk_only=asked.uk_only,
        onward_sharing=asked.onward_sharing, sub_licensing=asked.sub_licensing,
        no_reidentification_signed=asked.no_reidentification_signed, orgs=asked.orgs,
        periods=asked.periods, contract_ref=asked.contract or None,
    ), actor=caller.actor.label)
    return AgreementPublic.of(row, clock.today())


def _revoke(request: Request, caller: SignedIn, agreement_id: str) -> AgreementPublic:
    from carehaven import clock
    from carehaven.governance.sharing import revoke_agreement

    haven = haven_of(request)
    require(haven, caller.actor, Permission.MANAGE_SHARING)
    return AgreementPublic.of(revoke_agreement(haven, agreement_id[:20],
                                               actor=caller.actor.label), clock.today())


def _review(request: Request, caller: SignedIn, soon: int, idle: int) -> AccessReviewPublic:
    from carehaven.governance.review import review

    haven = haven_of(request)
    require(haven, caller.actor, Permission.READ_GOVERNANCE)
    return AccessReviewPublic.of(review(haven, soon=max(0, min(soon, 3660)),
                                        idle=max(0, min(idle, 3660))))


# ---- the pages ---------------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _day(value: str | None, label: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise UsageError(f"{label} takes a date like 2027-03-31.") from None


@router.get("/sharing", include_in_schema=False)
def sharing_page(request: Request, caller: SignedIn) -> Response:
    done = request.query_params.get("done", "")[:80]
    return render(request, "sharing.html", caller, title="Recipients and agreements",
                  recipients=_recipients(request, caller),
                  agreements=_agreements(request, caller),
                  may_manage=caller.actor.may(Permission.MANAGE_SHARING, None),
                  kinds=RECIPIENT_KINDS, tiers=AGREEMENT_TIERS, done=done)


@router.post("/sharing/recipients", include_in_schema=False)
async def add_recipient_page(request: Request, caller: SignedIn) -> Response:
    form = await small_form(request)
    try:
        asked = RecipientIn(code=form.get("code", "").strip()[:20],
                            kind=form.get("kind", "").strip()[:30],
                            name=form.get("name", "").strip()[:200],
                            org=form.get("org", "").strip()[:20] or None)
    except pydantic.ValidationError:
        raise UsageError("Give the recipient a code and a kind.") from None
    row = _add_recipient(request, caller, asked)
    return RedirectResponse(f"/sharing?done=Recipient+{row.code}+added", status_code=303)


@router.post("/sharing/agreements", include_in_schema=False)
async def add_agreement_page(request: Request, caller: SignedIn) -> Response:
    form = await small_form(request)
    expires = _day(form.get("expires_on"), "The expiry")
    if expires is None:
        raise UsageError("Give the last day the agreement is in force.")
    asked = AgreementIn(
        recipient=form.get("recipient", "").strip()[:20], tier=form.get("tier", "")[:30],
        datasets=_csv(form.get("datasets"))[:50], fields=_csv(form.get("fields"))[:500],
        purposes=_csv(form.get("purposes"))[:50],
        lawful_bases=_csv(form.get("lawful_bases"))[:20], expires_on=expires,
        starts_on=_day(form.get("starts_on"), "The start"),
        uk_only=form.get("not_uk_only") != "yes",
        onward_sharing=form.get("onward_sharing") == "yes",
        sub_licensing=form.get("sub_licensing") == "yes",
        no_reidentification_signed=form.get("no_reidentification_signed") == "yes",
        orgs=_csv(form.get("orgs"))[:500], periods=_csv(form.get("periods"))[:100],
        contract=(form.get("contract") or "").strip()[:200] or None)
    row = _add_agreement(request, caller, asked)
    return RedirectResponse(f"/sharing?done=Agreement+{row.agreement_id}+recorded",
                            status_code=303)


@router.post("/sharing/agreements/{agreement_id}/revoke", include_in_schema=False)
def revoke_page(request: Request, caller: SignedIn, agreement_id: str) -> Response:
    row = _revoke(request, caller, agreement_id)
    return RedirectResponse(f"/sharing?done=Agreement+{row.agreement_id}+revoked",
                            status_code=303)


@router.get("/access-review", include_in_schema=False)
def access_review_page(request: Request, caller: SignedIn, soon: int = 90,
                       idle: int = 90) -> Response:
    return render(request, "access_review.html", caller, title="Access review",
                  review=_review(request, caller, soon, idle), soon=soon, idle=idle)


# ---- the API -----------------------------------------------------------------------------------


@api.get("/recipients", response_model=list[RecipientPublic], responses=ERRORS)
def recipients_api(request: Request, caller: SignedIn) -> list[RecipientPublic]:
    """Every recipient: an organisation (or the public) that may receive data."""
    return _recipients(request, caller)


@api.post("/recipients", status_code=201, response_model=RecipientPublic, responses=ERRORS)
def add_recipient_api(request: Request, caller: SignedIn, body: RecipientIn) -> RecipientPublic:
    """Register a recipient (manage-sharing)."""
    return _add_recipient(request, caller, body)


@api.get("/agreements", response_model=list[AgreementPublic], responses=ERRORS)
def agreements_api(request: Request, caller: SignedIn,
                   recipient: str | None = None) -> list[AgreementPublic]:
    """Every data sharing agreement (or one recipient's) and its state today."""
    return _agreements(request, caller, recipient)


@api.post("/agreements", status_code=201, response_model=AgreementPublic, responses=ERRORS)
def add_agreement_api(request: Request, caller: SignedIn, body: AgreementIn) -> AgreementPublic:
    """Record a data sharing agreement (manage-sharing); its terms are checked first."""
    return _add_agreement(request, caller, body)


@api.post("/agreements/{agreement_id}/revoke", response_model=AgreementPublic,
          responses=ERRORS)
def revoke_api(request: Request, caller: SignedIn, agreement_id: str) -> AgreementPublic:
    """Revoke an agreement from today: no release is approved under it again."""
    return _revoke(request, caller, agreement_id)


@api.get("/access-review", response_model=AccessReviewPublic, responses=ERRORS)
def access_review_api(request: Request, caller: SignedIn, soon: int = 90,
                      idle: int = 90) -> AccessReviewPublic:
    """The access review (SHR-7): access in force, agreements expiring within ``soon`` days
    or lapsed, recipients with nothing released for a year, roles unused for ``idle`` days."""
    return _review(request, caller, soon, idle)
