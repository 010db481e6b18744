"""The submitter's journey (issue 14): sign in, upload a good return and a bad one through the
upload form, watch each job reach judged, read both reports and download their CSV and JSON,
and find another organisation's submission not found."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.browser.conftest import Visit
from tests.browser.haven import BuiltHaven
from tests.helpers import csv_bytes, episode

pytestmark = pytest.mark.browser

#: A quarter the upload form offers (the last six that have begun, by the haven's clock).
QUARTER = "2026Q3"


def _rows(bad: bool) -> list[dict[str, str]]:
    rows = [episode(client_ref=f"W{i}", episode_id=f"WE{i}", referral_date="2026-07-02",
                    treatment_start_date="2026-07-10") for i in range(5)]
    if bad:  # every row with a date of birth that is no date
        rows = [{**r, "date_of_birth": "1980-13-45"} for r in rows]
    return rows


def _upload(visit: Visit, tmp: Path, name: str, bad: bool) -> str:
    """Upload through the form; wait on the job page until judged; the submission's id."""
    page = visit.page
    path = tmp / name
    path.write_bytes(csv_bytes(_rows(bad)))
    visit.goto("/submissions/new", f"upload-form-{name}")
    page.select_option("#org", "P001")
    page.select_option("#dataset", "ndtms-episode")
    page.select_option("#period", QUARTER)
    page.set_input_files("#file", str(path))
    with page.expect_navigation():
        page.click("button:has-text('Upload')")
    assert "/jobs/" in page.url
    visit.check(f"job-{name}-waiting")
    # The page refreshes itself every few seconds until the worker has judged the file.
    state = page.locator(".govuk-summary-list .govuk-tag")
    page.wait_for_function(
        "() => document.querySelector('.govuk-summary-list .govuk-tag')?.textContent"
        ".trim() === 'judged'", timeout=60_000, polling=500)
    assert state.inner_text().strip() == "judged"
    visit.check(f"job-{name}-judged")
    with page.expect_navigation():
        page.click("a:has-text('Read the validation report')")
    visit.check(f"report-{name}")
    return page.url.rstrip("/").rsplit("/", 1)[1]


def _download(visit: Visit, link: str) -> bytes:
    with visit.page.expect_download() as info:
        visit.page.click(link)
    path = info.value.path()
    assert path is not None
    return Path(path).read_bytes()


def test_submitter_uploads_reads_reports_and_sees_only_its_own(
        visit: Visit, built: BuiltHaven, tmp_path: Path) -> None:
    page = visit.page
    visit.sign_in("sub")

    good = _upload(visit, tmp_path, "good.csv", bad=False)
    assert "accepted" in page.locator("main p").first.inner_text()
    report = json.loads(_download(visit, "a:has-text('(JSON)')"))
    assert report["rows"] == {"total": 5, "accepted": 5, "rejected": 0}, report

    bad = _upload(visit, tmp_path, "bad.csv", bad=True)
    assert bad != good
    findings = list(csv.DictReader(io.StringIO(
        _download(visit, "a:has-text('(CSV)')").decode())))
    assert findings and all(f["field"] == "date_of_birth" for f in findings), findings
    assert not any("1980-13-45" in json.dumps(f) for f in findings), "a value in the report"
    bad_report = json.loads(_download(visit, "a:has-text('(JSON)')"))
    assert bad_report["rows"]["rejected"] == 5 and bad_report["findings"], bad_report
    assert "date_of_birth" in page.locator(".carehaven-notice").inner_text()

    visit.goto("/submissions", "submissions")
    listed = page.locator("table.govuk-table tbody tr")
    orgs = set(listed.locator("td:nth-child(2)").all_inner_texts())
    assert orgs == {"P001"}, orgs
    assert page.locator(f"a:has-text('{good}')").count() == 1
    assert page.locator(f"a:has-text('{bad}')").count() == 1

    other = built.other_org_submission
    visit.goto(f"/submissions/{other}", "another-organisations-submission", status=404)
    theirs = page.locator("main").inner_text()
    visit.goto("/submissions/sub-000000000000", "no-such-submission", status=404)
    # Not found, word for word as a submission that does not exist: nothing tells it exists.
    assert theirs.replace(other, "ID") == page.locator("main").inner_text().replace(
        "sub-000000000000", "ID")
    visit.goto(f"/submissions/{other}/report.csv", "another-organisations-report", status=404)
