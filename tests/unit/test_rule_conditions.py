"""The rule format's ``and``, ``or`` and ``not`` and the ``period-date`` kind, compiled to Ibis
(issue 13 item 6; docs/design/0001, "Rules").

Each condition is judged by the compiler over every combination of empty, valid and invalid
cells, against a three-valued reading written here from ADR 0001's words: a field test on an
empty cell is false, on a given cell that is not valid for its field unknown; ``and``, ``or``,
``not`` as in SQL; a rule whose condition is unknown is not judged.
"""

from __future__ import annotations

import functools
import itertools
from datetime import date
from typing import Any

import ibis
import pytest
from pydantic import ValidationError

from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import Context
from carehaven.collection.validate import validate
from carehaven.specs import Condition, Spec
from tests.helpers import csv_bytes

Value = bool | None  # None: unknown


def _spec(rules: list[dict[str, Any]]) -> Spec:
    return Spec.from_descriptor({
        "name": "toy", "version": "1.0.0", "title": "Toy",
        "carehaven:submitterKinds": ["treatment-service"],
        "schema": {"fields": [
            {"name": "kind", "type": "string", "carehaven:class": "O",
             "constraints": {"enum": ["A", "B", "C"]}},
            {"name": "n", "type": "integer", "carehaven:class": "O"},
            {"name": "note", "type": "string", "carehaven:class": "O"},
            {"name": "target", "type": "string", "carehaven:class": "O"},
            {"name": "on", "type": "date", "carehaven:class": "O"},
        ]},
        "carehaven:rules": rules,
    })


@functools.cache
def _con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def _findings(spec: Spec, rows: list[dict[str, str]], period: str = "2025Q2") -> set[tuple]:
    con = _con()
    con.con.register("raw", read_table(csv_bytes(rows, spec.field_names), spec, "t.csv"))
    v = validate(con, "raw", spec, Context("P001", parse_period(period)))
    return {(f["row"], f["field"], f["rule"]) for f in v.findings.to_pylist()}


# -- the reading of ADR 0001, written independently of the compiler ------------------------------

CELLS = {"kind": ("", "A", "B", "X"), "n": ("", "0", "3", "two"), "note": ("", "hi")}


def _leaf(test: str, row: dict[str, str]) -> Value:
    kind, n, note = row["kind"], row["n"], row["note"]
    if test == "kind is A":
        return False if kind == "" else None if kind not in "ABC" else kind == "A"
    if test == "kind in B, C":
        return False if kind == "" else None if kind not in "ABC" else kind in ("B", "C")
    if test == "n > 0":
        return False if n == "" else None if not n.isdigit() else int(n) > 0
    if test == "note given":
        return note != ""
    raise AssertionError(test)


def _and(*v: Value) -> Value:
    return False if False in v else None if None in v else True


def _or(*v: Value) -> Value:
    return True if True in v else None if None in v else False


def _not(v: Value) -> Value:
    return None if v is None else not v


LEAF = {
    "kind is A": {"field": "kind", "equals": "A"},
    "kind in B, C": {"field": "kind", "in": ["B", "C"]},
    "n > 0": {"field": "n", "greaterThan": 0},
    "note given": {"field": "note", "notEmpty": True},
}
CASES = [
    ({"not": LEAF["kind is A"]}, lambda r: _not(_leaf("kind is A", r))),
    ({"not": LEAF["n > 0"]}, lambda r: _not(_leaf("n > 0", r))),
    ({"and": [LEAF["kind is A"], LEAF["n > 0"]]},
     lambda r: _and(_leaf("kind is A", r), _leaf("n > 0", r))),
    ({"or": [LEAF["kind in B, C"], LEAF["note given"], LEAF["n > 0"]]},
     lambda r: _or(_leaf("kind in B, C", r), _leaf("note given", r), _leaf("n > 0", r))),
    ({"not": {"and": [LEAF["kind is A"], {"or": [LEAF["n > 0"], LEAF["note given"]]}]}},
     lambda r: _not(_and(_leaf("kind is A", r), _or(_leaf("n > 0", r), _leaf("note given", r))))),
    ({"and": [{"not": LEAF["note given"]}, {"not": {"not": LEAF["kind in B, C"]}}]},
     lambda r: _and(_not(_leaf("note given", r)), _leaf("kind in B, C", r))),
]


