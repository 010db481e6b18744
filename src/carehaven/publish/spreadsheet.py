"""An accessible spreadsheet of published tables, after the Analysis Function guidance.

The UK Government Analysis Function's "Releasing statistics in spreadsheets" guidance is what
screen-reader users and re-users of official statistics expect: a Cover sheet, a Contents sheet
with links, a Notes sheet, then one table per worksheet with its title in A1, a few lines of
plain text saying what the table holds and how to read its symbols, and the table itself as a
real Excel Table with one header row. No merged cells, no blank rows or columns inside a table,
no meaning carried by colour alone, numbers stored as numbers and ``[c]``/``[x]`` as text.

Two-dimension tables are laid out as a cross-tab (rows are the first dimension, columns the
second), which is how people read them; other tables are long (a column per dimension and one
for the number), which stays readable whatever the number of dimensions.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.hyperlink import Hyperlink  # type: ignore[import-untyped]
from openpyxl.worksheet.table import Table, TableStyleInfo  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from carehaven import clock
from carehaven.publish import atomic
from carehaven.publish.model import (
    MARKER_MEANING,
    NOT_AVAILABLE,
    SUPPRESSED,
    Published,
)

COVER, CONTENTS, NOTES = "Cover", "Contents", "Notes"
MAX_SHEET_NAME = 31

SUPPRESSION_NOTE = (
    "Small numbers are hidden to protect the people they count. Cells shown as [c] are "
    "confidential: the number is suppressed, and some other cells are suppressed as well so "
    "that a hidden number cannot be worked out from the totals. [x] means not available."
)

_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
_FORMULA_START = ("=", "+", "-", "@")
_ERROR_CODES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A")
_RIGHT = Alignment(horizontal="right")
_WRAP = Alignment(wrap_text=True, vertical="top")
_BOLD = Font(bold=True)


@dataclass
class _Grid:
    """A table ready for a worksheet: one header row, then rows of text or numbers."""

    header: list[str]
    rows: list[list[str | float]]
    label_columns: int  # leading columns that are labels, not numbers


def write_xlsx(
    pubs: Sequence[Published],
    path: str | os.PathLike[str],
    *,
    title: str,
    publisher: str = "carehaven",
    contact: str | None = None,
    published_on: date | None = None,
    source: str | None = None,
) -> None:
    """Write ``pubs`` as one accessible workbook at ``path`` (atomically).

    ``published_on`` defaults to today; ``source`` defaults to a sentence naming the datasets.
    """
    if not pubs:
        raise ValueError(f"{path}: a spreadsheet needs at least one table")
    sheets = [f"Table_{i}" for i in range(1, len(pubs) + 1)]
    note_numbers, notes = _number_notes(pubs, sheets)
    wb = Workbook()
    wb.properties.title = _clean(title)
    wb.properties.creator = _clean(publisher)
    wb.properties.language = "en-GB"
    cover = wb.active
    cover.title = COVER
    _cover(cover, pubs, title=title, publisher=publisher, contact=contact,
           published_on=published_on or clock.today(), source=source)
    _contents(wb.create_sheet(CONTENTS), pubs, sheets)
    _notes(wb.create_sheet(NOTES), notes)
    for n, (pub, sheet) in enumerate(zip(pubs, sheets, strict=True), start=1):
        _table_sheet(wb.create_sheet(sheet), pub, note_numbers[n - 1], table_name(n, pub.name))
    with atomic.atomic_path(path) as tmp:
        wb.save(tmp)


def table_name(n: int, stem: str) -> str:
    """A unique Excel Table name: letters, digits and underscores, never like a cell address."""
    return f"Table{n}_{re.sub(r'[^A-Za-z0-9_]', '_', stem)}"[:255]


def _number_notes(
    pubs: Sequence[Published], sheets: list[str]
) -> tuple[list[list[int]], list[tuple[str, list[str]]]]:
    """Number notes across the workbook (equal texts share a number); note 1 is suppression."""
    texts: dict[str, list[str]] = {SUPPRESSION_NOTE: list(sheets)}
    per_table: list[list[int]] = []
    for pub, sheet in zip(pubs, sheets, strict=True):
        numbers = [1]
        for note in pub.notes:
            if note not in texts:
                texts[note] = []
            if sheet not in texts[note]:
                texts[note].append(sheet)
            number = list(texts).index(note) + 1
            if number not in numbers:
                numbers.append(number)
        per_table.append(numbers)
    return per_table, list(texts.items())


def _clean(text: str) -> str:
    """Drop control characters that the xlsx format cannot hold."""
    return _ILLEGAL.sub("", text)


def _put(ws: Worksheet, row: int, col: int, value: str | float) -> None:
    """Put text as text (never a formula or an error code) and numbers as numbers."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        text = _clean(value)
        cell.value = text
        cell.data_type = "s"
        if text.startswith(_FORMULA_START) or text in _ERROR_CODES:
            cell.quotePrefix = True
    else:
        number = round(float(value), 2)
        if number == int(number):
            cell.value = int(number)
            cell.number_format = "#,##0"
        else:
            cell.value = number
            cell.number_format = "#,##0.00"


