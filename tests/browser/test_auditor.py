"""The auditor's journey (issue 14): run the audit log's verification and read the register
of processing."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visit

pytestmark = pytest.mark.browser


def test_auditor_verifies_the_audit_log_and_reads_the_register(visit: Visit) -> None:
    page = visit.page
    visit.sign_in("aud")
    with page.expect_navigation():
        page.locator("nav a:has-text('Audit log')").click()
    visit.check("audit")
    assert page.locator("main table tbody tr").count() > 0  # the newest entries
    with page.expect_navigation():
        page.locator("main button:has-text('Verify the audit log')").click()
    visit.check("audit-verified")
    outcome = page.locator("main").inner_text()
    assert "Audit log intact" in outcome, outcome
    assert "not read back" in outcome  # the landed files are read back only when asked
    with page.expect_navigation():
        page.locator("nav a:has-text('Register')").click()
    visit.check("register")
    assert "processing" in page.locator("main h1").inner_text().lower()
    assert page.locator("main section h2").count() >= 1  # an activity per collection
    assert "Lawful bases" in page.locator("main").inner_text()
