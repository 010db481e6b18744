"""The auditor's journey (issue 14): run the audit log's verification and read the register
of processing."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visit
from tests.browser.pages import goto_page, missing

pytestmark = pytest.mark.browser


@missing("/audit", "/register")
def test_auditor_verifies_the_audit_log_and_reads_the_register(visit: Visit) -> None:
    page = visit.page
    visit.sign_in("aud")
    goto_page(visit, "/audit", "audit")
    with page.expect_navigation():
        page.locator("main button:has-text('Verify')").click()
    visit.check("audit-verified")
    outcome = page.locator("main").inner_text().lower()
    assert "intact" in outcome or "verified" in outcome, outcome
    goto_page(visit, "/register", "register")
    assert "processing" in page.locator("main h1").inner_text().lower()
