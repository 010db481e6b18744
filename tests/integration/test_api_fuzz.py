"""schemathesis over the JSON API's own OpenAPI document (issue 14 part 7): for every operation
and every kind of caller (nobody, a submitter, the data team, an auditor; by personal token,
and a submitter by session cookie with its CSRF header), generated requests, valid and not,
never get a 5xx, and every answer matches what /api/openapi.json documents (its status code,
its content type, its headers and its body's schema).

In process (the ASGI app over a real haven on SQLite, with a submission, a queued job, a
publication and people of every role), derandomised and bounded, so that it runs in
``make test`` in well under a minute. The haven is a throwaway one, so the unsafe operations
(an upload, an unlock) are fuzzed too. Path parameters are sometimes the ids of real things,
and an upload's query sometimes one the haven admits, so that the answers for things that
exist are checked, not only the refusals.

schemathesis's own pytest plugin (``schema.parametrize``) is not used: its lazy schema from a
fixture (needed here, the app needs a haven) fails under pytest 9.2 (it sets a node's
``_nodeid``, which pytest no longer has), and loading at import would build a haven whenever
the suite is collected; each operation's strategy is driven with Hypothesis's ``given``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import update

from carehaven import clock
from carehaven.access import auth
from carehaven.access.auth import issue_token
from carehaven.control.models import User
from carehaven.haven import Haven
from carehaven.web import authz, create_app
from tests.helpers import episodes_file
from tests.people import CHEAP
from tests.portal import (
    ORGS,
    feedback_fixture,
    populate,
    portal,
    propose_as,
    publish_fixture,
    queue_as,
    sharing_fixture,
    sign_in,
    submit_as,
    waiting_pair,
)

#: Examples per operation and caller: enough to reach every parameter's edges, few enough
#: that the whole file runs in well under a minute on the 2-core CI machine (Hypothesis's
#: ``long`` profile, HYPOTHESIS_PROFILE=long, runs as many as it asks for).
EXAMPLES = settings().max_examples if settings().max_examples > 100 else 20
#: Who calls: label -> (their role's column in carehaven.web.authz.TABLE, username, how they
#: prove who they are).
CALLERS: dict[str, tuple[str, str | None, str]] = {
    "anonymous": (authz.ANONYMOUS, None, "none"),
    "submitter": ("submitter", "sub", "token"),
    "data-team": ("data-team", "dt", "token"),
    "auditor": ("auditor", "aud", "token"),
    "submitter-by-cookie": ("submitter", "sub", "cookie"),
}
#: An upload's query that the haven admits (P001 returns ndtms-episode); generated queries
#: are sometimes replaced by it, so that uploads reach the queue, not only the refusals.
ADMISSIBLE = {"dataset": "ndtms-episode", "org": "P001", "period": "2025Q2"}
#: The user whose lockout the data team lifts (locked again before every call).
LOCKED = "sub2"
#: Unsafe operations whose success depends on the haven's state as much as on the request
#: (a recipient code not yet taken, a release someone else proposed and nobody is approving,
#: an agreement in force): a schema-valid request may rightly be refused (400, 403, 404, 409),
#: so schemathesis's positive-data-acceptance check does not apply, and a caller allowed the
#: route need not reach a 2xx with generated data. Their successes are tested with real
#: requests in tests/integration/test_web_data_team.py and test_web_governance.py; here they
#: are still fuzzed for 5xx, conformance, and a denied caller never answered 2xx.
STATEFUL = frozenset({
    ("POST", "/api/recipients"), ("POST", "/api/agreements"),
    ("POST", "/api/agreements/{agreement_id}/revoke"), ("POST", "/api/releases"),
    ("POST", "/api/releases/{release_id}/approve"), ("POST", "/api/notice-versions"),
    ("POST", "/api/link-pairs/{pair_id}"), ("POST", "/api/feedback"),
})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A throwaway haven with people of every role, a judged submission, a queued job and a
    publication; the app over it; and each caller's headers."""
    from carehaven.config import Settings
    from carehaven.haven import init_haven

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "HASHER", CHEAP)
        root = tmp_path_factory.mktemp("fuzz") / "haven"
        haven = init_haven(Settings.load(haven=root), actor="test")
        try:
            for code, kind, name in ORGS:
                haven.add_organisation(code, kind, name, actor="test")
            populate(haven)
            from carehaven.access.users import _actor
            from carehaven.jobs.releases import enqueue_approval

            deal = sharing_fixture(haven)
            approver = _actor(haven, "dt", via="password")
            assert approver is not None
            approval = enqueue_approval(haven, propose_as(haven, "dt2", deal), actor=approver)
            ids = {"submission_id": submit_as(haven, "sub", episodes_file(3)),
                   "job_id": queue_as(haven, "sub", episodes_file(2)),
                   "feedback_job_id": feedback_fixture(haven),
                   "release_id": propose_as(haven, "dt2", deal),
                   "approval_id": approval.job_id, "pair_id": waiting_pair(haven),
                   "agreement_id": deal, "username": LOCKED}
            publish_fixture(haven, root.parent / "published")
            headers: dict[str, dict[str, str]] = {}
            cookies: dict[str, dict[str, str]] = {}
            for label, (_role, user, via) in CALLERS.items():
                if via == "token" and user is not None:
                    token = issue_token(haven, user, actor="test", label="fuzz").token
                    headers[label] = {"Authorization": f"Bearer {token}"}
                elif via == "cookie" and user is not None:
                    with portal(haven) as client:
                        csrf = sign_in(client, user)
                        cookies[label] = dict(client.cookies.items())
                    headers[label] = {"X-CSRF-Token": csrf}
                else:
                    headers[label] = {}
            app = create_app(haven.settings, development=True, haven=haven)
            yield {"haven": haven, "app": app, "ids": ids, "headers": headers,
                   "cookies": cookies}
        finally:
            haven.close()


