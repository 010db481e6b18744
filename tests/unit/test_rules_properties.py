"""Properties of the compiled checks against independent pure-Python references.

Each example writes one file (one row per generated value, the rest of the row valid) and runs
the real validator once, so hundreds of values are judged per second of DuckDB time.
"""

from __future__ import annotations

import csv
import io
import re
import string
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import NINO_FORBIDDEN_PREFIXES, Context
from carehaven.collection.validate import validate
from carehaven.consent.notices import published_versions
from carehaven.specs import Spec, load_spec

ORG = "E09000033"
CTX = Context(ORG, parse_period("2025Q2"), published_versions())

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Minimal valid rows; every other field is empty. ``test_base_rows_are_valid`` guards them.
BASE: dict[str, dict[str, str]] = {
    "cld-event": {
        "LA_Code": ORG,
        "Reporting_Period_Start_Date": "2024-07-01",
        "Reporting_Period_End_Date": "2025-06-30",
        "LA_Person_Unique_Identifier": "P1",
        "NHS_Number": "9434765919",
        "Date_of_Birth": "1950-03-04",
        "Gender": "Female",
        "Ethnicity": "White: British",
        "Postcode": "SW1A 1AA",
        "Client_Type": "Service User",
        "Accommodation_Status": "Tenant",
        "Has_Unpaid_Carer": "N",
        "Mental_Health_Record": "N",
        "Event_Type": "Request",
        "Event_Start_Date": "2025-05-01",
        "Event_End_Date": "2025-05-09",  # a request ends (issue 13 item 6)
        "Event_Outcome": "Progress to Assessment",
        "Request_Route_of_Access": "Discharge from hospital",
    },
    "ips-episode": {
        "provider_code": ORG,
        "client_ref": "C1",
        "ips_id": "I1",
        "ips_start_date": "2025-05-01",
        # Consent given, so that a National Insurance number may be sent (issue 13 item 3).
        "consent_dhsc": "Y",
        "consent_date": "2025-05-01",
        "consent_notice_version": "1.2",
        "consent_obtained_by": "Sam Worker",
        "consent_obtained_by_position": "IPS worker",
        "postcode": "B12 9QA",
        "nino": "AB123456C",
        "initials": "AB",
        "date_of_birth": "1980-05-01",
        "sex": "1",
    },
    "ndtms-review": {
        "provider_code": ORG,
        "episode_id": "E1",
        "review_date": "2025-05-01",
        "review_stage": "start",
        "days_used_substance_1": "3",
    },
}

#: The key field made unique per row, so that rows never repeat a primary key.
UNIQUE = {"ips-episode": "ips_id", "ndtms-review": "episode_id"}

#: Text a cell can hold; line breaks and other controls belong to the reading tests.
CELL = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=14)


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    backend = ibis.duckdb.connect()
    yield backend
    backend.disconnect()


def findings_for(
    con: Any, dataset: str, field: str, values: Sequence[str], **also: str
) -> list[set[str]]:
    """The rule ids carehaven reports against ``field``, one set per value (row), in rows of
    ``BASE`` with ``also`` (cells a rule wants beside ``field``)."""
    spec: Spec = load_spec(dataset)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(spec.field_names)
    for i, value in enumerate(values):
        row = {**BASE[dataset], **also, field: value}
        if dataset in UNIQUE:
            row[UNIQUE[dataset]] = f"K{i}"
        writer.writerow([row.get(name, "") for name in spec.field_names])
    table = read_table(out.getvalue().encode("utf-8"), spec, "property.csv")
    assert table[field].to_pylist() == [v or None for v in values], "the file did not round-trip"
    con.con.register("raw", table)
    try:
        findings = validate(con, "raw", spec, CTX).findings
    finally:
        con.con.unregister("raw")
    rules: list[set[str]] = [set() for _ in values]
    for row, name, rule in zip(
        findings["row"].to_pylist(),
        findings["field"].to_pylist(),
        findings["rule"].to_pylist(),
        strict=True,
    ):
        assert name == field or row is None, f"row {row}: unexpected {rule} on {name}"
        rules[row - 2].add(rule)
    return rules


@pytest.mark.parametrize("dataset", sorted(BASE))
def test_base_rows_are_valid(con: Any, dataset: str) -> None:
    spec = load_spec(dataset)
    first = next(f.name for f in spec.fields if f.required)
    assert findings_for(con, dataset, first, [BASE[dataset][first]] * 3) == [set()] * 3


# -- NHS number -----------------------------------------------------------------------------------


def nhs_number_ok(value: str) -> bool:
    """Reference: modulus 11 with weights 10..2 on the first nine digits; 11 -> 0, 10 invalid."""
    if not re.fullmatch(r"[0-9]{10}", value):
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def _with_check_digit(nine: str) -> str:
    """Nine digits and a final digit that makes the number valid where one exists."""
    for last in string.digits:
        if nhs_number_ok(nine + last):
            return nine + last
    return nine + "0"  # no valid completion (check would be 10)


