"""Who is calling: a signed-in browser (session cookie) or a script (personal token), and the
CSRF check every unsafe request made with a cookie passes (issue 14 parts 3 and 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from carehaven.access import signin
from carehaven.access.users import Actor, _actor
from carehaven.errors import AccessDeniedError, CarehavenError, ExitCode, UsageError
from carehaven.haven import Haven
from carehaven.web.security import UNSAFE

#: Where a streamed multipart form is parsed by its route, which checks the CSRF token itself
#: once the body has been read (``check_csrf``): every other multipart request is refused.
STREAMED_FORMS = frozenset({("POST", "/submissions")})
CSRF_HEADER = "x-csrf-token"
#: A form without a file (sign-in, sign-out, a decision) is small: a bigger body is refused
#: before it is all read, so nobody can make the portal hold a huge one in memory.
MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf_token"


class SignInRequiredError(CarehavenError):
    """Nobody is signed in (or the session is over): pages redirect to sign-in, the API
    answers 401."""

    exit_code = ExitCode.ACCESS_DENIED

    @property
    def http_status(self) -> int:
        return 401

    @property
    def code(self) -> str:
        return "sign_in_required"


class CsrfRefusedError(AccessDeniedError):
    @property
    def code(self) -> str:
        return "csrf_refused"


CSRF_MESSAGE = ("The form had expired or did not come from this service; nothing was done. "
                "Go back, reload the page and try again.")


@dataclass(frozen=True)
class Caller:
    """A proved caller: their Actor, and the browser session when they came with a cookie
    (None for a personal token, which needs no CSRF token: no browser sends it by itself)."""

    actor: Actor
    session: signin.WebSession | None

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else ""


def haven_of(request: Request) -> Haven:
    haven: Haven = request.app.state.haven
    return haven


def cookie_name(request: Request) -> str:
    name: str = request.app.state.cookie_name
    return name


def identify(request: Request) -> Caller | None:
    """The caller, once per request: a ``Bearer chv1...`` token (a wrong one is refused, never
    treated as anonymous), else the session cookie, else None."""
    if hasattr(request.state, "caller"):
        found: Caller | None = request.state.caller
        return found
    haven = haven_of(request)
    caller: Caller | None = None
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise SignInRequiredError("Send a personal token as 'Authorization: Bearer chv1...'.")
        from carehaven.access.auth import check_token

        check = check_token(haven, presented.strip())
        actor = (_actor(haven, check.username, f"token:{check.token_id}")
                 if check.refusal is None and check.username else None)
        if actor is None:
            raise SignInRequiredError("The personal token is not valid for this haven (mistyped, "
                                 "revoked, expired, or its user is no longer active).")
        caller = Caller(actor, None)
    else:
        cookie = request.cookies.get(cookie_name(request))
        web = signin.session_of(haven, cookie) if cookie else None
        caller = Caller(web.actor, web) if web is not None else None
    request.state.caller = caller
    return caller


def check_csrf(caller: Caller, presented: str | None) -> None:
    if caller.session is not None and not signin.check_csrf(caller.session, presented):
        raise CsrfRefusedError(CSRF_MESSAGE)


async def signed_in(request: Request) -> Caller:
    """The caller, who must be signed in; an unsafe request with a cookie must carry its
    session's CSRF token (header X-CSRF-Token, or a page's form field csrf_token)."""
    caller = identify(request)
    if caller is None:
        raise SignInRequiredError("Sign in to see this page.")
    if request.method in UNSAFE and caller.session is not None:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            if (request.method, request.url.path) not in STREAMED_FORMS:
                raise CsrfRefusedError(CSRF_MESSAGE)
            return caller  # the route checks the token once it has streamed the body
        presented = request.headers.get(CSRF_HEADER)
        # A page's form carries the token in its body; an API call only in the header (its
        # body is the route's to read, a raw CSV upload's stream included).
        if (presented is None and kind == "application/x-www-form-urlencoded"
                and not request.url.path.startswith("/api/")):
            presented = (await small_form(request)).get(CSRF_FIELD)
        check_csrf(caller, presented)
    return caller


async def small_form(request: Request) -> dict[str, str]:
    """A urlencoded form of at most MAX_FORM_BYTES (read once, kept on the request)."""
    if hasattr(request.state, "form"):
        kept: dict[str, str] = request.state.form
        return kept
    from urllib.parse import parse_qsl

    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise UsageError("The form is too big.")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=50))
    request.state.form = form
    return form


async def maybe_signed_in(request: Request) -> Caller | None:
    """The caller if signed in, for pages anyone may see (they show the navigation)."""
    try:
        return identify(request)
    except SignInRequiredError:
        return None


SignedIn = Annotated[Caller, Depends(signed_in)]
MaybeSignedIn = Annotated[Caller | None, Depends(maybe_signed_in)]
