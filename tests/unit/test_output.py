"""The plain table layout prints exactly what Rich prints (cli/output.py, issue 13 item 8)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from carehaven.cli.output import _COUNTS, _plain_table

CASES = [
    ("Organisations", ["code", "kind", "name"],
     [["P001", "treatment-service", "Riverside Recovery"], ["LA01", "local-authority", ""]]),
    (None, ["submission", "rows", "accepted", "status"],
     [["sub-1", "1,234", "1,000", "accepted"], ["sub-22", "5", "0", "rejected"]]),
    ("A title as wide as its table", ["a", "b" * 20], [["1", "2"]]),  # 28 = 1 + 20 + 7
    ("Widths", ["x"], [[""], ["a much longer cell than the header"], ["[c] is not markup"]]),
    ("t", ["files", "people"], [["7", "12,345"]]),
]


def _rich(title: str | None, columns: list[str], rows: list[list[str]], width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, highlight=False, markup=False,
                      color_system=None, force_terminal=False)
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, justify="right" if col.lower() in _COUNTS else "left")
    for row in rows:
        t.add_row(*(Text(v) for v in row))
    console.print(t)
    return buffer.getvalue()


@pytest.mark.parametrize(("title", "columns", "rows"), CASES)
def test_the_plain_layout_is_richs(title, columns, rows):
    right = [c.lower() in _COUNTS for c in columns]
    assert _plain_table(title, columns, rows, right, 200) == _rich(title, columns, rows, 200)


def test_what_rich_must_lay_out_is_left_to_rich():
    """Wrapping, wide characters and an empty listing go to Rich."""
    assert _plain_table(None, ["a"], [["x" * 300]], [False], 200) is None
    assert _plain_table(None, ["name"], [["Zoë"]], [False], 200) is None
    assert _plain_table(None, ["name"], [["日本"]], [False], 200) is None
    assert _plain_table("t", ["a"], [], [False], 200) is None
    assert _plain_table("a very long title indeed", ["a"], [["b"]], [False], 200) is None
