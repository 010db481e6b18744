"""Publishing statistics from a linked haven: protected, checked, consistent across quarters
(PSE-5, OUT-2, OUT-4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from sqlalchemy import select

from carehaven.collection.period import parse_period
from carehaven.control.models import AuditEntry, Publication
from carehaven.data import connect
from carehaven.disclosure.audit import check, primary_vars
from carehaven.disclosure.policy import primary
from carehaven.disclosure.table import Problem
from carehaven.errors import UsageError
from carehaven.haven import Haven
from carehaven.identity.link import link
from carehaven.pseudonymise.personal import ensure_personal
from carehaven.publish.build import build as build_table
from carehaven.publish.check import check_file
from carehaven.publish.cld import received
from carehaven.publish.definitions import definition, definitions
from carehaven.publish.longcsv import read_csv
from carehaven.publish.publish import publish
from tests.linkage import build

pytestmark = pytest.mark.slow

QUARTERS = ("2024Q2", "2024Q3", "2024Q4")


@pytest.fixture(scope="module")
def haven(tmp_path_factory: pytest.TempPathFactory) -> Haven:
    root = tmp_path_factory.mktemp("publish")
    h, _ = build(root / "haven", root / "returns", people=1500, seed=11, periods=QUARTERS)
    link(h, actor="test")
    return h


def _true_table(haven: Haven, name: str, period: str):  # type: ignore[no-untyped-def]
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            with haven.sessions() as session:
                tier = ensure_personal(session, con, haven.master_key)
                dataset = definition(name).dataset
                return build_table(definition(name), tier.events(dataset),
                                   parse_period(period), received(session, dataset))
        finally:
            con.disconnect()


def test_quarters_and_their_year_to_date_are_safe_together(haven: Haven, tmp_path: Path) -> None:
    """Part 5: an intruder holding every quarter and year-to-date table published so far (the
    last quarter twice), and every total, cannot narrow any small cell below its protection."""
    name = "asc-requests-by-route"
    for q in QUARTERS:
        publish(haven, name, q, tmp_path / q, actor="test")
    publish(haven, name, QUARTERS[-1], tmp_path / "again", actor="test")  # the intruder keeps both
    table, ytd = _true_table(haven, name, QUARTERS[-1])
    assert ytd is not None and [p.label for p in ytd.quarters] == list(QUARTERS)
    # Everything public: a cell is known if any publication showed it.
    public = np.zeros(len(table), dtype=np.bool_)
    with haven.sessions() as session:
        rows = session.execute(select(Publication).where(Publication.name == name)).scalars()
        for row in rows:
            # Each part under its stable label; the year to date through the last quarter is
            # this cube's Total.
            for part, cells in json.loads(row.statuses)["parts"].items():
                code = "Total" if part == f"{ytd.year} to {QUARTERS[-1]}" else part
                for *key, was_hidden, _figure in cells:
                    if not was_hidden:
                        public[table.index[(*key, code)]] = True
    problem = Problem.single(table)
    mask, lpl, upl = primary_vars(problem, [primary(table, definition(name).policy)])
    assert mask.any() and (~public).any()
    assert check(problem, ~public, mask, lpl, upl) == []
    # The earlier quarters' statuses were kept: nothing shown earlier is now hidden, and back.
    q2 = read_csv(tmp_path / QUARTERS[0] / f"{name}.csv")
    for key, marker in zip(q2.keys, q2.markers, strict=True):
        assert public[table.index[(*key, QUARTERS[0])]] == (marker == "")


def test_every_headline_table_publishes_safely(haven: Haven, tmp_path: Path) -> None:
    """Each shipped table is written as CSV, spreadsheet and chart, and passes the check."""
    for name in definitions():
        result = publish(haven, name, "2024Q4", tmp_path / name, actor="test")
        assert result.safe and result.cells > 0
        csv = tmp_path / name / f"{name}.csv"
        assert csv in result.files
        assert check_file(csv).safe
        back = read_csv(csv)
        assert list(back.meta["disclosure"]) == ["policy", "threshold", "protection_level",
                                                 "round_base"]
        # zero is shown; a count from 1 to 9 never is
        counts = back.shown[~np.isnan(back.shown)]
        if definition(name).counts != "value":
            assert not ((counts > 0) & (counts < 10)).any()
        assert (tmp_path / name / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        book = openpyxl.load_workbook(tmp_path / name / f"{name}-2024Q4.xlsx")
        assert book.sheetnames[:3] == ["Cover", "Contents", "Notes"]


def test_the_long_csv_matches_the_true_table_where_shown(haven: Haven, tmp_path: Path) -> None:
    name = "ndtms-people-in-treatment"
    publish(haven, name, "2024Q4", tmp_path, actor="test")
    table, ytd = _true_table(haven, name, "2024Q4")
    assert ytd is None  # people in treatment is not a flow: no year to date
    back = read_csv(tmp_path / f"{name}.csv")
    assert back.keys[0] == table.keys[0] and len(back.keys) == len(table)
    shown = ~np.isnan(back.shown)
    truth = np.array([table.values[table.index[k]] for k in back.keys])
    assert np.array_equal(back.shown[shown], truth[shown])
    assert back.markers.count("[c]") == int((~shown).sum()) > 0
    header = (tmp_path / f"{name}.csv").read_text().splitlines()[0]
    assert header == "local_authority,primary_substance,value"
    assert ",Total," in (tmp_path / f"{name}.csv").read_text()


def test_a_failed_check_writes_nothing(haven: Haven, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern the intruder check rejects is never written or recorded."""
    from carehaven.publish import publish as module

    real = module.protect

    def careless(problem, mask, *args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(problem, mask, *args, **kwargs)
        found.suppressed = mask.copy()  # primary cells only: no complementary suppression
        return found

    monkeypatch.setattr(module, "protect", careless)
    with haven.sessions() as session:
        before = session.query(Publication).count()
    with pytest.raises(module.UnsafeTableError, match="intruder check"):
        publish(haven, "ndtms-people-in-treatment", "2024Q3", tmp_path, actor="test")
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
    with haven.sessions() as session:
        assert session.query(Publication).count() == before


def test_refusals_and_the_audit_entry(haven: Haven, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="quarter like 2025Q2"):
        publish(haven, "asc-waiting-times", "last year", tmp_path, actor="test")
    with pytest.raises(Exception, match="no publication table"):
        publish(haven, "nope", "2024Q3", tmp_path, actor="test")
    publish(haven, "asc-waiting-times", "2024Q4", tmp_path, actor="test")
    with pytest.raises(UsageError, match="already exists"):
        publish(haven, "asc-waiting-times", "2024Q4", tmp_path, actor="test")
    # Out of order is protected with what is already public (issue 13 item 10), not refused.
    late = publish(haven, "asc-waiting-times", "2024Q3", tmp_path / "late", actor="test")
    assert late.safe and late.revision is None
    with haven.sessions() as session:
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "table.published")
            .order_by(AuditEntry.seq.desc())
        ).scalars().first()
    assert entry is not None and "asc-waiting-times" in entry.details
