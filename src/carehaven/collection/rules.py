"""A dataset spec compiled into Ibis expressions: one boolean "violated" column per check.

The expressions run wherever Ibis runs (DuckDB by default), over the file's text columns, so a
million rows are judged by the engine in a few vectorised passes rather than row by row in Python.
A cell that fails its type is not checked further (as Frictionless does). A rule's condition
(``and``, ``or``, ``not`` of field tests) is three-valued: a test on an empty cell is false, on a
given but invalid cell unknown, and a rule whose condition is unknown is not judged, so a bad
cell gets its own finding and no others through the rules that test it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

import ibis
import ibis.expr.types as ir

from carehaven.collection.context import (
    CTX_END,
    CTX_KIND,
    CTX_ORG,
    CTX_REFERENCES,
    CTX_START,
    reference_column,
    reference_table,
)
from carehaven.collection.context import Context as Context  # where callers find it
from carehaven.consent.notices import NoticeVersion
from carehaven.pseudonymise.derive import age_at
from carehaven.specs import Condition, Field, Rule, Spec

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_INTEGER = r"^[+-]?\d{1,18}$"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
#: NI number prefixes that are never issued (HMRC NIM39110).
NINO_FORBIDDEN_PREFIXES = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")
_ENUM_SHOWN = 12


def with_references(
    t: ir.Table, spec: Spec, raw_name: str, table: Callable[[str], ir.Table]
) -> ir.Table:
    """``t`` with, for each referencing field, the row it names (or NULLs): a left join on the
    registered reference table, whose key is unique, so every row of ``t`` stays one row."""
    for name in spec.referenced():
        ref = table(reference_table(raw_name, name))
        t = t.left_join(ref, t[name] == ref[reference_column(name, "key")])
    return t


@dataclass(frozen=True)
class Check:
    field: str
    rule: str
    message: str
    violated: ir.BooleanValue


class _Cells:
    """Per-field derived expressions, built once and shared by every check on that field."""

    def __init__(self, t: ir.Table, spec: Spec) -> None:
        self.t = t
        self.spec = spec
        self._typed: dict[str, ir.Value] = {}

    def raw(self, name: str) -> ir.StringValue:
        return self.t[name]

    def present(self, name: str) -> ir.BooleanValue:
        return self.t[name].notnull()

    def type_ok(self, name: str) -> ir.BooleanValue:
        """Present and of the field's type (for text fields: present)."""
        return self.present(name) & self.typed(name).notnull()

    def typed(self, name: str) -> ir.Value:
        if self.spec.field(name).type == "string":
            return self.t[name]
        return self.t[typed_name(name)]


def typed_name(name: str) -> str:
    return f"__typed_{name}"


def with_typed(t: ir.Table, spec: Spec) -> ir.Table:
    """``t`` plus each non-text field parsed once (NULL where the text is not of the type).

    Checks read these columns, so a date used by five checks is parsed once, not five times.
    """
    typed: dict[str, ir.Value] = {}
    for f in spec.fields:
        col = t[f.name]
        if f.type == "date":
            # DuckDB reads year 0000 as 1 BC; ISO 8601 calendar dates start at year 0001.
            iso = col.re_search(_DATE) & (col.substr(0, 4) != "0000")
            typed[typed_name(f.name)] = ibis.ifelse(iso, col.try_cast("date"), None)
        elif f.type == "integer":
            typed[typed_name(f.name)] = ibis.ifelse(
                col.re_search(_INTEGER), col.try_cast("int64"), None
            )
        elif f.type == "number":
            typed[typed_name(f.name)] = ibis.ifelse(
                col.re_search(_NUMBER), col.try_cast("float64"), None
            )
    return t.mutate(**typed)


def compile_checks(
    t: ir.Table,
    spec: Spec,
    notices: Sequence[NoticeVersion],
    repeats: ir.Table | None = None,
) -> list[Check]:
    """Checks over ``t``: the file's text columns joined to the context columns (CTX_*) and
    the parsed columns of ``with_typed``.

    ``repeats`` holds the ``_row`` of every row whose primary key repeats an earlier row's
    (``repeated_keys``); it is computed apart, over the key columns only, because a window over
    the wide check projection drags every column through a sort.
    """
    cells = _Cells(t, spec)
    checks: list[Check] = []
    for f in spec.fields:
        checks.extend(_field_checks(cells, f))
    if spec.primary_key and repeats is not None:
        checks.append(_duplicate_key(t, spec, repeats))
    for rule in spec.rules:
        checks.extend(_rule_checks(cells, rule, notices))
    return checks


