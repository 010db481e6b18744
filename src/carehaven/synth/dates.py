"""Dates as day numbers (proleptic ordinals) while generating, ISO text when written."""

from __future__ import annotations

from datetime import date

_ISO: dict[int, str] = {}


def iso(day: int) -> str:
    """``YYYY-MM-DD`` for a day number (cached: the same few thousand days recur)."""
    text = _ISO.get(day)
    if text is None:
        text = _ISO[day] = date.fromordinal(day).isoformat()
    return text


def opt_iso(day: int | None) -> str:
    return "" if day is None else iso(day)


def day(text: str) -> int:
    return date.fromisoformat(text).toordinal()


def years_between(born: int, on: int) -> int:
    """Age in whole years on day ``on`` of someone born on day ``born``."""
    b, o = date.fromordinal(born), date.fromordinal(on)
    return o.year - b.year - ((o.month, o.day) < (b.month, b.day))


def add_years(day_number: int, years: int) -> int:
    d = date.fromordinal(day_number)
    try:
        return d.replace(year=d.year + years).toordinal()
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28).toordinal()


def swapped_day_month(day_number: int) -> int | None:
    """The date with day and month swapped, when that is a different, valid date."""
    d = date.fromordinal(day_number)
    if d.day > 12 or d.day == d.month:
        return None
    return date(d.year, d.day, d.month).toordinal()
