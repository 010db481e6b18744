"""Rendering a page: the GOV.UK layout, the navigation the caller's roles allow, the CSRF
token its forms carry. Other areas add their links to ``NAVIGATION``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from carehaven.access.permissions import Permission
from carehaven.access.users import Actor, visible_orgs
from carehaven.web.deps import Caller

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass(frozen=True)
class NavItem:
    href: str
    text: str
    #: Whether the link shows for this caller (None: anonymous).
    shown: Callable[[Actor | None], bool]


def _reaches(permission: Permission) -> Callable[[Actor | None], bool]:
    def shown(actor: Actor | None) -> bool:
        return actor is not None and visible_orgs(actor, permission) != set()
    return shown


def _anyone(_actor: Actor | None) -> bool:
    return True


#: The service navigation, in order. Another area appends its own (``NAVIGATION.append``).
NAVIGATION: list[NavItem] = [
    NavItem("/submissions", "Submissions", _reaches(Permission.READ_SUBMISSIONS)),
    NavItem("/submissions/new", "Upload a return", _reaches(Permission.SUBMIT)),
    NavItem("/feedback", "Feedback", _reaches(Permission.READ_SUBMISSIONS)),
    NavItem("/review", "Link review", _reaches(Permission.RUN_PIPELINE)),
    NavItem("/releases", "Releases", _reaches(Permission.READ_GOVERNANCE)),
    NavItem("/sharing", "Sharing", _reaches(Permission.READ_GOVERNANCE)),
    NavItem("/access-review", "Access review", _reaches(Permission.READ_GOVERNANCE)),
    NavItem("/notice-versions", "Notice versions", _reaches(Permission.READ_GOVERNANCE)),
    NavItem("/audit", "Audit log", _reaches(Permission.READ_AUDIT)),
    NavItem("/register", "Register", _reaches(Permission.READ_GOVERNANCE)),
    NavItem("/statistics", "Statistics", _anyone),
    NavItem("/notices", "Privacy notices", _anyone),
]


def navigation(request: Request, actor: Actor | None) -> list[dict[str, Any]]:
    path = request.url.path
    return [{"href": i.href, "text": i.text, "current": path == i.href}
            for i in NAVIGATION if i.shown(actor)]


def render(request: Request, template: str, caller: Caller | None, *, title: str,
           status_code: int = 200, **context: Any) -> HTMLResponse:
    actor = caller.actor if caller is not None else None
    return TEMPLATES.TemplateResponse(
        request, template,
        {"title": title, "user": actor, "csrf": caller.csrf if caller else "",
         "navigation": navigation(request, actor), **context},
        status_code=status_code,
    )
