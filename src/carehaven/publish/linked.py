"""Linked protection: every publication of a table that shares cells with a new one, and the
new one, protected and checked as one system (issue 13 items 9 and 10; ADR 0013).

A flow table counts things that happen in a period, so its periods nest: months in quarters,
quarters in the financial year to date. For such a table the unit of protection is the
financial year: one cube whose period dimension holds the months published (under their
quarter), the quarters, and the chain of year-to-date totals, whatever was published first. A
stock table (people in treatment, weekly cost) does not add up over time, so only the
publications of the same period are linked.

Each publication keeps, sealed under a key derived from the haven's master key, the true cube
it was protected with, and in clear the figures it showed. A later publication rebuilds those
cubes and joins them to its own in one :class:`~carehaven.disclosure.table.Problem`: a cell
with the same stable key and the same value in two cubes is one variable (the intruder is
assumed to know which figures a revision left unchanged), a cell any publication showed is
known, every other cell of an earlier cube is unknown. Only the cells of the parts published
now are free, so the new table suppresses more rather than change what is already public.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carehaven.collection.period import Period, parse_period
from carehaven.disclosure.table import TOTAL, Hierarchy, Key, Table
from carehaven.haven.keys import MasterKey
from carehaven.publish.build import PERIOD_DIM, cube, financial_year
from carehaven.publish.definitions import TableDef

PURPOSE = "publication-truth/v1"


@dataclass(frozen=True)
class Layout:
    """The periods one linked cube holds, and the code each stable period label has in it.

    ``quarters`` run from the financial year's first to the latest one published or being
    published; ``monthly`` names the quarters some of whose months are published (those
    quarters are the sum of their months). The root of the period dimension is ``Total``: the
    year to date through the last quarter.
    """

    quarters: tuple[Period, ...]
    monthly: frozenset[str]

    @property
    def year(self) -> str:
        first = self.quarters[0].start
        return f"{first.year}-{(first.year + 1) % 100:02d}"

    def ytd(self, i: int) -> str:
        """The stable label of the year to date through quarter ``i`` (for the first quarter
        the same cells as the quarter; published only from the second)."""
        return f"{self.year} to {self.quarters[i].label}"

    @property
    def root(self) -> str:
        return self.ytd(len(self.quarters) - 1)

    def code(self, stable: str) -> str:
        return TOTAL if stable == self.root else stable

    def stable(self, code: str) -> str:
        return self.root if code == TOTAL else code

    def hierarchy(self) -> Hierarchy:
        parent: dict[str, str] = {}
        order: list[str] = []
        for i, q in enumerate(self.quarters):
            if q.label in self.monthly:
                for m in months_of(q):
                    parent[m.label] = self.code(q.label)
                    order.append(m.label)
            if i:
                parent[q.label] = self.code(self.ytd(i))
                below = self.ytd(i - 1) if i > 1 else self.quarters[0].label
                parent[below] = self.code(self.ytd(i))
            elif len(self.quarters) == 1:  # the year so far is this quarter
                parent[q.label] = TOTAL
            order.append(q.label)
            if 0 < i < len(self.quarters) - 1:
                order.append(self.ytd(i))
        return Hierarchy(PERIOD_DIM, parent, (*order, TOTAL))

    def leaves(self) -> list[Period]:
        out: list[Period] = []
        for q in self.quarters:
            out.extend(months_of(q) if q.label in self.monthly else [q])
        return out


def months_of(quarter: Period) -> list[Period]:
    first = quarter.start.month
    return [parse_period(f"{quarter.start.year}-{m:02d}") for m in range(first, first + 3)]


def quarter_of(period: Period) -> Period:
    if period.kind == "quarter":
        return period
    return parse_period(f"{period.start.year}Q{(period.start.month - 1) // 3 + 1}")


def same_year(period: Period, other: Period) -> bool:
    return financial_year(quarter_of(period))[0] == financial_year(quarter_of(other))[0]


def layout(period: Period, published: Iterable[Period]) -> Layout:
    """The linked cube for publishing ``period`` beside the ``published`` periods of its year."""
    fy = financial_year(quarter_of(period))
    involved = [period, *published]
    last = max(fy.index(quarter_of(p)) for p in involved)
    monthly = frozenset(quarter_of(p).label for p in involved if p.kind == "month")
    return Layout(tuple(fy[: last + 1]), monthly)


def parts_of(defn: TableDef, period: Period, lay: Layout | None) -> list[str]:
    """The stable period labels a publication of ``period`` shows: the period, and for a
    quarter after the financial year's first, its year to date."""
    if lay is None:
        return [period.label]
    labels = [period.label]
    if period.kind == "quarter":
        i = [q.label for q in lay.quarters].index(period.label)
        if i:
            labels.append(lay.ytd(i))
    return labels