def _rows(target: str) -> list[dict[str, str]]:
    return [{"kind": k, "n": n, "note": t, "target": target}
            for k, n, t in itertools.product(*CELLS.values())]


@pytest.mark.parametrize(("when", "expected"), CASES, ids=lambda c: str(c)[:60])
@pytest.mark.parametrize("kind", ["required-if", "empty-if"])
def test_conditions_are_three_valued(when, expected, kind):
    spec = _spec([{"id": "r", "kind": kind, "fields": ["target"], "when": when}])
    rows = _rows("" if kind == "required-if" else "x")
    got = {row for row, field, rule in _findings(spec, rows) if rule == "r"}
    # Only a condition that is true (not false, not unknown) makes the rule judge the row.
    assert got == {i + 2 for i, r in enumerate(rows) if expected(r) is True}


def test_a_rule_with_a_condition_holds_on_rows_that_obey_it():
    spec = _spec([{"id": "r", "kind": "required-if", "fields": ["target"],
                   "when": CASES[4][0]}])
    assert {f for f in _findings(spec, _rows("x")) if f[2] == "r"} == set()


@pytest.mark.parametrize(("when", "words"), [
    ({"not": LEAF["kind is A"]}, "kind is not A"),
    ({"not": LEAF["kind in B, C"]}, "kind is none of B, C"),
    ({"not": LEAF["note given"]}, "note is empty"),
    ({"not": LEAF["n > 0"]}, "n is not more than 0"),
    ({"and": [LEAF["kind is A"], {"or": [LEAF["n > 0"], LEAF["note given"]]}]},
     "kind is A and either n is more than 0 or note is given"),
    ({"not": {"and": [LEAF["kind is A"], LEAF["note given"]]}}, "kind is not A or note is empty"),
    ({"not": {"or": [LEAF["kind is A"], LEAF["note given"]]}}, "kind is not A and note is empty"),
    ({"or": [{"and": [LEAF["kind is A"], LEAF["n > 0"]]}, LEAF["note given"]]},
     "both kind is A and n is more than 0 or note is given"),
    ({"and": [LEAF["kind is A"], LEAF["n > 0"], LEAF["note given"]]},
     "kind is A, n is more than 0 and note is given"),
    # Issue 13 item 6: the submitter's kind, and an age at a date.
    ({"submitterKind": ["treatment-service"]},
     "the submitting organisation is of kind treatment-service"),
    ({"not": {"submitterKind": ["treatment-service"]}},
     "the submitting organisation is not of kind treatment-service"),
    ({"not": {"and": [LEAF["kind is A"], {"field": "on", "ageAt": "on", "between": [18, 64]}]}},
     "kind is not A or the age at on (from on) is not 18 to 64"),
])
def test_conditions_read_as_sentences(when, words):
    """`spec show` and a rule without a message say the condition in words, not pushed through
    a template: not is pushed down to the field tests (De Morgan)."""
    assert Condition.model_validate(when).describe() == words
    spec = _spec([{"id": "r", "kind": "required-if", "fields": ["target"], "when": when}])
    assert spec.rules[0].sentence() == f"target is required when {words}."


@pytest.mark.parametrize(("when", "reason"), [
    ({"and": [LEAF["kind is A"]]}, "at least two"),
    ({"or": []}, "at least two"),
    ({"field": "kind", "equals": "A", "not": LEAF["n > 0"]}, "exactly one of equals"),
    ({"and": [LEAF["kind is A"], LEAF["n > 0"]], "not": LEAF["n > 0"]}, "exactly one of and"),
    ({"not": {"field": "kind", "equals": "Z"}}, "'Z', not one of its codes"),
    ({"or": [LEAF["n > 0"], {"field": "note", "greaterThan": 1}]}, "not a number"),
    ({"not": {"field": "nope", "notEmpty": True}}, "unknown field nope"),
])
def test_a_condition_that_cannot_be_meant_is_refused_on_load(when, reason):
    with pytest.raises(ValidationError, match=reason):
        _spec([{"id": "r", "kind": "required-if", "fields": ["target"], "when": when}])


