"""Output for people (Rich tables, progress bars) and for scripts (JSON on stdout)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.text import Text

#: A status word a command leads its line with: ``[bold green]ADDED[/] ...``.
_STATUS = re.compile(r"\[(bold(?: [a-z]+)?)\]([^\[\]]{1,40})\[/\]")


class PlainConsole(Console):
    """Standard output, where nothing is read as Rich markup (issue 13 item 13): the lines and
    table cells carry names, labels and file paths people typed, and ``Clinic [c]`` must print
    as ``Clinic [c]``, not ``Clinic``. The one style a command may ask for is a status word at
    the very start of a line (``[bold green]ADDED[/] ...``); the rest of the line is literal."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_literal(o) for o in objects), **kwargs)


def _literal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if m := _STATUS.match(value):
        return Text.assemble((m[2], m[1]), value[m.end():])
    return Text(value)


out = PlainConsole(highlight=False, markup=False)
if not out.is_terminal:  # piped output: wide enough that ids are never cut
    out = PlainConsole(highlight=False, markup=False, width=200)
err = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


#: Columns whose values are counts, right-aligned.
_COUNTS = {"rows", "accepted", "rejected", "findings", "people", "files"}
#: Cells the plain layout below prints exactly as Rich would: printable ASCII, one cell a char.
_PLAIN = re.compile(r"[ -~]*")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row]
             for row in rows]
    right = [col.lower() in _COUNTS for col in columns]
    if not out.is_terminal:
        laid = _plain_table(title, list(columns), cells, right, out.width)
        if laid is not None:
            sys.stdout.write(laid)
            return
    from rich.table import Table  # here: most commands print no table, and --help none

    t = Table(title=title, title_justify="left")
    for col, r in zip(columns, right, strict=True):
        t.add_column(col, justify="right" if r else "left")
    for row in cells:
        t.add_row(*(Text(v) for v in row))
    out.print(t)


def _plain_table(
    title: str | None, columns: list[str], rows: list[list[str]], right: list[bool], width: int
) -> str | None:
    """The text Rich prints for this table when it needs neither wrapping nor styles (piped
    output, ASCII cells that fit), laid out directly: Rich's layout engine takes about 0.1 s
    for a listing of 150 submissions (issue 13 item 8). None where Rich must lay it out;
    tests/unit/test_output.py checks the two agree."""
    texts = [title or "", *columns, *(c for row in rows for c in row)]
    if not rows or not all(_PLAIN.fullmatch(t) for t in texts):
        return None
    widths = [max(len(c) for c in col) for col in zip(columns, *rows, strict=True)]
    inner = sum(widths) + 3 * len(widths) - 1
    if inner + 2 > width or len(title or "") > inner + 2:
        return None

    def line(cells: Sequence[str], edge: str, bar: str) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right,
                                                                       strict=True))
        return edge + bar.join(f" {c} " for c in padded) + edge + "\n"

    def rule(left: str, fill: str, cross: str, end: str) -> str:
        return left + cross.join(fill * (w + 2) for w in widths) + end + "\n"

    parts = [title.ljust(inner + 2) + "\n"] if title else []
    parts += [rule("┏", "━", "┳", "┓"), line(columns, "┃", "┃"), rule("┡", "━", "╇", "┩")]
    parts += [line(row, "│", "│") for row in rows]
    parts.append(rule("└", "─", "┴", "┘"))
    return "".join(parts)


@contextmanager
def stages(names: Sequence[str], *, quiet: bool) -> Iterator[Any]:
    """A progress bar over named stages on a terminal; silent for --json or when piped."""
    if quiet or not err.is_terminal:
        yield lambda _stage: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(names[0], total=len(names))
        done: list[str] = []

        def advance(stage: str) -> None:
            if done:
                progress.advance(task)
            done.append(stage)
            progress.update(task, description=stage)

        yield advance
        progress.update(task, completed=len(names))


@contextmanager
def counter(description: str, *, quiet: bool) -> Iterator[Any]:
    """A progress bar fed with (stage, done, total) calls."""
    if quiet or not err.is_terminal:
        yield lambda _s, _d, _t: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=1)

        def update(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=max(total, 1))

        yield update
