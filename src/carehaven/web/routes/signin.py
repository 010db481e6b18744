"""Signing in and out (issue 14 part 3): the route calls ``access.signin``, nothing more."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carehaven.access import signin as domain
from carehaven.web.deps import MaybeSignedIn, SignedIn, haven_of, small_form
from carehaven.web.pages import render
from carehaven.web.security import client_address

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never //host or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request, caller: MaybeSignedIn, next: str = "/") -> Response:
    if caller is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "signin.html", None, title="Sign in", next=safe_next(next),
                  error=None)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    form = await small_form(request)
    username, password = form.get("username", ""), form.get("password", "")
    target = safe_next(form.get("next") or "/")
    haven = haven_of(request)
    address = client_address(request, trusted_proxy=haven.settings.trusted_proxy)
    try:
        opened = domain.sign_in(haven, username.strip(), password, address=address)
    except (domain.SignInRefusedError, domain.SignInThrottledError) as exc:
        return render(request, "signin.html", None, title="Sign in", next=target,
                      error=exc.message, status_code=exc.http_status)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        request.app.state.cookie_name, opened.cookie, httponly=True, samesite="lax",
        secure=request.app.state.secure_cookies, path="/",
        max_age=haven.settings.session_absolute_hours * 3600,
    )
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, caller: SignedIn) -> Response:
    if caller.session is not None:
        domain.sign_out(haven_of(request), caller.session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(request.app.state.cookie_name, path="/",
                           secure=request.app.state.secure_cookies, httponly=True,
                           samesite="lax")
    return response