# -- period-date ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("period", "end", "start_12"), [
    ("2025Q1", "2025-03-31", "2024-04-01"),
    ("2025Q2", "2025-06-30", "2024-07-01"),
    ("2025Q3", "2025-09-30", "2024-10-01"),
    ("2025Q4", "2025-12-31", "2025-01-01"),
    ("2024Q1", "2024-03-31", "2023-04-01"),  # a leap year changes nothing: months, not days
    ("2024-02", "2024-02-29", "2023-03-01"),
])
def test_period_date_wants_the_exact_day(period, end, start_12):
    spec = _spec([
        {"id": "end", "kind": "period-date", "field": "on", "bound": "end"},
        {"id": "start-12", "kind": "period-date", "field": "on", "bound": "start", "months": 12},
        {"id": "start", "kind": "period-date", "field": "on", "bound": "start"},
    ])
    first = parse_period(period).start.isoformat()
    days = [end, start_12, first, "2020-01-01", "", "2025-02-30"]
    found = _findings(spec, [{"on": d} for d in days], period)
    held = {rule: {d for i, d in enumerate(days) if (i + 2, "on", rule) not in found}
            for rule in ("end", "start-12", "start")}
    # An empty or mistyped date is not judged here (required and type say so).
    assert held == {"end": {end, "", "2025-02-30"}, "start-12": {start_12, "", "2025-02-30"},
                    "start": {first, "", "2025-02-30"}}
    assert (7, "on", "type") in found
    assert date.fromisoformat(start_12) < date.fromisoformat(end)


def test_months_belong_to_the_start_of_a_period_date():
    with pytest.raises(ValidationError, match="months is for a period-date rule on the start"):
        _spec([{"id": "x", "kind": "period-date", "field": "on", "bound": "end", "months": 12}])
    with pytest.raises(ValidationError, match="needs note to be a date"):
        _spec([{"id": "x", "kind": "period-date", "field": "note", "bound": "end"}])


def test_two_or_more_kinds_read_as_a_list():
    """`spec show`: "neither ... nor" for two kinds left out, "none of" for more."""
    two = Condition.model_validate({"submitterKind": ["prison", "secure-setting"]})
    assert two.describe() == "the submitting organisation is of kind prison or secure-setting"
    assert two.describe(negate=True) == (
        "the submitting organisation is of neither kind prison nor secure-setting")
    three = Condition.model_validate({"submitterKind": ["prison", "secure-setting", "partner"]})
    assert three.describe(negate=True) == (
        "the submitting organisation is of none of the kinds prison, secure-setting, partner")


@pytest.mark.parametrize(("when", "said"), [
    ({"submitterKind": ["prison"]}, "which does not submit this dataset"),
    ({"submitterKind": ["youth-club"]}, "youth-club"),
    ({"submitterKind": []}, "each kind once"),
    ({"submitterKind": ["treatment-service"], "field": "kind"}, "without a field"),
    ({"field": "n", "ageAt": "on", "between": [18, 64]}, "both must be dates"),
    ({"field": "on", "ageAt": "on"}, "ageAt and between go together"),
    ({"field": "on", "ageAt": "on", "between": [64, 18]}, "0 <= low <= high"),
])
def test_a_kind_or_age_test_that_could_never_hold_is_refused_on_load(when, said):
    """ADR 0001: kinds are ``OrgKind`` values that return the dataset; an age is taken from a
    date at a date, within ordered bounds."""
    with pytest.raises(ValidationError, match=said):
        _spec([{"id": "r", "kind": "required-if", "fields": ["target"], "when": when}])
