"""Reporting periods: a quarter (``2025Q2``) or a month (``2025-06``)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from carehaven import clock
from carehaven.errors import UsageError

_QUARTER = re.compile(r"^([0-9]{4})Q([1-4])$")  # ASCII digits only: full-width ones are no period
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
#: The years a period may fall in: the national collections began well after 2000, and a year
#: past 2099 is a typing slip, not a return (issue 13 item 12). Periods still to come within
#: the range are refused by :func:`require_begun`.
FIRST_YEAR, LAST_YEAR = 2000, 2099


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
        year, q = _year(text, m[1]), int(m[2])
        first, last = 3 * q - 2, 3 * q
        return Period(
            text,
            "quarter",
            date(year, first, 1),
            date(year, last, calendar.monthrange(year, last)[1]),
        )
    if m := _MONTH.match(text):
        year, month = _year(text, m[1]), int(m[2])
        return Period(
            text,
            "month",
            date(year, month, 1),
            date(year, month, calendar.monthrange(year, month)[1]),
        )
    raise UsageError(f"Period {text!r} is not a quarter like 2025Q2 or a month like 2025-06.")


def _year(text: str, digits: str) -> int:
    year = int(digits)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise UsageError(
            f"Period {text!r} is in the year {digits}, outside {FIRST_YEAR} to {LAST_YEAR}; "
            "check the year."
        )
    return year


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
