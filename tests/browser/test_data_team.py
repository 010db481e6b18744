"""The data team's journey (issue 14): decide a pair in the link review queue from its
evidence, and approve a release another person (dt2) proposed, its policy reasons shown, the
worker writing it; the proposer is refused with the reason."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visit
from tests.browser.haven import BuiltHaven

pytestmark = pytest.mark.browser


def _status(visit: Visit) -> str:
    return str(visit.page.locator(
        ".govuk-summary-list__row:has(dt:text-is('Status')) .govuk-tag").inner_text()).strip()


# Defined (so run) before the approval below: the release must still be proposed.
def test_the_proposer_cannot_approve_their_own_release(tabs: object, built: BuiltHaven) -> None:
    dt2: Visit = tabs("dt2")  # type: ignore[operator]
    page = dt2.page
    dt2.sign_in("dt2")
    dt2.goto(f"/releases/{built.release}", "own-release")
    assert _status(dt2) == "proposed"
    # No button that could only be refused; the page says why.
    assert page.locator("main button:has-text('Approve')").count() == 0
    assert "another person must approve it" in page.locator("#own-release").inner_text()
    # Asked all the same (the API, with the session's CSRF token): refused, with the reason.
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(f"/api/releases/{built.release}/approve",
                               headers={"X-CSRF-Token": csrf or ""})
    assert answer.status == 403
    assert "another person must approve it" in answer.json()["error"]["message"]


def test_data_team_decides_a_pair_and_approves_anothers_release(
        tabs: object, built: BuiltHaven) -> None:
    dt: Visit = tabs("dt")  # type: ignore[operator]
    page = dt.page
    dt.sign_in("dt")

    with page.expect_navigation():
        page.locator("nav a:has-text('Link review')").click()
    dt.check("link-review")
    cards = page.locator("main .govuk-summary-card")
    assert cards.count() == built.waiting_review
    evidence = page.locator("main").inner_text().lower()
    assert "match probability" in evidence and "one side" in evidence, evidence
    first = cards.first
    pair = first.locator("h2").inner_text().split()[1].rstrip(":")
    first.locator("label:has-text('Same person')").click()
    with page.expect_navigation():
        first.locator("button:has-text('Record the decision')").click()
    dt.check("pair-decided")
    assert f"Pair {pair} decided" in page.locator("main").inner_text()
    assert page.locator(f"main h2:has-text('Pair {pair}:')").count() == 0

    with page.expect_navigation():
        page.locator("nav a:has-text('Releases')").click()
    dt.check("releases")
    with page.expect_navigation():
        page.locator(f"main a:has-text('{built.release}')").click()
    dt.check("release-proposed")
    text = page.locator("main").inner_text()
    assert "user:dt2" in text and "SHR-4" in text, text  # the proposer and the policy's reasons
    assert _status(dt) == "proposed"
    with page.expect_navigation():
        page.locator("main button:has-text('Approve')").click()
    dt.check("release-approval-queued")
    # The worker serve started writes it; the page polls its job and reloads once it ends.
    page.wait_for_function(
        "() => document.querySelector('.govuk-summary-list .govuk-tag')?.textContent"
        ".trim() === 'written'", timeout=60_000, polling=500)
    dt.check("release-written")
    main = page.locator("main").inner_text()
    assert "user:dt" in page.locator(
        ".govuk-summary-list__row:has(dt:text-is('Approved by'))").inner_text()
    assert "failed" not in main.lower(), main


def test_data_team_reads_sharing_the_access_review_and_the_notices(
        tabs: object, built: BuiltHaven) -> None:
    dt: Visit = tabs("dt")  # type: ignore[operator]
    page = dt.page
    dt.sign_in("dt")
    for link, name in (("Sharing", "sharing"), ("Access review", "access-review"),
                       ("Notice versions", "notice-versions"), ("Audit log", "audit")):
        with page.expect_navigation():
            page.locator(f"nav a:text-is('{link}')").click()
        dt.check(name)
    dt.goto("/sharing", "sharing-again")
    assert "NDEC" in page.locator("main").inner_text()
    assert page.locator("main button:has-text('Revoke agreement')").count() >= 1
