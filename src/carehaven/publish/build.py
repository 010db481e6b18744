"""From a definition and a period to a :class:`~carehaven.disclosure.table.Table` of true values.

Local authorities sit under their ONS region and the region under ``Total`` (England);
categories sit under ``Total``. A missing value is the code ``Not known``. Every authority
known to the haven's region lookup appears, with zeros where nothing happened, so the same table
has the same cells every quarter. Flow tables (things that happen in a period) get a third
dimension for the financial year so far: each quarter under a chain of year-to-date totals
(``Total`` = the year to date), so a quarter and the year-to-date tables published beside it are
protected as one system of sums.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis.expr.types as ir

from carehaven.collection.period import Period, parse_period
from carehaven.disclosure.table import TOTAL, Hierarchy, Key, Table
from carehaven.pseudonymise.hierarchy import region_names, regions
from carehaven.publish.definitions import DimensionDef, TableDef
from carehaven.publish.selections import SELECTIONS
from carehaven.specs import load_spec

NOT_KNOWN = "Not known"
OTHER_REGION = "Other"
PERIOD_DIM = "period"


@dataclass(frozen=True)
class YearToDate:
    """The quarters of one financial year up to and including the one published."""

    quarters: tuple[Period, ...]

    @property
    def year(self) -> str:
        first = self.quarters[0].start
        return f"{first.year}-{(first.year + 1) % 100:02d}"

    def code(self, upto: int) -> str:
        """The period code of the year to date through quarter ``upto`` (0-based)."""
        if upto == len(self.quarters) - 1:
            return TOTAL
        return f"{self.year} to {self.quarters[upto].label}"

    def hierarchy(self) -> Hierarchy:
        """``Total`` → (year to previous quarter, this quarter) → ... → (Q1, Q2)."""
        parent: dict[str, str] = {}
        for i in range(len(self.quarters) - 1, 0, -1):
            parent[self.quarters[i].label] = self.code(i)
            parent[self.code(i - 1) if i > 1 else self.quarters[0].label] = self.code(i)
        order = [q.label for q in self.quarters]
        order += [self.code(i) for i in range(1, len(self.quarters) - 1)]
        return Hierarchy(PERIOD_DIM, parent, (*order, TOTAL))


def financial_year(period: Period) -> list[Period]:
    """The four quarters of the financial year (April to March) holding ``period``."""
    start_year = period.start.year if period.start.month >= 4 else period.start.year - 1
    quarters = []
    day = dt.date(start_year, 4, 1)
    for _ in range(4):
        q = (day.month - 1) // 3 + 1
        quarters.append(parse_period(f"{day.year}Q{q}"))
        day = dt.date(day.year + (day.month >= 10), (day.month + 2) % 12 + 1, 1)
    return quarters


def year_to_date(period: Period) -> YearToDate | None:
    """The financial year so far, for a quarter after the year's first."""
    if period.kind != "quarter":
        return None
    quarters = [q for q in financial_year(period) if q.start <= period.start]
    return YearToDate(tuple(quarters)) if len(quarters) > 1 else None


def _authorities(codes: set[str]) -> Hierarchy:
    lookup = regions()
    parent: dict[str, str] = {}
    order: list[str] = []
    known = set(lookup) | {c for c in codes if c != NOT_KNOWN}
    groups: dict[str, list[str]] = {}
    for la in known:
        groups.setdefault(lookup.get(la, OTHER_REGION), []).append(la)
    for region in sorted(groups, key=lambda r: (r == OTHER_REGION, r)):
        for la in sorted(groups[region]):
            parent[la] = region
            order.append(la)
        parent[region] = TOTAL
        order.append(region)
    if NOT_KNOWN in codes:
        parent[NOT_KNOWN] = TOTAL
        order.append(NOT_KNOWN)
    return Hierarchy("local_authority", parent, (*order, TOTAL))


def _categories(name: str, codes: tuple[str, ...], seen: set[str]) -> Hierarchy:
    extra = sorted(seen - set(codes) - {NOT_KNOWN})
    listed = (*codes, *extra, *((NOT_KNOWN,) if NOT_KNOWN in seen else ()))
    return Hierarchy.flat(name, listed)


def _dimension(defn: TableDef, dim: DimensionDef, seen: set[str]) -> Hierarchy:
    if dim.hierarchy == "local-authority":
        h = _authorities(seen)
        return Hierarchy(dim.name, h.parent, h.order)
    codes = dim.codes or load_spec(defn.dataset).field(dim.field).enum or ()
    return _categories(dim.name, tuple(codes), seen)


