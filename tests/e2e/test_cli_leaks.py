"""What leaves through the command line: header messages and CSV cells (issue 12 items 16, 17).

Item 16: a CLD file whose first data row is joined to the header line with ';' is rejected, and
no part of that person's NHS number, names, date of birth or postcode reaches the terminal, the
control database, the report's summary and findings, or any format of ``carehaven report``.
Item 17: the report CSV neutralises every cell a spreadsheet could run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from carehaven import clock
from carehaven.cli import main
from carehaven.specs import load_spec
from tests.e2e.test_cli import run
from tests.helpers import declared_header
from tests.unit.test_csvsafe import DANGEROUS, NUMBER, starts_a_formula

ORG = "E09000001"
SUBMIT = ["--dataset", "cld-event", "--org", ORG, "--period", "2025Q2"]
PERSON = {
    "LA_Code": ORG, "Reporting_Period_Start_Date": "2024-07-01",
    "Reporting_Period_End_Date": "2025-06-30", "LA_Person_Unique_Identifier": "QV77341",
    "NHS_Number": "9434765919", "Given_Name": "Zebulon", "Family_Name": "Quixwort",
    "Date_of_Birth": "1937-08-31", "Gender": "Female", "Ethnicity": "White: British",
    "Postcode": "ZE2 9QX", "Client_Type": "Service User", "Accommodation_Status": "",
    "Employment_Status": "", "Has_Unpaid_Carer": "N", "Mental_Health_Record": "Y",
    "Event_Type": "Request", "Event_Start_Date": "2025-04-03", "Event_End_Date": "2025-04-20",
    "Event_Outcome": "", "Request_Route_of_Access": "",
}
#: The person's values; 9434765919 has a valid modulus-11 check digit.
SECRETS = ("9434765919", "Zebulon", "Quixwort", "1937-08-31", "ZE2 9QX", "QV77341")


def leaked(text: str, at_least: int = 5) -> list[str]:
    """Every piece of a secret, ``at_least`` characters or longer, found in ``text``."""
    return [
        s[i : i + n]
        for s in SECRETS
        for n in range(at_least, len(s) + 1)
        for i in range(len(s) - n + 1)
        if s[i : i + n] in text
    ]


def valid_row() -> dict[str, str]:
    spec = load_spec("cld-event")
    row = dict(PERSON)
    for name in ("Accommodation_Status", "Employment_Status", "Event_Outcome",
                 "Request_Route_of_Access"):
        row[name] = spec.field(name).enum[0]  # type: ignore[index]
    return row


def line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(values)
    return out.getvalue()


def glued_file(path: Path, rows: int = 1) -> Path:
    """The header line with the first data row joined on by ';', then ``rows`` more rows."""
    row = valid_row()
    data = line(list(row.values()))
    path.write_text(",".join(row) + ";" + data + data * rows, encoding="utf-8")
    return path


@pytest.fixture
def fixed_clock() -> Iterator[None]:
    """A fixed 'now', so that no timestamp can happen to match a piece of the date of birth."""
    clock.set_clock(lambda: datetime(2025, 7, 15, 9, 30, tzinfo=UTC))
    yield
    clock.set_clock(None)


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out + err


def scrub(text: str) -> str:
    """``text`` without the ids, digests and hashes the haven made: random hex may hold a run
    of digits that happens to be a piece of the NHS number."""
    return re.sub(r"\b[0-9a-f]{12,}\b", "<hex>", text)


def test_a_row_joined_to_the_header_leaks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixed_clock: None
) -> None:
    """Issue 12 item 16, through the CLI in-process: every place the message goes."""
    haven = tmp_path / "haven"
    h = ["--haven", str(haven)]
    assert cli([*h, "init"], capsys)[0] == 0
    assert cli([*h, "orgs", "add", ORG, "--kind", "local-authority", "--name", "X"], capsys)[0] == 0

    code, shown = cli([*h, "submit", str(glued_file(tmp_path / "a.csv")), *SUBMIT], capsys)
    assert code == 3 and "REJECTED" in shown
    code, as_json = cli([*h, "submit", str(glued_file(tmp_path / "b.csv", 2)), *SUBMIT,
                         "--json"], capsys)
    assert code == 3
    result = json.loads(as_json)
    sid, message = result["submission_id"], result["message"]
    code, listing = cli([*h, "submissions", "--json"], capsys)
    assert code == 0 and len(json.loads(listing)) == 2

    texts = {"submit": shown, "submit --json": as_json, "submissions --json": listing}
    db = sqlite3.connect(haven / "control.sqlite")
    for table in ("submissions", "audit_log"):
        texts[table] = " ".join(str(v) for row in db.execute(f"SELECT * FROM {table}")
                                for v in row)
    db.close()
    report = haven / "reports" / sid
    texts["summary.json"] = (report / "summary.json").read_text()
    texts["findings.parquet"] = json.dumps(pq.read_table(report / "findings.parquet").to_pylist())
    for fmt in ("csv", "json", "html"):
        code, text = cli([*h, "report", sid, "--format", fmt, "--stdout"], capsys)
        assert code == 0
        texts[f"report --format {fmt}"] = text
    assert {where: leaked(scrub(text)) for where, text in texts.items()} == {
        where: [] for where in texts}
    # The same sentence everywhere, and it still says what is wrong, where, and what it looks
    # like: the heading holding the NHS number is shown by its shape only.
    assert json.loads(texts["summary.json"])["message"] == message
    assert message in texts["submissions"]
    assert "column 25 (Y) shaped 9999999999" in message
    assert "joined to the header line" in message


@pytest.mark.slow
def test_a_row_joined_to_the_header_leaks_nothing_to_a_real_terminal(tmp_path: Path) -> None:
    """The same, as a user's shell runs it: stdout and stderr, with and without --json."""
    h = ["--haven", str(tmp_path / "haven")]
    assert run(*h, "init").returncode == 0
    assert run(*h, "orgs", "add", ORG, "--kind", "local-authority", "--name", "X").returncode == 0
    plain = run(*h, "submit", str(glued_file(tmp_path / "a.csv")), *SUBMIT)
    as_json = run(*h, "submit", str(glued_file(tmp_path / "b.csv", 2)), *SUBMIT, "--json")
    assert plain.returncode == as_json.returncode == 3
    for proc in (plain, as_json):
        assert leaked(scrub(proc.stdout + proc.stderr)) == []
    assert "shaped 9999999999" in json.loads(as_json.stdout)["message"]


