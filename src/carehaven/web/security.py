"""Response headers every answer carries, and the checks every unsafe request passes
(issue 14 part 5; docs/web.md, "Headers")."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Everything from this server only; no inline script or style, no plugin, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it a browser sends "Origin: null" with every form post, even to
    # this site, and the Origin check below would refuse them all (the browser tests found it).
    # same-origin sends nothing to any other site all the same.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                          "interest-cohort=()",
}
HSTS = "max-age=31536000; includeSubDomains"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The most a request other than an upload may send (a form, a JSON call): FastAPI reads a JSON
#: body whole, before the route's dependencies check who is calling, so without this bound an
#: anonymous caller could make the portal hold any size of body in memory.
MAX_BODY = 1024 * 1024
#: The routes that receive a file: their whole body may be the file limit and this much more
#: (the form's other fields and the multipart framing; streaming.py caps each field).
UPLOADS = frozenset({("POST", "/submissions"), ("POST", "/api/submissions")})
UPLOAD_SLACK = 1024 * 1024


class BodyLimit:
    """Refuses (413) a request body over its bound: at once when Content-Length declares more,
    else as soon as the bytes received pass it (a chunked body too). Starlette's
    ``RequestBodyLimitMiddleware`` counts; this picks the bound by route."""

    def __init__(self, app: ASGIApp, *, max_file_mb: int) -> None:
        self.app = app
        self.small = RequestBodyLimitMiddleware(app, max_body_size=MAX_BODY)
        self.upload = RequestBodyLimitMiddleware(
            app, max_body_size=max_file_mb * 1024 * 1024 + UPLOAD_SLACK)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = self.upload if (scope["method"], scope["path"]) in UPLOADS else self.small
        declared = Request(scope).headers.get("content-length", "")
        if declared.isdigit() and int(declared) > chosen.max_body_size:
            # Answered here, unread, in the portal's own error shape (Starlette's would
            # replace whatever the route answered with a plain-text one).
            from starlette.exceptions import HTTPException

            from carehaven.web.errors import http_error

            refused = await http_error(Request(scope, receive), HTTPException(413))
            await refused(scope, receive, send)
            return
        await chosen(scope, receive, send)


def is_tls(request: Request, *, trusted_proxy: bool) -> bool:
    """Whether the browser reached us over TLS: the scheme, or a trusted proxy's header."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "") if trusted_proxy else ""
    return forwarded.split(",")[0].strip().lower() == "https"


def client_address(request: Request, *, trusted_proxy: bool) -> str:
    """The client's address for throttling: the proxy's X-Forwarded-For when it is trusted."""
    if trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


class SecurityHeaders:
    """Adds HEADERS (and HSTS over TLS) to every response, a 500 included; ``Cache-Control:
    no-store`` to every answer but the static assets (a signed-in page must never sit in a
    shared cache); and refuses an unsafe request whose Origin is another site's (login CSRF
    and the like).
    Plain ASGI, so that a streamed upload passes through untouched."""

    def __init__(self, app: ASGIApp, *, trusted_proxy: bool) -> None:
        self.app = app
        self.trusted_proxy = trusted_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        tls = is_tls(request, trusted_proxy=self.trusted_proxy)
        static = request.url.path.startswith("/static/")
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if tls:
                    headers["Strict-Transport-Security"] = HSTS
                if static:
                    headers.setdefault("Cache-Control", "public, max-age=3600")
                else:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        if request.method in UNSAFE and not _same_origin(request):
            refused = JSONResponse({"error": {"code": "access_denied", "message":
                                              "The request came from another site."}},
                                   status_code=403)
            await refused(scope, receive, with_headers)
            return
        try:
            await self.app(scope, receive, with_headers)
        except Exception as exc:
            # Starlette answers an unexpected error in its outermost middleware, outside this
            # one, so its 500 would go without these headers: answered here instead.
            if started:
                raise
            from carehaven.web.errors import unexpected

            answer = await unexpected(Request(scope, receive), exc)
            await answer(scope, receive, with_headers)


def _same_origin(request: Request) -> bool:
    """An unsafe request's Origin (when the browser sends one) names this host."""
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and request.headers.get("authorization")):
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
