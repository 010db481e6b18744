"""Standardisation: the Python reference and the Ibis expressions agree, and untrustworthy
values become missing rather than matches (issue 3, part 1)."""

from __future__ import annotations

import datetime as dt
import functools

import ibis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carehaven.identity import standardise as std
from carehaven.synth.identifiers import nhs_check_digit


@functools.cache
def _con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def _run(expr_fn, values, kind="string"):  # type: ignore[no-untyped-def]
    t = ibis.memtable({"v": values}, schema={"v": kind})
    return _con().execute(t.select(out=expr_fn(t.v)))["out"].tolist()


def _none(values):  # type: ignore[no-untyped-def]
    return [None if v is None or v != v else v for v in values]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9434765919", "9434765919"),
        ("943 476 5919", "9434765919"),
        ("9434765918", None),  # wrong check digit
        ("9999999999", None),  # placeholder
        ("0000000000", None),
        ("9990000018", None),  # the test range
        ("123", None),
        (None, None),
    ],
)
def test_nhs_numbers(value: str | None, expected: str | None) -> None:
    assert std.nhs_number(value) == expected
    assert _none(_run(std.nhs_number_expr, [value])) == [expected]


@given(st.lists(st.text(alphabet="0123456789 ", min_size=0, max_size=12), max_size=30))
def test_nhs_expression_agrees_with_reference(values: list[str]) -> None:
    assert _none(_run(std.nhs_number_expr, values)) == [std.nhs_number(v) for v in values]


def test_every_issued_nhs_number_survives() -> None:
    nine = "401023213"
    check = nhs_check_digit(nine)
    assert check is not None
    assert std.nhs_number(nine + str(check)) == nine + str(check)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("AB123456C", "AB123456C"), ("ab 12 34 56 c", "AB123456C"), ("TN123456A", None),
     ("GB123456A", None), ("AO123456A", None), ("AB123456E", None), (None, None)],
)
def test_ni_numbers(value: str | None, expected: str | None) -> None:
    assert std.nino(value) == expected
    assert _none(_run(std.nino_expr, [value])) == [expected]


@pytest.mark.parametrize(
    ("value", "district", "sector"),
    [("SW1A 1AA", "SW1A", "SW1A 1"), ("b12 3xy", "B12", "B12 3"), ("ZZ99", None, None),
     ("ZZ99 9ZZ", None, None), ("LS1", "LS1", None), ("nonsense", None, None), (None, None, None)],
)
def test_postcodes(value: str | None, district: str | None, sector: str | None) -> None:
    assert (std.district(value), std.sector(value)) == (district, sector)
    assert _none(_run(std.district_expr, [value])) == [district]
    assert _none(_run(std.sector_expr, [value])) == [sector]


@given(st.lists(st.from_regex(r"[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}|[A-Z0-9 ]{0,8}",
                              fullmatch=True), max_size=20))
def test_postcode_expressions_agree_with_reference(values: list[str]) -> None:
    assert _none(_run(std.district_expr, values)) == [std.district(v) for v in values]
    assert _none(_run(std.sector_expr, values)) == [std.sector(v) for v in values]


def test_initials_and_dummy_dates_are_missing_not_matches() -> None:
    assert [std.initials(v) for v in ("ab", "XX", "ZZ", "A", "A1", None)] == [
        "AB", None, None, None, None, None]
    assert _none(_run(std.initials_expr, ["ab", "XX", "A1"])) == ["AB", None, None]
    dates = [dt.date(1900, 1, 1), dt.date(1901, 1, 1), dt.date(1985, 6, 30)]
    assert [std.date_of_birth(d) for d in dates] == [None, None, dt.date(1985, 6, 30)]
    got = _run(std.date_of_birth_expr, dates, "date")
    assert [None if g is None or g != g else g.date() for g in got] == [
        None, None, dt.date(1985, 6, 30)]
