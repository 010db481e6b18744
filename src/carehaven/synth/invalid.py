"""Planted errors: rows made invalid on purpose, each with exactly one known finding.

For a share ``rate`` of all rows (chosen with the seed), one error is planted from a menu drawn
from what the row's descriptor declares, and the row is checked with :class:`RowChecker` to
give that one finding and no other; the plant is recorded for truth/invalid.csv.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from carehaven.specs import Field, FieldClass, Spec, load_spec
from carehaven.synth.dates import day, iso
from carehaven.synth.identifiers import NINO_FORBIDDEN_PREFIXES, wrong_check_digit
from carehaven.synth.organisations import kind_of
from carehaven.synth.rowcheck import Referenced, RowChecker, as_date
from carehaven.synth.table import BlankRule, Table, blank_rules

KINDS = (
    "required",
    "type",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "max-length",
    "list-enum",
    "list-length",
    "nhs-number",
    "nino",
    "date-order",
    "within-period",
    "duplicate-key",
)
_BAD_DATES = ("2024-02-30", "12/05/1980", "2023-13-01", "31-01-2024")
_BAD_CODES = ("ZZZ", "X9", "Q", "unknown code")


@dataclass(frozen=True)
class Plant:
    path: str
    row: int  # spreadsheet row: the header is row 1
    field: str
    rule: str


Change = dict[int, str]
Candidate = tuple[Change, str, str]  # cells to change, field, rule id


class _Menu:
    """What can be planted in rows of one dataset."""

    def __init__(
        self, spec: Spec, rng: random.Random, referenced: Referenced | None = None
    ) -> None:
        self.spec, self.rng = spec, rng
        self.checker = RowChecker(spec, referenced)
        self.index = self.checker.index
        self.blank: tuple[BlankRule, ...] = blank_rules(spec)
        self.private_when = tuple(
            r
            for r in self.blank
            if any(spec.fields[t].field_class is FieldClass.DIRECT for t in r.targets)
        )
        # consent_* fields: a row where the person said no is left alone whatever the dataset
        self.declined = tuple(
            (i, code)
            for i, f in enumerate(spec.fields)
            if f.name.startswith("consent") and f.enum
            for code in f.enum
            if (f.codes or {}).get(code, "").lower() == "no"
        )
        key = set(spec.primary_key)
        in_rules: set[str] = set()
        strict: set[str] = set(key)
        if spec.submitter_field:
            strict.add(spec.submitter_field)
        for rule in spec.rules:
            in_rules.update(rule.targets)
            tested = rule.when.fields() if rule.when else ()
            for name in (rule.not_before, rule.date_field, *tested):
                if name:
                    in_rules.add(name)
                    strict.add(name)
            if rule.kind in (
                "date-order", "within-period", "period-date", "notice-version", "notice-current",
                "submitter", "reference",
            ):
                strict.update(rule.targets)
            if rule.kind == "reference" and rule.field:
                strict.add(rule.field)  # a changed key would name another row, or none
        self.in_rules, self.strict = in_rules | strict, strict
        self.date_order = tuple(r for r in spec.rules if r.kind == "date-order")
        self.within = tuple(r for r in spec.rules if r.kind == "within-period")

    def eligible(self, row: list[str]) -> bool:
        """Rows where a person declined to share are never planted."""
        if any(row[i] == code for i, code in self.declined):
            return False
        return not any(r.holds(row) for r in self.private_when)

    def _fields(self, row: list[str], test: Callable[[Field], bool]) -> list[tuple[int, Field]]:
        found = [
            (i, f)
            for i, f in enumerate(self.spec.fields)
            if f.name not in self.strict and row[i] != "" and test(f)
        ]
        self.rng.shuffle(found)
        return found

    def candidates(self, kind: str, row: list[str], table: Table) -> Iterator[Candidate]:
        rng = self.rng
        if kind == "required":
            names = [
                (i, f)
                for i, f in enumerate(self.spec.fields)
                if f.required and f.name not in self.in_rules and row[i] != ""
            ]
            rng.shuffle(names)
            for i, f in names:
                yield {i: ""}, f.name, "required"
        elif kind == "type":
            for i, f in self._fields(row, lambda f: f.type in ("date", "integer", "number")):
                bad = rng.choice(_BAD_DATES) if f.type == "date" else rng.choice(("abc", "n/a"))
                yield {i: bad}, f.name, "type"
        elif kind == "enum":
            for i, f in self._fields(row, lambda f: f.enum is not None):
                yield {i: next(c for c in _BAD_CODES if c not in (f.enum or ()))}, f.name, "enum"
        elif kind == "pattern":
            for i, f in self._fields(
                row, lambda f: bool(f.constraints.pattern) and not f.check and f.enum is None
            ):
                v = row[i]
                for bad in ("A1", v.lower(), v[:-1] + "!", "1"):
                    if bad != v:
                        yield {i: bad}, f.name, "pattern"
                        break
        elif kind in ("minimum", "maximum"):
            for i, f in self._fields(row, lambda f: getattr(f.constraints, kind) is not None):
                bound = getattr(f.constraints, kind)
                step = -1 if kind == "minimum" else 1
                if f.type == "date" and isinstance(bound, str):
                    yield {i: iso(day(bound) + step * rng.randint(1, 400))}, f.name, kind
                elif f.type == "integer" and isinstance(bound, int | float):
                    yield {i: str(int(bound) + step * rng.randint(1, 5))}, f.name, kind
                elif f.type == "number" and isinstance(bound, int | float):
                    yield {i: f"{bound + step * rng.uniform(1, 50):.2f}"}, f.name, kind
        elif kind == "max-length":
            for i, f in self._fields(
                row,
                lambda f: (
                    f.constraints.max_length is not None
                    and f.type == "string"
                    and f.enum is None
                    and not f.constraints.pattern
                    and not f.check
                ),
            ):
                v, limit = row[i], f.constraints.max_length or 0
                yield {i: (v + "X" * (limit + 1))[: limit + 1]}, f.name, "max-length"
        elif kind in ("list-enum", "list-length"):
            for i, f in self._fields(row, lambda f: f.list is not None):
                spec_list = f.list
                if spec_list is None:
                    continue
                if kind == "list-enum":
                    items = row[i].split(spec_list.separator)
                    items[rng.randrange(len(items))] = "QQ"
                    yield {i: spec_list.separator.join(items)}, f.name, kind
                elif len(spec_list.enum) > spec_list.max_items:
                    picks = rng.sample(spec_list.enum, spec_list.max_items + 1)
                    yield {i: spec_list.separator.join(picks)}, f.name, kind
        elif kind == "nhs-number":
            for i, f in self._fields(row, lambda f: f.check == "nhs-number"):
                yield {i: wrong_check_digit(row[i])}, f.name, kind
        elif kind == "nino":
            for i, f in self._fields(row, lambda f: f.check == "nino"):
                for prefix in rng.sample(NINO_FORBIDDEN_PREFIXES, len(NINO_FORBIDDEN_PREFIXES)):
                    yield {i: prefix + row[i][2:]}, f.name, kind
        elif kind == "date-order":
            for rule in rng.sample(self.date_order, len(self.date_order)):
                if not rule.field or not rule.not_before:
                    continue
                a, b = self.index[rule.field], self.index[rule.not_before]
                da, db = as_date(row[a]), as_date(row[b])
                if da is None or db is None:
                    continue
                earlier = db.toordinal() - rng.randint(1, 30)
                yield {a: iso(earlier)}, rule.field, rule.id
                later = da.toordinal() + rng.randint(1, 30)
                if as_date(iso(later)) is not None:
                    yield {b: iso(later)}, rule.field, rule.id
        elif kind == "within-period":
            for rule in rng.sample(self.within, len(self.within)):
                if not rule.field:
                    continue
                a = self.index[rule.field]
                if as_date(row[a]) is None:
                    continue
                if rule.bound == "end":
                    moved = table.period.end_ord + rng.randint(1, 60)
                else:
                    moved = table.period.start_ord - rng.randint(1, 60)
                yield {a: iso(moved)}, rule.field, rule.id

    def try_plant(self, kind: str, row: list[str], table: Table) -> tuple[str, str] | None:
        """Change ``row`` in place to carry one finding of ``kind``; None when none fits."""
        for change, field, rule in self.candidates(kind, row, table):
            trial = row.copy()
            for i, v in change.items():
                trial[i] = v
            found = self.checker.findings(trial, table.org, table.period, kind_of(table.org))
            if found == [(field, rule)]:
                row[:] = trial
                return field, rule
        return None


def plant_errors(tables: Sequence[Table], rate: float, seed: int) -> list[Plant]:
    """Plant errors in ``round(rate * rows)`` rows across ``tables``; every one is returned."""
    if rate <= 0:
        return []
    rng = random.Random(f"{seed}/invalid")
    referenced = referenced_rows(tables)
    named, named_by = named_keys(tables), dict(_references(tables))
    menus: dict[str, _Menu] = {}
    for t in tables:
        if t.dataset not in menus:
            menus[t.dataset] = _Menu(load_spec(t.dataset), rng, referenced)
    total = sum(len(t.rows) for t in tables)
    wanted = min(total, round(rate * total))
    pool = [(ti, ri) for ti, t in enumerate(tables) for ri in range(len(t.rows))]
    rng.shuffle(pool)
    taken: set[tuple[int, int]] = set()  # planted rows and rows whose key was copied
    used_keys: dict[int, set[tuple[str, ...]]] = {}
    plants: list[Plant] = []
    turn = 0
    for ti, ri in pool:
        if len(plants) >= wanted:
            break
        if (ti, ri) in taken:
            continue
        table = tables[ti]
        menu = menus[table.dataset]
        row = table.rows[ri]
        if not menu.eligible(row) or _is_named(table, row, named, named_by):
            continue
        turn += 1
        for k in range(len(KINDS)):
            kind = KINDS[(turn + k) % len(KINDS)]
            if kind == "duplicate-key":
                done = _duplicate(menu, table, ti, ri, taken, used_keys)
            else:
                found = menu.try_plant(kind, row, table)
                done = None if found is None else Plant(table.path, ri + 2, *found)
            if done is not None:
                taken.add((ti, ri))
                plants.append(done)
                break
    plants.sort(key=lambda p: (p.path, p.row))
    return plants


def _duplicate(
    menu: _Menu,
    table: Table,
    ti: int,
    ri: int,
    taken: set[tuple[int, int]],
    used_keys: dict[int, set[tuple[str, ...]]],
) -> Plant | None:
    """Copy the primary key of an earlier, untouched row of the same file onto row ``ri``."""
    key = menu.spec.primary_key
    if not key or ri == 0:
        return None
    cols = [menu.index[k] for k in key]
    used = used_keys.setdefault(ti, set())
    for _ in range(5):
        src = menu.rng.randrange(ri)
        if (ti, src) in taken or not menu.eligible(table.rows[src]):
            continue
        source_key = tuple(table.rows[src][c] for c in cols)
        if source_key in used:
            continue
        trial = table.rows[ri].copy()
        for c in cols:
            trial[c] = table.rows[src][c]
        if menu.checker.findings(trial, table.org, table.period, kind_of(table.org)):
            continue
        table.rows[ri][:] = trial
        used.add(source_key)
        taken.add((ti, src))
        return Plant(table.path, ri + 2, key[-1], "duplicate-key")
    return None


def _references(tables: Sequence[Table]) -> set[tuple[str, str]]:
    """(dataset, key field) of every row that a reference rule of these tables' specs names."""
    specs = {t.dataset for t in tables}
    return {(d, k) for name in specs for d, k, _ in load_spec(name).referenced().values()}


