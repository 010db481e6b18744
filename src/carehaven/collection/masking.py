"""What a report may show of a cell: identifiers only as their shape, never their value."""

from __future__ import annotations

import re

_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"\d")
_SHOWN = 40


def shape(value: str, limit: int = _SHOWN) -> str:
    """``SW1A 1AA`` -> ``AA9A 9AA``: enough to see a format fault, nothing of the person.

    At most ``limit`` characters are shown; a longer value ends in ``…``.
    """
    masked = _DIGIT.sub("9", _LETTER.sub("A", value[:limit]))
    return "".join(ch if ch in "A9 -/.;:" else "*" for ch in masked) + (
        "…" if len(value) > limit else ""
    )


def shown(value: str | None, *, identifier: bool) -> str:
    if value is None:
        return ""
    if identifier:
        return shape(value)
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
