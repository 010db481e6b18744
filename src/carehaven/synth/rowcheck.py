"""A small reading of ADR 0001's row checks, used to make sure a planted error is the only one.

This is not carehaven's validator (that lives in ``carehaven.collection``); it is the
generator's own guard: every planted row is checked here to give exactly the one finding that
truth/invalid.csv records, and nothing else.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from carehaven.consent.notices import version_in_force, version_superseded
from carehaven.specs import Condition, Field, Rule, Spec
from carehaven.synth.identifiers import is_valid_nhs_number, is_valid_nino
from carehaven.synth.periods import Period

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

Finding = tuple[str, str]  # (field, rule id)
#: (dataset, organisation) -> key -> the row that key names, by field name: what a
#: ``reference`` rule reads (the latest period's row of each key, as the haven keeps in force).
Referenced = dict[tuple[str, str], dict[str, dict[str, str]]]


def as_date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _type_ok(f: Field, value: str) -> bool:
    if f.type == "date":
        return as_date(value) is not None
    if f.type == "integer":
        return _INTEGER.fullmatch(value) is not None
    if f.type == "number":
        return _NUMBER.fullmatch(value) is not None and math.isfinite(float(value))
    return True


def _compare(f: Field, value: str, bound: float | str) -> int:
    """-1, 0 or 1 as ``value`` is below, at or above ``bound`` (dates compare as ISO text)."""
    if f.type == "date":
        a, b = value, str(bound)
        return (a > b) - (a < b)
    x, y = float(value), float(bound)
    return (x > y) - (x < y)


def whole_years(born: date, on: date) -> int:
    """Age in whole years on ``on`` (a birthday not yet reached that year does not count)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def condition_value(
    spec: Spec,
    cond: Condition,
    row: list[str],
    index: dict[str, int],
    missing: frozenset[str] = frozenset({""}),
    kind: str | None = None,
) -> bool | None:
    """ADR 0001's three-valued condition: a test on an empty cell is false, on a given cell
    that is not of its type or not one of its codes unknown (None); ``and``, ``or`` and ``not``
    as in SQL. ``kind`` is the submitting organisation's (None: not known, so unknown)."""
    if cond.all_of is not None:
        values = [condition_value(spec, p, row, index, missing, kind) for p in cond.all_of]
        return False if False in values else None if None in values else True
    if cond.any_of is not None:
        values = [condition_value(spec, p, row, index, missing, kind) for p in cond.any_of]
        return True if True in values else None if None in values else False
    if cond.negated is not None:
        inner = condition_value(spec, cond.negated, row, index, missing, kind)
        return None if inner is None else not inner
    if cond.submitter_kind is not None:
        return None if kind is None else kind in cond.submitter_kind
    assert cond.field is not None
    v = row[index[cond.field]]
    if cond.not_empty is not None:
        return (v not in missing) == cond.not_empty
    if cond.between is not None and cond.age_at is not None:
        on = row[index[cond.age_at]]
        if v in missing or on in missing:
            return False
        born, at = as_date(v), as_date(on)
        if born is None or at is None:
            return None
        return cond.between[0] <= whole_years(born, at) <= cond.between[1]
    if v in missing:
        return False
    f = spec.field(cond.field)
    if not _type_ok(f, v) or (f.enum is not None and v not in f.enum):
        return None
    if cond.equals is not None:
        return v == cond.equals
    if cond.in_ is not None:
        return v in cond.in_
    assert cond.greater_than is not None
    return float(v) > cond.greater_than


def months_before(day_after: date, months: int) -> date:
    """``day_after`` moved back ``months`` calendar months (to the month's last day if short)."""
    total = day_after.year * 12 + day_after.month - 1 - months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day_after.day, last))


@dataclass(frozen=True)
class _Cell:
    index: int
    field: Field
    pattern: re.Pattern[str] | None


