"""docs/cli.md, generated from the commands themselves so it cannot drift from --help.

Regenerate with ``uv run python -m carehaven.cli.reference > docs/cli.md``; a test fails when
the file is stale.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

import typer

from carehaven.cli.app import app, main

WIDTH = "100"


def _paths(group: object, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from _paths(command, (*prefix, name))


def _help(path: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        with contextlib.redirect_stdout(buffer):
            main([*path, "--help"])
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return buffer.getvalue().rstrip()


def render() -> str:
    parts = [
        "# Command-line reference",
        "",
        "Generated from the code by `python -m carehaven.cli.reference`; do not edit.",
        "",
    ]
    for path in _paths(typer.main.get_command(app)):
        title = " ".join(("carehaven", *path))
        parts += [f"## `{title}`", "", "```", _help(path), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