# -- field constraints ----------------------------------------------------------------------------


def _field_checks(c: _Cells, f: Field) -> list[Check]:
    name, col = f.name, c.raw(f.name)
    present, ok = c.present(name), c.type_ok(name)
    out: list[Check] = []
    k = f.constraints
    if k.required:
        out.append(Check(name, "required", f"{name} is required but empty.", col.isnull()))
    if f.type != "string":
        shape = {
            "date": "a date written YYYY-MM-DD",
            "integer": "a whole number",
            "number": "a number",
        }[f.type]
        out.append(Check(name, "type", f"{name} is not {shape}.", present & ~ok))
    if k.enum is not None:
        out.append(
            Check(
                name,
                "enum",
                f"{name} is not one of the codes {_codes(k.enum)}.",
                present & ~col.isin(list(k.enum)),
            )
        )
    if k.pattern is not None:
        out.append(
            Check(
                name,
                "pattern",
                f"{name} does not have the required form.",
                present & ~col.re_search(f"^(?:{k.pattern})$"),
            )
        )
    if k.max_length is not None:
        out.append(
            Check(
                name,
                "max-length",
                f"{name} is longer than {k.max_length} characters.",
                present & (col.length() > k.max_length),
            )
        )
    typed = c.typed(name)
    if k.minimum is not None:
        low = _bound(f, k.minimum)
        out.append(
            Check(name, "minimum", f"{name} is below the minimum {k.minimum}.", ok & (typed < low))
        )
    if k.maximum is not None:
        high = _bound(f, k.maximum)
        out.append(
            Check(name, "maximum", f"{name} is above the maximum {k.maximum}.", ok & (typed > high))
        )
    if f.list is not None:
        items = col.split(f.list.separator)
        out.append(
            Check(
                name,
                "list-length",
                f"{name} holds more than {f.list.max_items} codes.",
                present & (items.length() > f.list.max_items),
            )
        )
        allowed = list(f.list.enum)
        out.append(
            Check(
                name,
                "list-enum",
                f"{name} holds a code that is not one of {_codes(f.list.enum)}.",
                present & (items.filter(lambda x: ~x.isin(allowed)).length() > 0),
            )
        )
    if f.check == "nhs-number":
        shaped = col.re_search(r"^\d{10}$")
        out.append(
            Check(
                name,
                "nhs-number",
                f"{name} is not a valid NHS number (its check digit is wrong).",
                present & shaped & ~_nhs_check_digit_ok(col),
            )
        )
    if f.check == "nino":
        out.append(
            Check(
                name,
                "nino",
                f"{name} is not a valid National Insurance number (that prefix is never issued).",
                present & _shaped(col, f) & col.substr(0, 2).isin(list(NINO_FORBIDDEN_PREFIXES)),
            )
        )
    return out


def _shaped(col: ir.StringValue, f: Field) -> ir.BooleanValue:
    """Whether the cell has the field's pattern: a check beyond it is judged only then."""
    pattern = f.constraints.pattern
    return ibis.literal(True) if pattern is None else col.re_search(f"^(?:{pattern})$")


def _nhs_check_digit_ok(col: ir.StringValue) -> ir.BooleanValue:
    """Modulus 11: weights 10..2 on the first nine digits; 11 means 0 and 10 is never valid."""
    digit = [col.substr(i, 1).try_cast("int64") for i in range(10)]
    total = sum((digit[i] * (10 - i) for i in range(9)), ibis.literal(0))
    check = 11 - (total % 11)
    expected = ibis.ifelse(check == 11, 0, check)
    return (expected != 10) & (expected == digit[9])


def _bound(f: Field, value: int | float | str) -> ir.Value:
    if f.type == "date":
        return ibis.literal(date.fromisoformat(str(value)))
    return ibis.literal(value)


def _codes(codes: Sequence[str]) -> str:
    shown = ", ".join(codes[:_ENUM_SHOWN])
    return shown + (f" (and {len(codes) - _ENUM_SHOWN} more)" if len(codes) > _ENUM_SHOWN else "")


