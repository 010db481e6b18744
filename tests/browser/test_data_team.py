"""The data team's journey (issue 14): decide a pair in the link review queue from its
evidence, and approve a release another person (dt2) proposed, its policy reasons shown."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visit
from tests.browser.haven import BuiltHaven
from tests.browser.pages import goto_page, missing

pytestmark = pytest.mark.browser


@missing("/link/review", "/releases/{label}")
def test_data_team_decides_a_pair_and_approves_anothers_release(
        tabs: object, built: BuiltHaven) -> None:
    dt: Visit = tabs("dt")  # type: ignore[operator]
    page = dt.page
    dt.sign_in("dt")

    goto_page(dt, "/link/review", "link-review")
    pairs = page.locator("main table tbody tr")
    assert pairs.count() == built.waiting_review
    evidence = page.locator("main").inner_text().lower()
    assert all(word in evidence for word in ("initials", "sex", "district")), evidence
    with page.expect_navigation():
        page.locator("main button:has-text('Same')").first.click()
    dt.check("pair-decided")
    assert "same" in page.locator("main").inner_text().lower()

    goto_page(dt, f"/releases/{built.release}", "release-proposed")
    text = page.locator("main").inner_text()
    assert "dt2" in text and "SHR-4" in text, text
    with page.expect_navigation():
        page.locator("main button:has-text('Approve')").click()
    dt.check("release-approved")
    assert "approved by" in page.locator("main").inner_text().lower()


@missing("/releases/{label}")
def test_the_proposer_cannot_approve_their_own_release(tabs: object, built: BuiltHaven) -> None:
    dt2: Visit = tabs("dt2")  # type: ignore[operator]
    dt2.sign_in("dt2")
    goto_page(dt2, f"/releases/{built.release}", "own-release")
    assert dt2.page.locator("main button:has-text('Approve')").count() == 0
