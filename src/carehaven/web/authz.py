"""Who may use which route: every (method, path) the portal serves by every role, written down
in one place (issue 14 part 4). The routes enforce it themselves, each through the domain
function and ``access.users.require`` the command line uses; this table is what they promise,
and tests/unit/test_web_authz.py makes the real request for every cell and fails on a route
missing here. Another area adds its routes below.

Denied means: anonymous callers of a page are sent to sign in (the API answers 401); signed-in
callers without the permission get 403, or 404 where saying more would tell that a thing
exists (another organisation's submission, report or job).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from carehaven.control.kinds import Role

ANONYMOUS = "anonymous"
#: The columns: the anonymous caller and every role.
ROLES: tuple[str, ...] = (ANONYMOUS, *(r.value for r in Role))
EVERYONE: frozenset[str] = frozenset(ROLES)
SIGNED_IN: frozenset[str] = EVERYONE - {ANONYMOUS}
#: Those who read and send returns: the submitter (its own organisation) and the data team.
SUBMITTERS: frozenset[str] = frozenset({Role.SUBMITTER.value, Role.DATA_TEAM.value})
DATA_TEAM: frozenset[str] = frozenset({Role.DATA_TEAM.value})
#: Who holds read-governance: releases, agreements, the access review, notices, the register.
GOVERNANCE_READERS: frozenset[str] = frozenset({Role.DATA_TEAM.value, Role.AUDITOR.value})
#: Who holds read-audit: the audit log's entries and its verification.
AUDIT_READERS: frozenset[str] = frozenset({Role.DATA_TEAM.value, Role.AUDITOR.value})

TABLE: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType({
    # sign-in and the public pages
    ("GET", "/"): EVERYONE,
    ("GET", "/sign-in"): EVERYONE,
    ("POST", "/sign-in"): EVERYONE,
    ("POST", "/sign-out"): SIGNED_IN,
    ("GET", "/statistics"): EVERYONE,
    ("GET", "/statistics/{publication}/{file_name}"): EVERYONE,
    ("GET", "/notices"): EVERYONE,
    ("GET", "/notices/{collection}"): EVERYONE,
    ("GET", "/static"): EVERYONE,
    # the submitter's pages
    ("GET", "/submissions"): SUBMITTERS,
    ("GET", "/submissions/new"): SUBMITTERS,
    ("POST", "/submissions"): SUBMITTERS,
    ("GET", "/submissions/{submission_id}"): SUBMITTERS,
    ("GET", "/submissions/{submission_id}/report.{fmt}"): SUBMITTERS,
    ("GET", "/jobs/{job_id}"): SUBMITTERS,
    ("GET", "/feedback"): SUBMITTERS,
    ("POST", "/feedback"): SUBMITTERS,
    ("GET", "/feedback/{job_id}/file"): SUBMITTERS,
    # the API
    ("GET", "/api/openapi.json"): EVERYONE,
    ("GET", "/api/me"): SIGNED_IN,
    ("GET", "/api/publications"): EVERYONE,
    ("GET", "/api/submissions"): SUBMITTERS,
    ("POST", "/api/submissions"): SUBMITTERS,
    ("GET", "/api/submissions/{submission_id}"): SUBMITTERS,
    ("GET", "/api/submissions/{submission_id}/report"): SUBMITTERS,
    ("GET", "/api/jobs/{job_id}"): SUBMITTERS,
    ("POST", "/api/users/{username}/unlock"): DATA_TEAM,
    ("POST", "/api/feedback"): SUBMITTERS,
    ("GET", "/api/feedback/{job_id}/file"): SUBMITTERS,
    # the data team's link review queue (run-pipeline)
    ("GET", "/review"): DATA_TEAM,
    ("POST", "/review/{pair_id}"): DATA_TEAM,
    ("GET", "/api/link-pairs"): DATA_TEAM,
    ("POST", "/api/link-pairs/{pair_id}"): DATA_TEAM,
    # releases: read-governance reads (the auditor too), propose and approve are the data team's
    ("GET", "/releases"): GOVERNANCE_READERS,
    ("POST", "/releases"): DATA_TEAM,
    ("GET", "/releases/{release_id}"): GOVERNANCE_READERS,
    ("POST", "/releases/{release_id}/approve"): DATA_TEAM,
    ("GET", "/api/releases"): GOVERNANCE_READERS,
    ("POST", "/api/releases"): DATA_TEAM,
    ("GET", "/api/releases/{release_id}"): GOVERNANCE_READERS,
    ("POST", "/api/releases/{release_id}/approve"): DATA_TEAM,
    ("GET", "/api/release-jobs/{approval_id}"): GOVERNANCE_READERS,
    # the audit log's state (read-audit) and the register of processing (read-governance)
    ("GET", "/audit"): AUDIT_READERS,
    ("POST", "/audit/verify"): AUDIT_READERS,
    ("GET", "/api/audit/entries"): AUDIT_READERS,
    ("POST", "/api/audit/verify"): AUDIT_READERS,
    ("GET", "/register"): GOVERNANCE_READERS,
    ("GET", "/api/register"): GOVERNANCE_READERS,
    # recipients and agreements: read-governance reads, manage-sharing changes; the review
    ("GET", "/sharing"): GOVERNANCE_READERS,
    ("POST", "/sharing/recipients"): DATA_TEAM,
    ("POST", "/sharing/agreements"): DATA_TEAM,
    ("POST", "/sharing/agreements/{agreement_id}/revoke"): DATA_TEAM,
    ("GET", "/access-review"): GOVERNANCE_READERS,
    ("GET", "/api/recipients"): GOVERNANCE_READERS,
    ("POST", "/api/recipients"): DATA_TEAM,
    ("GET", "/api/agreements"): GOVERNANCE_READERS,
    ("POST", "/api/agreements"): DATA_TEAM,
    ("POST", "/api/agreements/{agreement_id}/revoke"): DATA_TEAM,
    ("GET", "/api/access-review"): GOVERNANCE_READERS,
    # the notices' published versions (read-governance); publishing one (publish-notice)
    ("GET", "/notice-versions"): GOVERNANCE_READERS,
    ("POST", "/notice-versions"): DATA_TEAM,
    ("GET", "/api/notice-versions"): GOVERNANCE_READERS,
    ("POST", "/api/notice-versions"): DATA_TEAM,
})


def served(app: Starlette) -> list[tuple[str, str]]:
    """Every (method, path) ``app`` serves, HEAD aside; a mount as GET of its prefix. Routers
    included into routers are followed (FastAPI keeps them as included routers)."""
    found: list[tuple[str, str]] = []

    def walk(routes: Iterable[BaseRoute], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                context = getattr(route, "include_context", None)
                walk(included.routes, prefix + str(getattr(context, "prefix", "") or ""))
            elif isinstance(route, Mount):
                found.append(("GET", prefix + route.path))
            elif isinstance(route, Route):
                found.extend((m, prefix + route.path) for m in sorted(route.methods or ())
                             if m != "HEAD")

    walk(app.routes, "")
    return found


def allowed(method: str, path: str, role: str) -> bool:
    """Whether ``role`` may use the route; a route not in TABLE is nobody's."""
    return role in TABLE.get((method, path), frozenset())