def _heading(ws: Worksheet, row: int, text: str, *, level: int = 1) -> None:
    _put(ws, row, 1, text)
    ws.cell(row=row, column=1).style = "Headline 1" if level == 1 else "Headline 2"


def _lines(ws: Worksheet, start: int, lines: Sequence[str]) -> int:
    """Plain text lines in column A from ``start``; returns the next free row."""
    for i, line in enumerate(lines):
        _put(ws, start + i, 1, line)
    return start + len(lines)


def _cover(
    ws: Worksheet,
    pubs: Sequence[Published],
    *,
    title: str,
    publisher: str,
    contact: str | None,
    published_on: date,
    source: str | None,
) -> None:
    datasets = ", ".join(dict.fromkeys(p.dataset for p in pubs))
    periods = ", ".join(dict.fromkeys(p.period for p in pubs))
    n = len(pubs)
    tables = "one table" if n == 1 else f"{n} tables"
    sections: list[tuple[str, list[str]]] = [
        ("About these tables", [
            f"This spreadsheet contains {tables} for {periods}. The Contents worksheet lists "
            "them with links; each table is on its own worksheet.",
            *(f"{p.title}." if not p.title.endswith(".") else p.title for p in pubs),
        ]),
        ("Source", [source or f"{publisher}, from the {datasets} data."]),
        ("Publication date", [f"{published_on.day} {published_on:%B %Y}"]),
        ("Suppression and symbols", [
            SUPPRESSION_NOTE,
            f"{SUPPRESSED} means {MARKER_MEANING[SUPPRESSED]}.",
            f"{NOT_AVAILABLE} means {MARKER_MEANING[NOT_AVAILABLE]}.",
        ]),
        ("Notes", ["The Notes worksheet lists numbered notes; each table says which apply."]),
        ("Contact", [contact or f"Contact {publisher} about these statistics."]),
    ]
    _heading(ws, 1, title)
    row = 2
    for heading, lines in sections:
        _heading(ws, row, heading, level=2)
        row = _lines(ws, row + 1, lines)
    ws.column_dimensions["A"].width = 100
    for r in range(2, row):
        if ws.cell(row=r, column=1).style == "Normal":
            ws.cell(row=r, column=1).alignment = _WRAP


def _contents(ws: Worksheet, pubs: Sequence[Published], sheets: list[str]) -> None:
    _heading(ws, 1, "Contents")
    start = _lines(ws, 2, ["This worksheet contains one table. Select a sheet name to go there."])
    rows: list[list[str | float]] = [[NOTES, "Notes used in the tables"]]
    rows += [[s, p.title] for p, s in zip(pubs, sheets, strict=True)]
    _grid(ws, start, _Grid(["Sheet name", "Table title"], rows, 2), "Contents_table")
    for r, row in enumerate(rows, start=start + 1):
        cell = ws.cell(row=r, column=1)
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{row[0]}'!A1",
                                   display=str(row[0]))
        cell.style = "Hyperlink"
    ws.freeze_panes = ws.cell(row=start + 1, column=1)


def _notes(ws: Worksheet, notes: list[tuple[str, list[str]]]) -> None:
    _heading(ws, 1, "Notes")
    start = _lines(ws, 2, ["This worksheet contains one table. Tables refer to these notes "
                           "by number, such as [note 1]."])
    rows: list[list[str | float]] = [
        [f"[note {n}]", text, ", ".join(sheets)] for n, (text, sheets) in enumerate(notes, 1)
    ]
    _grid(ws, start, _Grid(["Note number", "Note text", "Tables"], rows, 3), "Notes_table")
    ws.column_dimensions["B"].width = 90
    for r in range(start + 1, start + 1 + len(rows)):
        ws.cell(row=r, column=2).alignment = _WRAP
    ws.freeze_panes = ws.cell(row=start + 1, column=1)