class RowChecker:
    """Findings for one row of one dataset, as ADR 0001 describes them."""

    def __init__(self, spec: Spec, referenced: Referenced | None = None) -> None:
        """``referenced``: the rows reference rules may name; None leaves them unjudged."""
        self.spec = spec
        self.referenced = referenced
        self.index = {n: i for i, n in enumerate(spec.field_names)}
        self.cells = tuple(
            _Cell(i, f, re.compile(f.constraints.pattern) if f.constraints.pattern else None)
            for i, f in enumerate(spec.fields)
        )
        self.missing = frozenset(spec.table_schema.missing_values)

    def _holds(self, when: Condition, row: list[str], kind: str | None) -> bool:
        """Whether a rule applies: its condition, an unknown one read as no."""
        return condition_value(self.spec, when, row, self.index, self.missing, kind) is True

    def findings(
        self, row: list[str], org: str, period: Period, kind: str | None = None
    ) -> list[Finding]:
        out: list[Finding] = []
        bad_type: set[str] = set()
        for cell in self.cells:
            f, v = cell.field, row[cell.index]
            c = f.constraints
            if v in self.missing:
                if c.required:
                    out.append((f.name, "required"))
                continue
            if not _type_ok(f, v):
                out.append((f.name, "type"))
                bad_type.add(f.name)
                continue
            if c.enum is not None and v not in c.enum:
                out.append((f.name, "enum"))
            if cell.pattern is not None and not cell.pattern.fullmatch(v):
                out.append((f.name, "pattern"))
            if f.type in ("integer", "number", "date"):
                if c.minimum is not None and _compare(f, v, c.minimum) < 0:
                    out.append((f.name, "minimum"))
                if c.maximum is not None and _compare(f, v, c.maximum) > 0:
                    out.append((f.name, "maximum"))
            if c.max_length is not None and len(v) > c.max_length:
                out.append((f.name, "max-length"))
            if f.list is not None:
                items = v.split(f.list.separator)
                if any(item not in f.list.enum for item in items):
                    out.append((f.name, "list-enum"))
                if len(items) > f.list.max_items:
                    out.append((f.name, "list-length"))
            if f.check == "nhs-number" and not is_valid_nhs_number(v):
                out.append((f.name, "nhs-number"))
            if f.check == "nino" and not is_valid_nino(v):
                out.append((f.name, "nino"))
        for rule in self.spec.rules:
            if rule.kind in ("required-if", "empty-if") and rule.when is not None:
                if not self._holds(rule.when, row, kind):
                    continue
                for name in rule.fields:
                    empty = row[self.index[name]] in self.missing
                    if empty == (rule.kind == "required-if"):
                        out.append((name, rule.id))
            elif rule.kind == "date-order" and rule.field and rule.not_before:
                a = self._date(row, rule.field, bad_type)
                b = self._date(row, rule.not_before, bad_type)
                if a is not None and b is not None and a < b:
                    out.append((rule.field, rule.id))
            elif rule.kind == "within-period" and rule.field:
                a = self._date(row, rule.field, bad_type)
                if a is not None and (
                    (rule.bound == "end" and a > period.end)
                    or (rule.bound == "start" and a < period.start)
                ):
                    out.append((rule.field, rule.id))
            elif rule.kind == "period-date" and rule.field:
                a = self._date(row, rule.field, bad_type)
                if rule.bound == "end":
                    want = period.end
                elif rule.months:
                    want = months_before(period.end + timedelta(days=1), rule.months)
                else:
                    want = period.start
                if a is not None and a != want:
                    out.append((rule.field, rule.id))
            elif rule.kind == "submitter" and rule.field:
                v = row[self.index[rule.field]]
                if v not in self.missing and v != org:
                    out.append((rule.field, rule.id))
            elif rule.kind == "notice-version" and rule.field and rule.date_field and rule.notice:
                version = row[self.index[rule.field]]
                on = self._date(row, rule.date_field, bad_type)
                if (
                    version not in self.missing
                    and on is not None
                    and not version_in_force(rule.notice, version, on)
                ):
                    out.append((rule.field, rule.id))
            elif rule.kind == "notice-current" and rule.field and rule.date_field and rule.notice:
                version = row[self.index[rule.field]]
                on = self._date(row, rule.date_field, bad_type)
                if (
                    version not in self.missing
                    and on is not None
                    and version_superseded(rule.notice, version, on)
                ):
                    out.append((rule.field, rule.id))
            elif rule.kind == "reference" and self.referenced is not None:
                out.extend(self._reference(rule, row, org, out, bad_type))
        return out

    def _reference(
        self, rule: Rule, row: list[str], org: str, found: list[Finding], bad: set[str]
    ) -> list[Finding]:
        """A valid key naming no row of ``org``'s, or a date outside the row it names."""
        assert rule.field is not None and rule.dataset is not None
        key = row[self.index[rule.field]]
        if key in self.missing or any(name == rule.field for name, _ in found):
            return []  # empty, or breaking its own constraints: not judged
        named = self.referenced.get((rule.dataset, org), {}) if self.referenced else {}
        target = named.get(key)
        if rule.within is None:
            return [] if target is not None else [(rule.field, rule.id)]
        w = rule.within
        day = self._date(row, w.field, bad)
        start = as_date(target.get(w.from_, "")) if target is not None else None
        if day is None or start is None or target is None:
            return []
        end = as_date(target.get(w.to, "")) if w.to else None
        return [(w.field, rule.id)] if day < start or (end is not None and day > end) else []

    def _date(self, row: list[str], name: str, bad: set[str]) -> date | None:
        if name in bad:
            return None
        return as_date(row[self.index[name]])
