"""The public's journey (issue 14): no sign-in; the statistics page with every published table,
its chart and disclosure profile; the downloads are the published files, byte for byte; the
privacy notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import Visit
from tests.browser.haven import PERIOD, TABLE, BuiltHaven

pytestmark = pytest.mark.browser


def _download(visit: Visit, link: str) -> bytes:
    with visit.page.expect_download() as info:
        visit.page.click(link)
    path = info.value.path()
    assert path is not None
    return Path(path).read_bytes()


def test_public_reads_statistics_and_downloads_a_table(visit: Visit, built: BuiltHaven) -> None:
    page = visit.page
    visit.goto("/", "home")
    with page.expect_navigation():
        page.click("main a:has-text('Published statistics')")
    visit.check("statistics")
    section = page.locator(f"section:has(h2:has-text('{PERIOD}'))").first
    assert section.locator("img.carehaven-chart").count() >= 1
    assert page.locator("img.carehaven-chart").first.evaluate("i => i.naturalWidth") > 0
    profile = section.locator(".govuk-summary-list").inner_text()
    assert "Hidden as small counts" in profile and "Disclosure rule" in profile
    assert section.locator("table.govuk-table tbody tr").count() > 0

    csv = _download(visit, f"a[href$='/{TABLE}.csv']")
    assert csv == (built.published / f"{TABLE}.csv").read_bytes()
    xlsx = _download(visit, f"a[href$='/{TABLE}-{PERIOD}.xlsx']")
    assert xlsx == (built.published / f"{TABLE}-{PERIOD}.xlsx").read_bytes()
    assert xlsx.startswith(b"PK\x03\x04")


def test_public_reads_the_privacy_notices(visit: Visit) -> None:
    page = visit.page
    visit.goto("/notices", "notices")
    with page.expect_navigation():
        page.locator("main a.govuk-link").first.click()
    visit.check("notice")
    assert "privacy notice" in page.title().lower()
    visit.goto("/notices/no-such-collection", "notice-not-found", status=404)
