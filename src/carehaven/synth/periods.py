"""Return periods: "2025Q2" (a quarter) or "2025-06" (a month), with their first and last day."""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from carehaven.errors import UsageError

_QUARTER = re.compile(r"(\d{4})Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date

    @property
    def start_ord(self) -> int:
        return self.start.toordinal()

    @property
    def end_ord(self) -> int:
        return self.end.toordinal()

    def rolling_year_start(self) -> date:
        """The first day of the 12 months that end on this period's last day."""
        if self.end.month == 12:
            return date(self.end.year, 1, 1)
        return date(self.end.year - 1, self.end.month + 1, 1)


def parse_period(label: str) -> Period:
    """A period from its label; a clear error for anything else."""
    if m := _QUARTER.fullmatch(label):
        year, quarter = int(m.group(1)), int(m.group(2))
        first_month = 3 * quarter - 2
        last_month = first_month + 2
        return Period(
            label,
            date(year, first_month, 1),
            date(year, last_month, monthrange(year, last_month)[1]),
        )
    if m := _MONTH.fullmatch(label):
        year, month = int(m.group(1)), int(m.group(2))
        return Period(label, date(year, month, 1), date(year, month, monthrange(year, month)[1]))
    raise UsageError(
        f"{label!r} is not a period: write a quarter like 2025Q2 or a month like 2025-06."
    )


def parse_periods(labels: Sequence[str]) -> tuple[Period, ...]:
    """Distinct periods in date order."""
    if not labels:
        raise UsageError("Give at least one period to synthesise.")
    parsed = {p.label: p for p in (parse_period(label) for label in labels)}
    return tuple(sorted(parsed.values(), key=lambda p: (p.start, p.end)))