@pytest.fixture(scope="module")
def api(world: dict[str, Any]) -> BaseSchema:
    """The schema the app documents at /api/openapi.json; path parameters as generated, or
    the ids of the things the haven holds."""
    loaded = schemathesis.openapi.from_asgi("/api/openapi.json", world["app"])
    real: dict[str, str] = world["ids"]

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None
                                ) -> st.SearchStrategy[dict[str, Any] | None]:
        known = {k: real[k] for k in path_parameters or {} if k in real}
        if context.operation.label == "GET /api/feedback/{job_id}/file":
            known["job_id"] = real["feedback_job_id"]  # a done feedback job, not an upload
        if not known:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**(path_parameters or {}), **known}])

    @loaded.hook
    def flatmap_query(context: Any, query: dict[str, Any] | None
                      ) -> st.SearchStrategy[dict[str, Any] | None]:
        if context.operation.label != "POST /api/submissions":
            return st.just(query)
        return st.sampled_from([query, {**(query or {}), **ADMISSIBLE}])

    return loaded


#: The operations the API documents: the table's /api/ routes but the document itself
#: (test_every_api_route_is_fuzzed keeps the two the same).
OPERATIONS = sorted((m, p) for m, p in authz.TABLE
                    if p.startswith("/api/") and p != "/api/openapi.json")


def test_every_api_route_is_fuzzed(api: BaseSchema) -> None:
    documented = sorted((method.upper(), path) for path, methods in api.raw_schema["paths"].items()
                        for method in methods)
    assert documented == OPERATIONS


def _lock(haven: Haven, username: str) -> None:
    with haven.transaction() as session:
        session.execute(update(User).where(User.username == username)
                        .values(locked_at=clock.now()))


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_keeps_its_documented_promises(api: BaseSchema, world: dict[str, Any],
                                               caller: str, method: str, path: str) -> None:
    """No 5xx and every answer as documented (schemathesis's checks, all of them); and, by
    the route x role table, a caller allowed the route is answered 2xx for some request (the
    real ids reach the things that exist), a caller denied it never is."""
    role = CALLERS[caller][0]
    haven: Haven = world["haven"]
    headers, cookies = world["headers"][caller], world["cookies"].get(caller)
    operation = api[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))
    statuses: list[int] = []

    @given(cases)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Case[Any]) -> None:
        if path == "/api/users/{username}/unlock":
            _lock(haven, LOCKED)
        excluded = [positive_data_acceptance] if (method, path) in STATEFUL else None
        statuses.append(case.call_and_validate(headers=headers, cookies=cookies,
                                               excluded_checks=excluded).status_code)

    fuzz()
    succeeded = [s for s in statuses if s < 300]
    if not authz.allowed(method, path, role):
        assert not succeeded, f"{caller} was answered {succeeded[0]} by {method} {path}"
    elif (method, path) not in STATEFUL:
        assert succeeded, f"{caller} never got a 2xx from {method} {path}: {sorted(set(statuses))}"