def test_the_report_csv_neutralises_every_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 17: formula payloads in a free-text field (Event_Reference, too long, so
    that it is reported) and in a coded field (Client_Type, not a code) come out inert."""
    h = ["--haven", str(tmp_path / "haven")]
    main([*h, "init"])
    main([*h, "orgs", "add", ORG, "--kind", "local-authority", "--name", "X"])
    base = valid_row()
    # Every column the spec declares (issue 13 item 1), in the spec's order.
    header = declared_header([*base, "Event_Reference"])
    rows = []
    for i, payload in enumerate(DANGEROUS):
        ref = f"LA{i}"
        rows.append({**base, "LA_Person_Unique_Identifier": ref, "Client_Type": payload,
                     "Event_Reference": payload})
        rows.append({**base, "LA_Person_Unique_Identifier": ref + "x",
                     "Event_Reference": payload + "x" * 60})
    path = tmp_path / "payloads.csv"
    path.write_text(line(header) + "".join(line([r.get(c, "") for c in header]) for r in rows),
                    encoding="utf-8")
    capsys.readouterr()
    assert main([*h, "submit", str(path), *SUBMIT, "--json"]) == 3  # every row has a finding
    sid = json.loads(capsys.readouterr().out)["submission_id"]
    out = tmp_path / "report.csv"
    assert main([*h, "report", sid, "--format", "csv", "--out", str(out)]) == 0
    back = list(csv.reader(io.StringIO(out.read_bytes().decode(), newline="")))
    assert back[0] == ["row", "field", "rule", "message", "value"]
    cells = [c for r in back for c in r]
    unsafe = [c for c in cells if starts_a_formula(c) and not NUMBER.fullmatch(c)]
    assert unsafe == []
    values = {(r[1], r[4]) for r in back[1:]}
    for payload in DANGEROUS:
        assert ("Client_Type", "'" + payload) in values
        assert ("Event_Reference", "'" + (payload + "x" * 60)[:40] + "…") in values