def referenced_rows(tables: Sequence[Table]) -> Referenced:
    """The rows reference rules may name: per dataset and organisation, each key's row in the
    latest period that holds it (what the haven keeps in force once every file is in)."""
    wanted = dict(_references(tables))
    latest: dict[tuple[str, str], dict[str, tuple[int, dict[str, str]]]] = {}
    for t in tables:
        key = wanted.get(t.dataset)
        if key is None:
            continue
        col = t.header.index(key)
        rows = latest.setdefault((t.dataset, t.org), {})
        for row in t.rows:
            held = rows.get(row[col])
            if held is None or held[0] < t.period.end_ord:
                rows[row[col]] = (t.period.end_ord, dict(zip(t.header, row, strict=True)))
    return {slot: {k: r for k, (_, r) in rows.items()} for slot, rows in latest.items()}


def named_keys(tables: Sequence[Table]) -> set[tuple[str, str, str]]:
    """(dataset, organisation, key) of every row another return names: never planted, or its
    rejection would be found again in each return that names it."""
    out: set[tuple[str, str, str]] = set()
    for t in tables:
        for name, (dataset, _, _) in load_spec(t.dataset).referenced().items():
            col = t.header.index(name)
            out.update((dataset, t.org, row[col]) for row in t.rows if row[col])
    return out


def _is_named(
    table: Table, row: list[str], named: set[tuple[str, str, str]], keys: dict[str, str]
) -> bool:
    """Whether another return names ``row`` (``keys``: each named dataset's key field)."""
    key = keys.get(table.dataset)
    return key is not None and (table.dataset, table.org, row[table.header.index(key)]) in named
