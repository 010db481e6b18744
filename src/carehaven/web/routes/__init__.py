"""The portal's routers, one per area. A new area adds its router here and its routes to
``carehaven.web.authz.TABLE`` (tests/unit/test_web_authz.py fails until it does)."""

from __future__ import annotations

from fastapi import APIRouter

from carehaven.web.routes import (
    api,
    audit,
    feedback,
    notices,
    public,
    register,
    releases,
    review,
    sharing,
    signin,
    submissions,
)

ROUTERS: list[APIRouter] = [signin.router, public.router, submissions.router, feedback.router,
                            api.router, feedback.api]
# The data team's and the auditor's areas (pages, then their API).
ROUTERS += [review.router, review.api, releases.router, releases.api, audit.router, audit.api,
            register.router, register.api, sharing.router, sharing.api,
            notices.router, notices.api]
