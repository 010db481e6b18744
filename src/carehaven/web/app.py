"""``create_app``: the portal's FastAPI application over one open haven."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from carehaven import __version__
from carehaven.access.signin import PLAIN_COOKIE, SECURE_COOKIE
from carehaven.config import Settings
from carehaven.haven import Haven, open_haven
from carehaven.web import errors
from carehaven.web.security import BodyLimit, SecurityHeaders

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings, *, development: bool = False,
               haven: Haven | None = None) -> FastAPI:
    """The portal over the haven ``settings`` names, opened once (``app.state.haven``).

    ``development`` serves plain http on the developer's machine: the session cookie is then
    not Secure and is named ``carehaven``; otherwise it is ``__Host-carehaven``, Secure, and
    the portal expects TLS from a reverse proxy. ``haven`` reuses a haven already open (tests).
    """
    opened = haven if haven is not None else open_haven(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if haven is None:
            opened.close()

    app = FastAPI(
        title="carehaven",
        version=__version__,
        description="The carehaven web portal's JSON API: the same permissions as the pages "
        "and the command line. Authenticate with a personal token "
        "('Authorization: Bearer chv1...') or a signed-in session (unsafe calls then carry "
        "the X-CSRF-Token header).",
        openapi_url="/api/openapi.json",
        docs_url=None,  # FastAPI's docs UI loads its script from a CDN: not here
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.haven = opened
    app.state.settings = settings
    app.state.development = development
    app.state.secure_cookies = not development
    app.state.cookie_name = SECURE_COOKIE if not development else PLAIN_COOKIE
    errors.install(app)
    app.add_middleware(BodyLimit, max_file_mb=settings.max_file_mb)  # inside the headers
    app.add_middleware(SecurityHeaders, trusted_proxy=settings.trusted_proxy)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    from carehaven.web.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    return app