NHS_VALUES = st.one_of(
    st.text(string.digits, min_size=10, max_size=10),
    st.text(string.digits, min_size=9, max_size=9).map(_with_check_digit),
    st.text(string.digits, min_size=8, max_size=11),
    CELL,
)


@PROPERTY
@given(st.lists(NHS_VALUES, min_size=1, max_size=80))
@example(["9434765919", "9434765918", "0000000000", "1000000001", "4010232137", "401023213"])
def test_nhs_number_check_matches_reference(con: Any, values: list[str]) -> None:
    for value, rules in zip(
        values, findings_for(con, "cld-event", "NHS_Number", values), strict=True
    ):
        shaped = re.fullmatch(r"[0-9]{10}", value) is not None
        assert ("nhs-number" in rules) == (shaped and not nhs_number_ok(value)), (value, rules)
        assert ("pattern" in rules) == (value != "" and not shaped), (value, rules)
        assert ("required" in rules) == (value == ""), (value, rules)


def test_nhs_reference_knows_the_published_examples() -> None:
    # 943 476 5919 is the NHS's own example; a check digit of 10 is never valid.
    assert nhs_number_ok("9434765919")
    assert not nhs_number_ok("9434765918")
    assert nhs_number_ok("0000000000")  # check 11 -> 0
    assert not any(nhs_number_ok("000000006" + d) for d in string.digits)  # check 10


# -- National Insurance number --------------------------------------------------------------------

NINO = re.compile(r"[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]")
SHAPED_NINO = st.one_of(
    st.from_regex(NINO, fullmatch=True),
    st.builds(
        lambda prefix, digits, suffix: prefix + digits + suffix,
        st.sampled_from(NINO_FORBIDDEN_PREFIXES),
        st.text(string.digits, min_size=6, max_size=6),
        st.sampled_from("ABCD"),
    ),
)


def test_forbidden_prefixes_can_be_shaped() -> None:
    """Every forbidden prefix passes the pattern's letter classes, so the check is needed."""
    assert all(NINO.fullmatch(p + "123456A") for p in NINO_FORBIDDEN_PREFIXES)


@PROPERTY
@given(st.lists(SHAPED_NINO, min_size=1, max_size=60))
def test_nino_prefix_check_on_shaped_numbers(con: Any, values: list[str]) -> None:
    for value, rules in zip(values, findings_for(con, "ips-episode", "nino", values), strict=True):
        assert ("nino" in rules) == (value[:2] in NINO_FORBIDDEN_PREFIXES), (value, rules)
        assert rules <= {"nino"}, (value, rules)


@PROPERTY
@given(
    st.lists(
        st.one_of(CELL, st.from_regex(r"[A-Z]{2}[0-9]{5,7}[A-E]?", fullmatch=True)).filter(
            lambda v: v != "" and not NINO.fullmatch(v) and v[:2] not in NINO_FORBIDDEN_PREFIXES
        ),
        min_size=1,
        max_size=60,
    )
)
def test_malformed_nino_gives_pattern_not_nino(con: Any, values: list[str]) -> None:
    for value, rules in zip(values, findings_for(con, "ips-episode", "nino", values), strict=True):
        assert "pattern" in rules, (value, rules)
        assert "nino" not in rules, (value, rules)


def test_malformed_nino_with_forbidden_prefix_gives_pattern_only(con: Any) -> None:
    values = ["ZZ", "GB12", "TN1234567", "NK12345678A"]
    for value, rules in zip(values, findings_for(con, "ips-episode", "nino", values), strict=True):
        assert "pattern" in rules, (value, rules)
        assert "nino" not in rules, (value, rules)


# -- dates ----------------------------------------------------------------------------------------