def repeated_keys(t: ir.Table, spec: Spec) -> ir.Table:
    """Rows whose complete primary key appeared at an earlier row (the first one is kept)."""
    key = list(spec.primary_key)
    keyed = t.select("_row", *key).filter(*(t[k].notnull() for k in key))
    earlier = ibis.row_number().over(group_by=[keyed[k] for k in key], order_by=keyed["_row"])
    return keyed.mutate(n=earlier).filter(ibis._.n > 0).select("_row")


def _duplicate_key(t: ir.Table, spec: Spec, repeats: ir.Table) -> Check:
    key = list(spec.primary_key)
    return Check(
        key[-1],
        "duplicate-key",
        f"{' + '.join(key)} repeats an earlier row of this file.",
        t["_row"].isin(repeats["_row"]),
    )


# -- cross-field rules ----------------------------------------------------------------------------


def _rule_checks(c: _Cells, rule: Rule, notices: Sequence[NoticeVersion]) -> list[Check]:
    if rule.kind == "required-if":
        assert rule.when is not None
        when = _when(c, rule.when)
        return [
            Check(
                f,
                rule.id,
                rule.message or rule.sentence(f),
                when & c.raw(f).isnull(),
            )
            for f in rule.fields
        ]
    if rule.kind == "empty-if":
        assert rule.when is not None
        when = _when(c, rule.when)
        return [
            Check(
                f,
                rule.id,
                rule.message or rule.sentence(f),
                when & c.present(f),
            )
            for f in rule.fields
        ]
    field = rule.field
    assert field is not None
    if rule.kind == "date-order":
        assert rule.not_before is not None
        later, earlier = c.typed(field), c.typed(rule.not_before)
        return [
            Check(
                field,
                rule.id,
                rule.message or f"{field} is before {rule.not_before}.",
                c.type_ok(field) & c.type_ok(rule.not_before) & (later < earlier),
            )
        ]
    if rule.kind == "within-period":
        edge = c.t[CTX_END] if rule.bound == "end" else c.t[CTX_START]
        outside = c.typed(field) > edge if rule.bound == "end" else c.typed(field) < edge
        side = "after the end" if rule.bound == "end" else "before the start"
        return [
            Check(
                field,
                rule.id,
                rule.message or f"{field} is {side} of the reporting period.",
                c.type_ok(field) & outside,
            )
        ]
    if rule.kind == "period-date":
        return [
            Check(
                field,
                rule.id,
                rule.message or rule.sentence(),
                c.type_ok(field) & (c.typed(field) != _period_edge(c, rule)),
            )
        ]
    if rule.kind == "submitter":
        return [
            Check(
                field,
                rule.id,
                rule.message or f"{field} is not the submitting organisation's code.",
                c.present(field) & (c.raw(field) != c.t[CTX_ORG]),
            )
        ]
    if rule.kind == "notice-version":
        assert rule.date_field is not None
        versions = [v for v in notices if v.notice == rule.notice]
        on = c.typed(rule.date_field)
        in_force = ibis.or_(
            ibis.literal(False),
            *((c.raw(field) == v.version) & (on >= ibis.literal(v.published_on)) for v in versions),
        )
        return [
            Check(
                field,
                rule.id,
                rule.message
                or f"{field} names a {rule.notice} notice version that was "
                f"not published on the {rule.date_field}.",
                c.present(field) & c.type_ok(rule.date_field) & ~in_force,
            )
        ]
    if rule.kind == "notice-current":
        # A version cited on a day when a later version of the notice had been published: the
        # person read a notice that no longer said what the haven does (issue 13 item 3).
        assert rule.date_field is not None
        versions = sorted(
            (v for v in notices if v.notice == rule.notice), key=lambda v: v.published_on
        )
        on = c.typed(rule.date_field)
        superseded = ibis.or_(
            ibis.literal(False),
            *(
                (c.raw(field) == old.version) & (on >= ibis.literal(new.published_on))
                for old, new in pairwise(versions)
            ),
        )
        return [
            Check(
                field,
                rule.id,
                rule.message
                or f"{field} names a {rule.notice} notice version already superseded on the "
                f"{rule.date_field}.",
                c.present(field) & c.type_ok(rule.date_field) & superseded,
            )
        ]
    if rule.kind == "reference":
        return [_reference(c, rule, field)]
    raise ValueError(f"unknown rule kind {rule.kind}")  # pragma: no cover - spec model forbids it