def _table_sheet(ws: Worksheet, pub: Published, notes: list[int], name: str) -> None:
    grid = _crosstab(pub) if len(pub.dims) == 2 else _long(pub)
    n = len(pub.keys)
    c, x = pub.count(SUPPRESSED), pub.count(NOT_AVAILABLE)
    refs = ", ".join(f"[note {k}]" for k in notes)
    names = [d.name for d in pub.dims]
    if len(pub.dims) == 2:
        layout = (f"Rows are {names[0]} codes and the number columns are {names[1]} codes. "
                  "A row or column named Total is the total of all codes.")
    else:
        layout = (f"Each row is one cell of the table: a code for each of "
                  f"{', '.join(names)}, then the number. Total means all codes together.")
    if any(len(d.children) > 1 for d in pub.dims):
        layout += " A group code (such as a region) is the subtotal of the codes listed before it."
    lines = [
        f"This worksheet contains one table. {pub.description}".strip(),
        layout,
        f"{c} of {n} cells {'is' if c == 1 else 'are'} suppressed and shown as {SUPPRESSED} "
        f"({MARKER_MEANING[SUPPRESSED]}). {_cells(x)} {'is' if x == 1 else 'are'} shown as "
        f"{NOT_AVAILABLE} ({MARKER_MEANING[NOT_AVAILABLE]}).",
        f"This table has notes: {refs}. They are in the Notes worksheet.",
        f"Source: {pub.dataset}, {pub.period}.",
    ]
    _heading(ws, 1, pub.title)
    start = _lines(ws, 2, lines)
    _grid(ws, start, grid, name)
    ws.freeze_panes = ws.cell(row=start + 1, column=grid.label_columns + 1
                              if len(pub.dims) == 2 else 1)


def _cells(n: int) -> str:
    return "1 cell" if n == 1 else f"{n} cells"


def _label_columns(pub: Published, d: int) -> list[str]:
    """A dimension's header(s): its name, plus a name column when it has labels."""
    name = pub.dims[d].name
    return [f"{name} code", name] if pub.labels.get(name) else [name]


def _label_cells(pub: Published, d: int, code: str) -> list[str | float]:
    if pub.labels.get(pub.dims[d].name):
        return [code, pub.label(d, code)]
    return [code]


def _value(pub: Published, i: int) -> str | float:
    return pub.marker[i] or float(pub.shown[i])


def _long(pub: Published) -> _Grid:
    header = [h for d in range(len(pub.dims)) for h in _label_columns(pub, d)]
    rows: list[list[str | float]] = []
    for i in pub.cube_order():
        cells = [c for d, code in enumerate(pub.keys[i]) for c in _label_cells(pub, d, code)]
        rows.append([*cells, _value(pub, i)])
    return _Grid([*header, pub.counts_phrase], rows, len(header))


def _crosstab(pub: Published) -> _Grid:
    rows_dim, cols_dim = pub.dims
    index = pub.index()
    header = _label_columns(pub, 0)
    column_heads = _unique([pub.label(1, c) for c in cols_dim.order], list(cols_dim.order),
                           taken=header)
    rows: list[list[str | float]] = []
    for r in rows_dim.order:
        rows.append([*_label_cells(pub, 0, r),
                     *(_value(pub, index[(r, c)]) for c in cols_dim.order)])
    return _Grid([*header, *column_heads], rows, len(header))


def _unique(heads: list[str], codes: list[str], *, taken: list[str]) -> list[str]:
    """Excel Table headers must differ (ignoring case); add the code to any that clash."""
    seen = {h.casefold() for h in taken}
    out: list[str] = []
    for head, code in zip(heads, codes, strict=True):
        text = head
        for n in itertools.count(1):
            if text.casefold() not in seen:
                break
            text = f"{head} ({code})" if n == 1 else f"{head} ({code}, {n})"
        seen.add(text.casefold())
        out.append(text)
    return out


def _grid(ws: Worksheet, start: int, grid: _Grid, name: str) -> None:
    """Write ``grid`` with its header at row ``start``, as an Excel Table called ``name``."""
    # Excel Table column names: one line, unique ignoring case.
    header = _unique([" ".join(_clean(h).split()) for h in grid.header], grid.header, taken=[])
    for col, head in enumerate(header, start=1):
        _put(ws, start, col, head)
        ws.cell(row=start, column=col).font = _BOLD
        ws.cell(row=start, column=col).alignment = Alignment(wrap_text=True, vertical="bottom")
    for r, row in enumerate(grid.rows, start=start + 1):
        for col, value in enumerate(row, start=1):
            _put(ws, r, col, value)
            if col > grid.label_columns:
                ws.cell(row=r, column=col).alignment = _RIGHT
    last = f"{get_column_letter(len(header))}{start + len(grid.rows)}"
    table = Table(displayName=name, ref=f"A{start}:{last}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=False)
    ws.add_table(table)
    for col, head in enumerate(header, start=1):
        texts = [head, *(_width_text(row[col - 1]) for row in grid.rows)]
        width = max(len(t) for t in texts) + 2
        ws.column_dimensions[get_column_letter(col)].width = min(max(width, 10), 50)


def _width_text(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return f"{value:,.2f}" if value != int(value) else f"{int(value):,}"