def is_iso_date(text: str) -> bool:
    """Reference: exactly YYYY-MM-DD (ASCII digits) naming a real day of the Gregorian calendar."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


DATE_TEXT = st.one_of(
    st.dates().map(date.isoformat),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.from_regex(r"(19|20)[0-9]{2}-(0[0-9]|1[0-3])-([0-2][0-9]|3[0-2])", fullmatch=True),
    st.from_regex(r"[0-9]{1,5}[-/.][0-9]{1,2}[-/.][0-9]{1,4}", fullmatch=True),
    CELL,
).filter(
    # DuckDB reads year 0000 as 1 BC: see test_year_zero_is_not_a_date.
    lambda v: not v.startswith("0000-")
)


@PROPERTY
@given(st.lists(DATE_TEXT, min_size=1, max_size=80))
@example(
    [
        "2024-02-29",
        "2023-02-29",
        "2024-02-30",
        "12/05/1980",
        "2025-4-1",
        "1900-02-29",
        "0001-01-01",
        "9999-12-31",
        "2025-04-31",
        "20250401",
        " 2025-04-01",
        "2025-04-01 ",
    ]
)
def test_date_type_matches_reference(con: Any, values: list[str]) -> None:
    for value, rules in zip(
        values, findings_for(con, "cld-event", "Case_Closure_Date", values), strict=True
    ):
        assert ("type" in rules) == (value != "" and not is_iso_date(value)), (value, rules)
        assert rules <= {"type"}, (value, rules)


def test_year_zero_is_not_a_date(con: Any) -> None:
    values = ["0000-01-01", "0000-06-15"]
    rules = findings_for(con, "cld-event", "Case_Closure_Date", values)
    assert rules == [{"type"}, {"type"}]


# -- integers and numbers -------------------------------------------------------------------------


def is_integer(text: str) -> bool:
    """Reference: an optional sign and ASCII digits, at most 18 of them.

    The 18-digit cap is carehaven's (it keeps every value inside int64); frictionless, which
    parses with Python's int(), accepts any length, and also surrounding spaces, "1_000" and
    non-ASCII digits, which carehaven rejects.
    """
    m = re.fullmatch(r"[+-]?([0-9]+)", text)
    return m is not None and len(m[1]) <= 18


def is_number(text: str) -> bool:
    """Reference: what Python's float() reads from ASCII digits, sign, point and exponent only.

    float() alone would also take "nan", "inf", " 1", "1_0" and non-ASCII digits; carehaven
    (unlike Table Schema and frictionless) accepts none of them.
    """
    if not text or not set(text) <= set("0123456789+-.eE"):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


INTEGER_TEXT = st.one_of(
    st.integers(-40, 40).map(str),
    st.integers().map(str),
    st.from_regex(r"[+-]?[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[+-]{0,2}[0-9]{0,3}[.,eE_ ]?[0-9]{0,3}", fullmatch=True),
    CELL,
)


@PROPERTY
@given(st.lists(INTEGER_TEXT, min_size=1, max_size=80))
@example(
    [
        "0",
        "-0",
        "+5",
        "007",
        "20",
        "21",
        "-1",
        "1.0",
        "1e1",
        " 3",
        "1_0",
        "٣",
        "999999999999999999",
        "1000000000000000000",
        "0000000000000000001",
        "",
    ]
)
def test_integer_type_and_bounds_match_reference(con: Any, values: list[str]) -> None:
    # physical_health: integer, 0 to 20, optional.
    for value, rules in zip(
        values, findings_for(con, "ndtms-review", "physical_health", values), strict=True
    ):
        ok = is_integer(value)
        assert ("type" in rules) == (value != "" and not ok), (value, rules)
        assert ("minimum" in rules) == (ok and int(value) < 0), (value, rules)
        assert ("maximum" in rules) == (ok and int(value) > 20), (value, rules)


NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.from_regex(r"[+-]?[0-9]{0,4}\.?[0-9]{0,4}([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.from_regex(r"[-+.eE0-9]{1,6}", fullmatch=True),
    CELL,
)


@PROPERTY
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=80))
@example(
    [
        "0",
        "1.",
        ".5",
        "-.5",
        "+1e5",
        "1E-3",
        "1e999",
        "-0.0",
        "-0.01",
        ".",
        "e5",
        "1e",
        "NaN",
        "inf",
        "Infinity",
        " 1",
        "1_0",
        "1,5",
        "--1",
        "0x10",
    ]
)
def test_number_type_and_minimum_match_reference(con: Any, values: list[str]) -> None:
    # Unit_Cost: number, minimum 0, optional; with its frequency (cost-needs-frequency).
    found = findings_for(
        con, "cld-event", "Unit_Cost", values,
        Cost_Frequency_Unit_Type="Weekly", Planned_units_per_week="1",
    )
    for value, rules in zip(values, found, strict=True):
        ok = is_number(value)
        assert ("type" in rules) == (value != "" and not ok), (value, rules)
        assert ("minimum" in rules) == (ok and float(value) < 0), (value, rules)


# -- text length ----------------------------------------------------------------------------------


@PROPERTY
@given(
    st.lists(
        st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=60),
        min_size=1,
        max_size=40,
    )
)
@example(["e\u0301" * 25, "\U0001f1ec\U0001f1e7" * 13, "x" * 50, "x" * 51])
def test_max_length_counts_code_points(con: Any, values: list[str]) -> None:
    # Event_Reference: maxLength 50. Table Schema (and frictionless) count characters as Python
    # does, one per code point, not per byte or per grapheme.
    for value, rules in zip(
        values, findings_for(con, "cld-event", "Event_Reference", values), strict=True
    ):
        assert rules == ({"max-length"} if len(value) > 50 else set()), (value, rules)
