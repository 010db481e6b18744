"""The portal's routers, one per area. A new area adds its router here and its routes to
``carehaven.web.authz.TABLE`` (tests/unit/test_web_authz.py fails until it does)."""

from __future__ import annotations

from fastapi import APIRouter

from carehaven.web.routes import api, feedback, public, signin, submissions

ROUTERS: list[APIRouter] = [signin.router, public.router, submissions.router, feedback.router,
                            api.router, feedback.api]
