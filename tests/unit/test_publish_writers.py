"""The publishing writers: long CSV (and reading it back), spreadsheet, chart and HTML page."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from carehaven.disclosure.table import TOTAL, Hierarchy, Table
from carehaven.publish.chart import write_chart
from carehaven.publish.longcsv import read_csv, read_published, structure_path, write_csv
from carehaven.publish.model import Published, format_number, from_table
from carehaven.publish.spreadsheet import write_xlsx

SECRET = 9876.0  # the true value of a suppressed cell: must never appear in any output

# Three levels below Total: authority -> region -> nation -> Total.
AREA = Hierarchy(
    "area",
    {
        "E06": "NE", "E07": "NE", "E08": "NW", "NE": "ENG", "NW": "ENG",
        "W01": "WAL", "ENG": TOTAL, "WAL": TOTAL,
    },
    ("E06", "E07", "NE", "E08", "NW", "ENG", "W01", "WAL", TOTAL),
)
SUBSTANCE = Hierarchy.flat("substance", ["opiates", "=alcohol", "crack"])
SEX = Hierarchy.flat("sex", ["female", "male"])


def _two_dim() -> Published:
    leaves = {k: float(3 + 2 * n) for n, k in enumerate(itertools.product(AREA.leaves,
                                                                           SUBSTANCE.leaves))}
    leaves[("E06", "opiates")] = SECRET
    table = Table.from_leaves("people", [AREA, SUBSTANCE], leaves)
    hidden = {("E06", "opiates"), ("E07", "opiates"), ("E06", "crack"), ("E07", "crack")}
    marker = ["[c]" if k in hidden else "" for k in table.keys]
    marker[table.index[("W01", "crack")]] = "[x]"
    return from_table(
        table, None, marker, name="ndtms-people", title="People in treatment, 2025Q2",
        description="People in drug treatment by area and substance.",
        dataset="ndtms-episode", period="2025Q2", counts="people",
        notes=["Counts are of people, not episodes.", "Source: NDTMS."],
        labels={"area": {"E06": "Hartlepool", "E07": "Middlesbrough"}},
    )


def _three_dim() -> Published:
    leaves = {k: 1.25 * (n % 7) for n, k in enumerate(itertools.product(
        AREA.leaves, SUBSTANCE.leaves, SEX.leaves))}
    table = Table.from_leaves("spend", [AREA, SUBSTANCE, SEX], leaves)
    marker = ["[c]" if table.keys[i][0] == "E08" and table.keys[i][2] == "female" else ""
              for i in range(len(table))]
    shown = np.round(table.values, 2)
    return from_table(
        table, shown, marker, name="spend", title="Spend by area, substance and sex",
        dataset="finance", period="2025Q2", counts="value",
    )


# --- model -------------------------------------------------------------------------------


def test_from_table_blanks_hidden_cells_and_published_refuses_hidden_numbers() -> None:
    pub = _two_dim()
    i = pub.index()[("E06", "opiates")]
    assert pub.marker[i] == "[c]" and math.isnan(pub.shown[i])
    shown = pub.shown.copy()
    shown[i] = SECRET
    with pytest.raises(ValueError, match="never carry a hidden value"):
        Published(pub.name, pub.title, "", "d", "p", "people", pub.dims, pub.keys, shown,
                  pub.marker, [])


def test_format_number() -> None:
    assert format_number(12.0) == "12"
    assert format_number(2.5) == "2.5"
    assert format_number(1234.256) == "1234.26"
    assert format_number(-0.001) == "0"
    assert format_number(1234567.0, grouping=True) == "1,234,567"


# --- CSV ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_two_dim, _three_dim])
def test_csv_round_trip(tmp_path: Path, make: Callable[[], Published]) -> None:
    pub = make()
    path = tmp_path / f"{pub.name}.csv"
    sidecar = write_csv(pub, path)
    assert sidecar == structure_path(path) == tmp_path / f"{pub.name}.structure.json"
    back = read_csv(path)
    assert back.warnings == []
    assert back.dims == pub.dims
    assert back.keys == [pub.keys[i] for i in pub.cube_order()]
    order = pub.cube_order()
    np.testing.assert_array_equal(back.shown, pub.shown[order])
    assert back.markers == [pub.marker[i] for i in order]
    again = read_published(path)
    assert (again.title, again.counts, again.notes, again.labels) == (
        pub.title, pub.counts, pub.notes, pub.labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, sidecar.name])


def test_csv_text_layout(tmp_path: Path) -> None:
    pub = _two_dim()
    path = tmp_path / "t.csv"
    write_csv(pub, path)
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("utf-8").splitlines()
    assert lines[0] == "area,substance,value"
    assert lines[1] == "E06,opiates,[c]"
    assert lines[2] == "E06,'=alcohol,5"  # the guard, and an integer without ".0"
    assert lines[-1] == f"Total,Total,{int(np.nansum(pub.shown[pub.index()[(TOTAL, TOTAL)]]))}"
    assert "W01,crack,[x]" in lines
    assert len(lines) == 1 + len(AREA.order) * len(SUBSTANCE.order)
    assert "9876" not in raw.decode()
    structure = json.loads(structure_path(path).read_text())
    assert structure["dimensions"][0]["parent"]["NE"] == "ENG"
    assert structure["title"] == pub.title


def test_csv_decimals_and_negative_numbers_are_not_guarded(tmp_path: Path) -> None:
    dim = Hierarchy.flat("item", ["-x", "@y", "+z"])
    pub = Published("neg", "Neg", "", "d", "p", "value", (dim,),
                    [("-x",), ("@y",), ("+z",), (TOTAL,)],
                    np.array([-3.0, 2.5, 0.75, 0.25]), ["", "", "", ""], [])
    path = tmp_path / "neg.csv"
    write_csv(pub, path)
    lines = path.read_text().splitlines()
    assert lines[1:] == ["'-x,-3", "'@y,2.5", "'+z,0.75", "Total,0.25"]
    back = read_csv(path)
    assert back.keys == pub.keys
    np.testing.assert_array_equal(back.shown, pub.shown)


def test_formula_guard_on_labels(tmp_path: Path) -> None:
    dim = Hierarchy.flat("=cmd|' /C calc'!A0", ["=HYPERLINK(\"http://x\")", "'quoted", "ok"])
    keys = [(c,) for c in dim.order]
    pub = Published("f", "F", "", "d", "p", "people", (dim,), keys,
                    np.array([1.0, 2.0, 3.0, 6.0]), [""] * 4, [])
    path = tmp_path / "f.csv"
    write_csv(pub, path)
    fields = [line.split(",")[0] for line in path.read_text().splitlines()]
    assert all(not f.lstrip('"').startswith(("=", "+", "-", "@")) for f in fields)
    assert fields[0].startswith("'=") and fields[2] == "''quoted"
    back = read_csv(path)
    assert back.dims[0].name == dim.name
    assert back.keys == keys


def test_read_without_sidecar_is_flat_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_csv(_two_dim(), path)
    structure_path(path).unlink()
    back = read_csv(path)
    assert len(back.warnings) == 1 and "flat" in back.warnings[0]
    area = back.dims[0]
    assert set(area.parent.values()) == {TOTAL}
    assert area.order[:3] == ("E06", "E07", "NE") and area.order[-1] == TOTAL
    with pytest.raises(ValueError, match="no structure file"):
        read_published(path)


def _lines(tmp_path: Path, *, sidecar: bool = False) -> tuple[Path, list[str]]:
    path = tmp_path / "bad.csv"
    write_csv(_two_dim(), path)
    if not sidecar:
        structure_path(path).unlink()
    return path, path.read_text().splitlines()


def _expect(path: Path, lines: list[str], pattern: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=pattern) as err:
        read_csv(path)
    message = str(err.value)
    assert str(path) in message
    return message


def test_error_missing_value_column(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[0] = "area,substance,count"
    _expect(path, lines, r"row 1: no 'value' column")


def test_error_value_column_not_last(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[0] = "area,value,substance"
    _expect(path, lines, r"row 1, column 2: 'value' must be the last column")


def test_error_bad_value(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[3] = "E06,crack,12abc"
    message = _expect(path, lines,
                      r"row 4, column 3 \('value'\) holds text shaped '99AAA', which is neither")
    assert "E06,crack" not in message and "12abc" not in message  # a shape, never the cell


@pytest.mark.parametrize("value", ["", "nan", "inf", "[C]", '"1,000"', " 5", "'-5"])
def test_error_not_a_number_nor_marker(tmp_path: Path, value: str) -> None:
    path, lines = _lines(tmp_path)
    lines[2] = f"E06,'=alcohol,{value}"
    _expect(path, lines, r"row 3, column 3 \('value'\) .*neither a number nor a marker")


def test_error_duplicate_cell(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[5] = lines[1]
    _expect(path, lines, r"row 6 repeats the cell first given in row 2")


def test_error_cell_missing_from_cube(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path, sidecar=True)
    del lines[7]
    message = _expect(path, lines, r"a cell \(a heading shaped 'AAAA': a code shaped 'A99'; "
                      r"a heading shaped 'AAAAAAAAA': a code shaped 'AAAAA'\) is missing from "
                      r"the cube")
    assert "E07" not in message and "crack" not in message


def test_error_wrong_number_of_fields(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[4] = "E06,Total"
    _expect(path, lines, r"row 5 has 2 fields but the header has 3")


def test_error_empty_code(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path)
    lines[4] = ",Total,3"
    _expect(path, lines, r"row 5, column 1 \(a heading shaped 'AAAA'\): the code is empty")


def test_error_sidecar_disagrees_on_header(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path, sidecar=True)
    lines[0] = "area,drug,value"
    message = _expect(path, lines, r"row 1, column 2: the heading \(a heading shaped 'AAAA'\) "
                      r"is not the one bad.structure.json names \(a heading shaped 'AAAAAAAAA'\)")
    assert "drug" not in message


def test_error_code_not_in_sidecar(tmp_path: Path) -> None:
    path, lines = _lines(tmp_path, sidecar=True)
    lines[9] = lines[9].replace("NE,", "NX,", 1)
    assert lines[9].startswith("NX,")
    message = _expect(path, lines, r"row 10, column 1 \(a heading shaped 'AAAA'\): the code, "
                      r"shaped 'AA', is not in that column's hierarchy in bad.structure.json")
    assert "NX" not in message


def test_error_broken_sidecar(tmp_path: Path) -> None:
    path, _ = _lines(tmp_path, sidecar=True)
    structure_path(path).write_text('{"format": ')
    with pytest.raises(ValueError, match=r"bad.structure.json: not valid JSON \(line 1"):
        read_csv(path)


def test_error_sidecar_with_cycle(tmp_path: Path) -> None:
    path, _ = _lines(tmp_path, sidecar=True)
    doc = json.loads(structure_path(path).read_text())
    doc["dimensions"][1] = {"name": "substance", "order": ["a", "b", "Total"],
                            "parent": {"a": "b", "b": "a"}}
    structure_path(path).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="never reaches Total"):
        read_csv(path)


def test_error_empty_file_and_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"row 1: the file is empty"):
        read_csv(path)
    path.write_bytes(b"area,value\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_csv(path)


# --- spreadsheet -------------------------------------------------------------------------


def test_xlsx_structure(tmp_path: Path) -> None:
    two, three = _two_dim(), _three_dim()
    path = tmp_path / "release.xlsx"
    write_xlsx([two, three], path, title="Drug treatment statistics", contact="x@example.org")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.xlsx"]  # no temp file left
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Cover", "Contents", "Notes", "Table_1", "Table_2"]
    assert all(len(n) <= 31 for n in wb.sheetnames)
    for ws in wb.worksheets:
        assert not ws.merged_cells.ranges, ws.title
        assert ws["A1"].font.bold and ws["A1"].font.sz >= 14, ws.title
    cover = [c.value for c in wb["Cover"]["A"]]
    assert "Drug treatment statistics" in cover and "x@example.org" in cover
    assert any("[c] means" in str(v) for v in cover)

    contents = wb["Contents"]
    links = {c.value: c.hyperlink.location for c in contents["A"] if c.hyperlink}
    assert links == {"Notes": "'Notes'!A1", "Table_1": "'Table_1'!A1",
                     "Table_2": "'Table_2'!A1"}
    assert "Contents_table" in contents.tables

    notes = [r for r in wb["Notes"].iter_rows(values_only=True) if r[0]]
    assert ("[note 2]", "Counts are of people, not episodes.", "Table_1") in notes

    names = [t for ws in wb.worksheets for t in ws.tables]
    assert len(names) == len(set(names)) == 4


def _table_rows(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[list[openpyxl.cell.Cell]]:
    (table,) = ws.tables.values()
    return [list(row) for row in ws[table.ref]]


def test_xlsx_crosstab_cells(tmp_path: Path) -> None:
    pub = _two_dim()
    path = tmp_path / "x.xlsx"
    write_xlsx([pub], path, title="T")
    ws = openpyxl.load_workbook(path)["Table_1"]
    rows = _table_rows(ws)
    header = [c.value for c in rows[0]]
    assert header == ["area code", "area", "opiates", "=alcohol", "crack", "Total"]
    assert rows[0][3].data_type == "s"  # a label starting with "=" is text, not a formula
    assert ws.freeze_panes == rows[1][2].coordinate
    assert len(rows) == 1 + len(AREA.order)
    body = {(r[0].value, h): c for r in rows[1:] for h, c in zip(header[2:], r[2:], strict=True)}
    hidden = body[("E06", "opiates")]
    assert hidden.value == "[c]" and hidden.data_type == "s"
    assert hidden.alignment.horizontal == "right"
    assert body[("W01", "crack")].value == "[x]"
    total = body[(TOTAL, TOTAL)]
    assert isinstance(total.value, int) and total.data_type == "n"
    assert total.value == pub.shown[pub.index()[(TOTAL, TOTAL)]]
    assert [r[1].value for r in rows[1:3]] == ["Hartlepool", "Middlesbrough"]
    for row in rows:  # no blank cells inside the table
        assert all(c.value not in (None, "") for c in row)
    text = " ".join(str(c.value) for c in ws["A"][:6])
    assert f"4 of {len(pub.keys)} cells are suppressed" in text and "1 cell is shown as [x]" in text
    assert "[note 1], [note 2], [note 3]" in text
    values = [c.value for row in ws.iter_rows() for c in row]
    assert SECRET not in values and "9876" not in " ".join(map(str, values))


def test_xlsx_long_layout_for_three_dims(tmp_path: Path) -> None:
    pub = _three_dim()
    path = tmp_path / "x.xlsx"
    write_xlsx([pub], path, title="T")
    ws = openpyxl.load_workbook(path)["Table_1"]
    rows = _table_rows(ws)
    assert [c.value for c in rows[0]] == ["area", "substance", "sex", "Value"]
    assert len(rows) == 1 + len(pub.keys)
    numbers = [r[3] for r in rows[1:] if r[3].value != "[c]"]
    assert numbers and all(isinstance(c.value, int | float) for c in numbers)
    assert any(isinstance(c.value, float) and c.value % 1 for c in numbers)
    assert sum(r[3].value == "[c]" for r in rows[1:]) == pub.count("[c]")


# --- chart -------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_chart_png_and_accessible_html(tmp_path: Path) -> None:
    pub = _two_dim()
    png, html_path = tmp_path / "c.png", tmp_path / "c.html"
    write_chart(pub, png, html_path)
    width, height = _png_size(png.read_bytes())
    assert 400 <= width <= 3000 and 200 <= height <= 5000
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    assert "<title>People in treatment, 2025Q2</title>" in html
    assert '<svg role="img" aria-label="Horizontal bar chart' in html
    assert "<table>" in html and "<caption>" in html
    assert '<th scope="col">' in html and '<th scope="row">Hartlepool</th>' in html
    assert ">[c]</abbr>" in html and ">[x]</abbr>" in html
    assert "suppressed" in html and "<figcaption>" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert "@font-face" not in html and "<link" not in html
    assert "9876" not in html and "9,876" not in html  # no hidden value, not even in the SVG
    # The data table: the row for Hartlepool shows [c] for opiates and crack.
    row = re.search(r'<th scope="row">Hartlepool</th>(.*?)</tr>', html)
    assert row is not None
    assert re.findall(r"<td>(.*?)</td>", row.group(1)) == [
        '<abbr title="confidential: the number is hidden to protect the people it counts">'
        "[c]</abbr>", "5", '<abbr title="confidential: the number is hidden to protect the '
        'people it counts">[c]</abbr>']


def test_chart_escapes_labels(tmp_path: Path) -> None:
    dim = Hierarchy.flat("kind", ["<script>alert(1)</script>", "b&c"])
    pub = Published("x", 'Title "<script>"', "", "d", "p", "events", (dim,),
                    [(c,) for c in dim.order], np.array([3.0, np.nan, 10.0]),
                    ["", "[c]", ""], [])
    write_chart(pub, tmp_path / "x.png", tmp_path / "x.html")
    html = (tmp_path / "x.html").read_text()
    assert "<script" not in html
    assert '<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th>' in html
    assert "b&amp;c" in html


def test_chart_one_dim_caps_categories_and_says_so(tmp_path: Path) -> None:
    codes = [f"LA{i:03d}" for i in range(100)]
    dim = Hierarchy.flat("authority", codes)
    shown = np.array([float(i) for i in range(100)] + [4950.0])
    pub = Published("big", "Big", "", "d", "p", "people", (dim,), [(c,) for c in dim.order],
                    shown, [""] * 101, [])
    write_chart(pub, tmp_path / "b.png", tmp_path / "b.html")
    html = (tmp_path / "b.html").read_text()
    assert "60 of 100 authority codes are left out" in html
    assert html.count('<th scope="row">') == 40
    assert '<th scope="row">LA099</th>' in html and '<th scope="row">LA000</th>' not in html
    assert _png_size((tmp_path / "b.png").read_bytes())[1] > 1000