def _reference(c: _Cells, rule: Rule, name: str) -> Check:
    """A key naming no row of the referenced return in force, or, with ``within``, a date
    outside the row it names. Judged only on a valid key, and only where the rows were looked
    up; the value itself is never in the message."""
    found = c.t[reference_column(name, "key")].notnull()
    if rule.within is None:
        return Check(
            name,
            rule.id,
            rule.message or rule.sentence(),
            _valid(c, name) & c.t[CTX_REFERENCES] & ~found,
        )
    w = rule.within
    day = c.typed(w.field)
    start = c.t[reference_column(name, w.from_)]
    outside = day < start
    if w.to is not None:
        end = c.t[reference_column(name, w.to)]
        outside = outside | (end.notnull() & (day > end))
    return Check(
        w.field,
        rule.id,
        rule.message or rule.sentence(),
        c.type_ok(w.field) & found & start.notnull() & outside,
    )


def _valid(c: _Cells, name: str) -> ir.BooleanValue:
    """Given and meeting its field's own constraints: a key that breaks them has its finding."""
    k = c.spec.field(name).constraints
    col = c.raw(name)
    ok = c.type_ok(name)
    if k.enum is not None:
        ok = ok & col.isin(list(k.enum))
    if k.pattern is not None:
        ok = ok & col.re_search(f"^(?:{k.pattern})$")
    if k.max_length is not None:
        ok = ok & (col.length() <= k.max_length)
    return ok


def _period_edge(c: _Cells, rule: Rule) -> ir.DateValue:
    """The day a ``period-date`` rule wants: the period's last day, its first, or the first
    day of the ``months`` months that end on its last day (a rolling 12-month return)."""
    end: ir.DateValue = c.t[CTX_END]
    if rule.bound == "end":
        return end
    if rule.months is None:
        return c.t[CTX_START]
    # The day after the end, ``months`` months back: 2025-06-30 and 12 give 2024-07-01.
    day_after = end + ibis.interval(days=1)
    return (day_after - ibis.interval(months=rule.months)).cast("date")


def _when(c: _Cells, cond: Condition) -> ir.BooleanValue:
    """Whether a rule applies to a row: its condition, an unknown one read as "no"."""
    return _condition(c, cond).fill_null(False)


def _condition(c: _Cells, cond: Condition) -> ir.BooleanValue:
    """True, false or NULL (unknown): SQL's ``AND``, ``OR`` and ``NOT`` are three-valued, as
    ADR 0001 defines a condition's value."""
    if cond.all_of is not None:
        return ibis.and_(*(_condition(c, p) for p in cond.all_of))
    if cond.any_of is not None:
        return ibis.or_(*(_condition(c, p) for p in cond.any_of))
    if cond.negated is not None:
        return ~_condition(c, cond.negated)
    if cond.submitter_kind is not None:
        # NULL (unknown) when the context does not know the kind, as SQL's IN gives.
        kinds = [k.value for k in cond.submitter_kind]
        return c.t[CTX_KIND].isin(kinds)
    assert cond.field is not None
    name = cond.field
    col = c.raw(name)
    if cond.not_empty is not None:
        return col.notnull() if cond.not_empty else col.isnull()
    if cond.between is not None:
        assert cond.age_at is not None
        return _age_between(c, name, cond.age_at, cond.between)
    test: ir.BooleanValue
    if cond.equals is not None:
        test = col == cond.equals
    elif cond.in_ is not None:
        test = col.isin(list(cond.in_))
    else:
        assert cond.greater_than is not None
        test = c.typed(name) > cond.greater_than
    valid = c.type_ok(name)
    if (codes := c.spec.field(name).constraints.enum) is not None:
        valid = valid & col.isin(list(codes))
    # An empty cell makes a test false; a given cell that is not valid makes it unknown.
    return ibis.ifelse(col.isnull(), False, ibis.ifelse(valid, test, ibis.null("boolean")))


def _age_between(c: _Cells, born: str, at: str, bounds: tuple[int, int]) -> ir.BooleanValue:
    """The age in whole years from ``born`` to ``at`` is within ``bounds``: false when either
    cell is empty, else unknown when either is not a valid date (ADR 0001)."""
    age = age_at(c.typed(born), c.typed(at))
    test = (age >= bounds[0]) & (age <= bounds[1])
    empty = c.raw(born).isnull() | c.raw(at).isnull()
    valid = c.type_ok(born) & c.type_ok(at)
    return ibis.ifelse(empty, False, ibis.ifelse(valid, test, ibis.null("boolean")))
