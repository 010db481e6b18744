from datetime import date

import pytest

from carehaven.collection.period import parse_period, require_begun
from carehaven.errors import UsageError


@pytest.mark.parametrize(("text", "start", "end", "kind"), [
    ("2025Q1", date(2025, 1, 1), date(2025, 3, 31), "quarter"),
    ("2025Q2", date(2025, 4, 1), date(2025, 6, 30), "quarter"),
    ("2024Q4", date(2024, 10, 1), date(2024, 12, 31), "quarter"),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
    ("2025-12", date(2025, 12, 1), date(2025, 12, 31), "month"),
])
def test_periods(text, start, end, kind):
    p = parse_period(text)
    assert (p.start, p.end, p.kind, p.label) == (start, end, kind, text)


@pytest.mark.parametrize("text", ["2025Q0", "2025Q5", "2025-13", "25Q1", "2025q1", "", "Q1"])
def test_bad_periods_are_usage_errors(text):
    with pytest.raises(UsageError, match="not a quarter"):
        parse_period(text)


@pytest.mark.parametrize(("text", "today", "begun"), [
    ("2025Q3", date(2025, 6, 30), False),
    ("2025Q3", date(2025, 7, 1), True),  # its first day: begun
    ("2025Q3", date(2025, 9, 30), True),
    ("2025Q2", date(2025, 7, 15), True),  # over: still fine
    ("2025-08", date(2025, 7, 31), False),
    ("2025-08", date(2025, 8, 1), True),
])
def test_a_period_has_begun_on_its_first_day(text, today, begun):
    period = parse_period(text)
    if begun:
        assert require_begun(period, today) is period
    else:
        with pytest.raises(UsageError, match=f"Period {text} has not begun yet: it starts on "
                                             f"{period.start.isoformat()}, after today"):
            require_begun(period, today)