def labels(defn: TableDef, dims: tuple[Hierarchy, ...]) -> dict[str, dict[str, str]]:
    """Readable names: regions for authorities' groups, the spec's code labels for categories."""
    out: dict[str, dict[str, str]] = {}
    names = region_names()
    spec = load_spec(defn.dataset)
    for d, h in zip(defn.dimensions, dims, strict=False):
        if d.hierarchy == "local-authority":
            out[h.name] = {c: names[c] for c in h.order if c in names} | {TOTAL: "England"}
        elif d.field in spec.field_names and spec.field(d.field).codes:
            out[h.name] = dict(spec.field(d.field).codes or {})
    return out


def _leaf_rows(defn: TableDef, rows: ir.Table) -> ir.Table:
    cols = {
        d.name: rows[d.field].cast("string").fill_null(NOT_KNOWN).nullif("").fill_null(NOT_KNOWN)
        for d in defn.dimensions
    }
    return rows.mutate(**cols)


def with_received(defn: TableDef, events: ir.Table, received: ir.Table | None) -> ir.Table:
    """CLD rows with when their submission was received (the submission selection needs it)."""
    if defn.dataset != "cld-event":
        return events
    if received is None:
        raise ValueError(f"{defn.name} chooses among submissions: give when each was received")
    return events.join(received, "_submission_id")


def measure(defn: TableDef, events: ir.Table, period: Period) -> ir.Table:
    """One row per leaf cell (and contributor, for value tables) with its count or sum."""
    rows = _leaf_rows(defn, SELECTIONS[defn.selection](events, period))
    names = [d.name for d in defn.dimensions]
    if defn.counts == "value":
        once = rows.select(*names, "_unit", "_value", "_contributor").distinct()
        return once.group_by([*names, "_contributor"]).aggregate(_n=once._value.sum())
    return rows.group_by(names).aggregate(_n=rows._unit.nunique())


def cube(
    defn: TableDef, events: ir.Table, periods: list[Period], by_period: Hierarchy | None
) -> Table:
    """The table of true values over ``periods``: their leaves summed into one table, or, with
    ``by_period`` (the periods' hierarchy), kept apart along that last dimension.

    A value table's cells (a cost) are rounded to pennies, the figure published, so that its
    totals are the sums of the figures shown and the published table adds up exactly; each
    contributor's share stays unrounded for the dominance rule.
    """
    names = [d.name for d in defn.dimensions]
    leaf: dict[Key, float] = {}
    parts: dict[Key, list[float]] = {}
    seen: list[set[str]] = [set() for _ in names]
    for p in periods:
        for r in measure(defn, events, p).to_pyarrow().to_pylist():
            key = tuple(str(r[n]) for n in names) + ((p.label,) if by_period else ())
            leaf[key] = leaf.get(key, 0.0) + float(r["_n"] or 0.0)
            if defn.counts == "value":
                parts.setdefault(key, []).append(float(r["_n"] or 0.0))
            for i, n in enumerate(names):
                seen[i].add(str(r[n]))
    if defn.counts == "value":
        leaf = {k: round(v, 2) for k, v in leaf.items()}
    dims = tuple(_dimension(defn, d, s) for d, s in zip(defn.dimensions, seen, strict=True))
    if by_period is not None:
        dims = (*dims, by_period)
    return Table.from_leaves(
        defn.name, dims, leaf,
        leaf_contributions=parts if defn.counts == "value" else None,
        measure="value" if defn.counts == "value" else "count",
    )


def build(
    defn: TableDef, events: ir.Table, period: Period, received: ir.Table | None = None
) -> tuple[Table, YearToDate | None]:
    """The table of true values for ``period`` (with the year to date, for flow tables).

    ``received``: when each submission in force was received (``cld.received_table``); the CLD
    tables choose each authority's submission by it.
    """
    events = with_received(defn, events, received)
    ytd = year_to_date(period) if defn.flow else None
    periods = list(ytd.quarters) if ytd else [period]
    table = cube(defn, events, periods, ytd.hierarchy() if ytd else None)
    return table, ytd


def sliced(table: Table, code: str) -> list[int]:
    """The cells of ``table`` whose last (period) code is ``code``, in cube order."""
    return [i for i, k in enumerate(table.keys) if k[-1] == code]