def build_linked(
    defn: TableDef, events: ir.Table, period: Period, lay: Layout | None
) -> Table:
    """The cube of true values: leaves are the layout's months and quarters (a flow table), or
    the one period (a stock table, which has no period dimension)."""
    periods = lay.leaves() if lay else [period]
    return cube(defn, events, periods, lay.hierarchy() if lay else None)


# ---- what a publication keeps --------------------------------------------------------------


@dataclass
class Snapshot:
    """One earlier publication: the cube it was protected with and what it showed.

    ``stable`` maps each cell to its stable key (the period code as a label, not ``Total``).
    ``table`` is None for a publication made before cubes were kept: only its shown keys are
    known then.
    """

    label: str
    period: str
    table: Table | None
    stable: list[Key]
    shown: dict[Key, float | None] = field(default_factory=dict)
    hidden: set[Key] = field(default_factory=set)


def stable_keys(table: Table, lay: Layout | None, period: Period) -> list[Key]:
    if lay is None:
        return [(*k, period.label) for k in table.keys]
    return [(*k[:-1], lay.stable(k[-1])) for k in table.keys]


def _aead(key: MasterKey, name: str, period: str) -> tuple[AESGCM, bytes]:
    return AESGCM(key.derive(PURPOSE)), f"{name}|{period}".encode()


def seal(key: MasterKey, table: Table, stable: list[Key], period: str) -> str:
    """The true cube, encrypted for the haven alone (a published file never holds it)."""
    body: dict[str, Any] = {
        "dims": [{"name": d.name, "parent": dict(d.parent), "order": list(d.order)}
                 for d in table.dims],
        "values": table.values.tolist(),
        "stable_period": [k[-1] for k in stable],
        "measure": table.measure,
    }
    if table.contributors is not None and table.top is not None:
        body["contributors"] = table.contributors.tolist()
        body["top"] = table.top.tolist()
    aead, aad = _aead(key, table.name, period)
    nonce = secrets.token_bytes(12)
    sealed = aead.encrypt(nonce, json.dumps(body).encode(), aad)
    return base64.b64encode(nonce + sealed).decode()


def unseal(key: MasterKey, name: str, period: str, text: str) -> tuple[Table, list[Key]]:
    raw = base64.b64decode(text)
    aead, aad = _aead(key, name, period)
    body = json.loads(aead.decrypt(raw[:12], raw[12:], aad))
    dims = tuple(Hierarchy(d["name"], d["parent"], tuple(d["order"])) for d in body["dims"])
    keys: list[Key] = list(itertools.product(*(d.order for d in dims)))
    contributors = top = None
    if "contributors" in body:
        contributors = np.array(body["contributors"], dtype=np.int64)
        top = np.array(body["top"], dtype=np.float64)
    table = Table(name, dims, keys, np.array(body["values"], dtype=np.float64),
                  contributors, top, body.get("measure", "count"))
    flow = dims[-1].name == PERIOD_DIM
    stable = [(*k[:-1], p) if flow else (*k, p)
              for k, p in zip(keys, body["stable_period"], strict=True)]
    return table, stable


def statuses(
    parts: dict[str, list[tuple[Key, bool, float | None]]], sealed: str
) -> dict[str, Any]:
    """The publication row's JSON: each part's cells (key, hidden, figure shown) and the
    sealed cube."""
    return {
        "parts": {p: [[*k, hid, val] for k, hid, val in cells] for p, cells in parts.items()},
        "sealed": sealed,
    }


def snapshot(key: MasterKey, name: str, label: str, period: str, raw: dict[str, Any]
             ) -> Snapshot:
    """An earlier publication from its row (either format)."""
    shown: dict[Key, float | None] = {}
    hidden: set[Key] = set()
    if "parts" in raw:
        for part, cells in raw["parts"].items():
            for *k, hid, val in cells:
                (hidden.add((*k, part)) if hid else shown.__setitem__((*k, part), val))
        table, stable = unseal(key, name, period, raw["sealed"])
        return Snapshot(label, period, table, stable, shown, hidden)
    # Made before cubes were kept: the quarter and its year to date, statuses only.
    start = financial_year(quarter_of(parse_period(period)))[0].start.year
    ytd = f"{start}-{(start + 1) % 100:02d} to {period}"
    for part, code in (("period", period), ("year_to_date", ytd)):
        for *k, hid in raw.get(part) or []:
            (hidden.add((*k, code)) if hid else shown.__setitem__((*k, code), None))
    return Snapshot(label, period, None, [], shown, hidden)
