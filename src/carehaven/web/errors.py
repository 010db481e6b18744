"""One JSON shape for the API, one page for people; never a traceback or an identifier value.

``{"error": {"code": ..., "message": ...}}`` from ``CarehavenError.code`` / ``.message`` /
``.http_status``; an unexpected exception answers 500 with a reference number, and the log
line names the exception's type and where it was raised, not its message (which might hold a
value from a file)."""

from __future__ import annotations

import logging
import secrets
import traceback
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from carehaven.errors import CarehavenError
from carehaven.web.deps import SignInRequiredError
from carehaven.web.pages import render

log = logging.getLogger("carehaven.web")

TITLES = {400: "Something in the request is not right", 401: "Sign in",
          403: "You cannot do this", 404: "Page not found", 405: "You cannot do this",
          409: "This needs confirming", 413: "The file is too big",
          422: "The file was not accepted", 429: "Too many attempts",
          500: "Sorry, there is a problem with the service",
          503: "Sorry, the service is busy"}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _answer(request: Request, status: int, code: str, message: str,
            reference: str | None = None) -> Response:
    if wants_json(request):
        body: dict[str, object] = {"code": code, "message": message}
        if reference:
            body["reference"] = reference
        return JSONResponse({"error": body}, status_code=status)
    from carehaven.web.deps import identify

    try:
        caller = identify(request)
    except CarehavenError:
        caller = None
    return render(request, "error.html", caller, title=TITLES.get(status, "There is a problem"),
                  message=message, reference=reference, status_code=status)


async def carehaven_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CarehavenError)
    if isinstance(exc, SignInRequiredError) and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
    return _answer(request, exc.http_status, exc.code, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = {404: "There is no such page.", 405: "That is not how this page is used.",
               413: "The request is too big for this service; nothing of it was kept."}.get(
        status, str(exc.detail) if isinstance(exc.detail, str) else "There is a problem.")
    return _answer(request, status, {404: "not_found", 405: "method_not_allowed",
                                     413: "too_large"}.get(status, "http_error"), message)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name the fields, never the values sent (they might be anything a person typed).
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                     for e in exc.errors()})
    return _answer(request, 400, "usage", f"These parts of the request are missing or not "
                   f"valid: {', '.join(fields)}.")


async def unexpected(request: Request, exc: Exception) -> Response:
    reference = secrets.token_hex(4).upper()
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    route = getattr(request.scope.get("route"), "path", "?")
    log.error("internal error %s: %s at %s (%s %s)", reference, type(exc).__name__, where,
              request.method, route)
    return _answer(request, 500, "internal",
                   "Something went wrong on our side; please try again later.", reference)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CarehavenError, carehaven_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
