"""Reporting periods: a quarter (``2025Q2``) or a month (``2025-06``)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from carehaven import clock
from carehaven.errors import UsageError

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    label: str
    kind: Literal["quarter", "month"]
    start: date
    end: date


def parse_period(text: str) -> Period:
    """``2025Q2`` is April to June 2025; ``2025-06`` is June 2025."""
    text = text.strip()
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        first, last = 3 * q - 2, 3 * q
        return Period(
            text,
            "quarter",
            date(year, first, 1),
            date(year, last, calendar.monthrange(year, last)[1]),
        )
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        return Period(
            text,
            "month",
            date(year, month, 1),
            date(year, month, calendar.monthrange(year, month)[1]),
        )
    raise UsageError(f"Period {text!r} is not a quarter like 2025Q2 or a month like 2025-06.")


def require_begun(period: Period, today: date | None = None) -> Period:
    """``period`` when it has begun (its first day is today or earlier, by ``clock.today()``),
    else a sentence: nothing is returned, or published, for a period still to come."""
    day = clock.today() if today is None else today
    if period.start > day:
        raise UsageError(
            f"Period {period.label} has not begun yet: it starts on {period.start.isoformat()}, "
            f"after today ({day.isoformat()}). Returns and publications are for periods that "
            "have begun."
        )
    return period
