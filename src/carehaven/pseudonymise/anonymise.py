"""k-anonymity with l-diversity by full-domain generalisation and row suppression (PSE-4).

Each quasi-identifier has a hierarchy of levels (``hierarchy.py``); a *node* chooses one level
per quasi-identifier and so a generalisation of the whole table. A node is acceptable when the
rows in classes smaller than ``k`` or holding fewer than ``l`` distinct values of the sensitive
field, which are suppressed, are at most ``max_suppression`` of the rows. Among acceptable
nodes the search picks the one losing least information.

Ibis computes one frequency table (every quasi-identifier at every level, the sensitive value,
and a count); the search then works on that table's integer codes in numpy, so trying a node
costs a pass over the distinct combinations rather than over the rows. Ibis applies the node
chosen. Small lattices are searched exhaustively; larger ones greedily upwards from the bottom
and then improved by local moves, as in the heuristic searches of ARX.

Information loss is reported as: generalisation (the mean over quasi-identifiers of level /
height, Sweeney's precision loss, weighted by rows kept), suppression (rows removed / rows), and
the two combined, ``loss = kept * generalisation + suppressed`` (a suppressed row loses all).
The baseline is simple global recoding: every quasi-identifier raised together, one step of its
hierarchy at a time, with no suppression, until the table is k-anonymous and l-diverse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carehaven.errors import UsageError
from carehaven.pseudonymise.hierarchy import levels as hierarchy_levels

#: Lattices up to this many nodes are searched exhaustively.
EXHAUSTIVE_NODES = 600


@dataclass(frozen=True)
class QuasiIdentifier:
    name: str
    hierarchy: str
    enum: tuple[str, ...] | None = None

    def levels(self, table: ir.Table) -> list[ir.StringValue]:
        return hierarchy_levels(self.hierarchy, table[self.name], self.enum)


@dataclass(frozen=True)
class Outcome:
    """What one node does to the table."""

    node: tuple[int, ...]
    suppressed: int
    classes: int
    generalisation: float
    loss: float


@dataclass
class Anonymisation:
    k: int
    l_div: int
    sensitive: str | None
    rows: int
    chosen: Outcome
    baseline: Outcome | None
    quasi_identifiers: list[QuasiIdentifier]
    heights: list[int]
    method: str
    nodes_tried: int
    timings: dict[str, float] = field(default_factory=dict)
    #: Rows the applied result actually left out (counting distinct people per class).
    suppressed_actual: int | None = None

    def levels_by_name(self, node: Sequence[int]) -> dict[str, int]:
        return {q.name: lvl for q, lvl in zip(self.quasi_identifiers, node, strict=True)}

    def report(self) -> dict[str, object]:
        def describe(o: Outcome | None) -> dict[str, object] | None:
            if o is None:
                return None
            return {
                "levels": self.levels_by_name(o.node),
                "suppressed_rows": o.suppressed,
                "suppressed_share": round(o.suppressed / self.rows, 6) if self.rows else 0.0,
                "classes": o.classes,
                "generalisation_loss": round(o.generalisation, 6),
                "information_loss": round(o.loss, 6),
            }

        return {
            "k": self.k,
            "l": self.l_div,
            "sensitive": self.sensitive,
            "rows_in": self.rows,
            "quasi_identifiers": [
                {"name": q.name, "hierarchy": q.hierarchy, "height": h}
                for q, h in zip(self.quasi_identifiers, self.heights, strict=True)
            ],
            "method": self.method,
            "nodes_tried": self.nodes_tried,
            "chosen": describe(self.chosen),
            "suppressed_rows_counting_people": self.suppressed_actual,
            "baseline_global_recoding": describe(self.baseline),
        }


class _Lattice:
    """The frequency table as integer codes, and the evaluation of nodes on it."""

    def __init__(self, freq: pa.Table, qis: int, heights: list[int], k: int, l_div: int) -> None:
        self.k, self.l_div, self.heights = k, l_div, heights
        self.count = freq["__n"].to_numpy().astype(np.int64)
        self.total = int(self.count.sum())
        self.codes: list[list[npt.NDArray[np.int64]]] = []
        self.cards: list[list[int]] = []
        for q in range(qis):
            per_level, cards = [], []
            for lvl in range(heights[q]):
                codes, card = _encode(freq[f"__q{q}_{lvl}"])
                per_level.append(codes)
                cards.append(card)
            per_level.append(np.zeros(len(self.count), dtype=np.int64))  # the top level: "*"
            cards.append(1)
            self.codes.append(per_level)
            self.cards.append(cards)
        # With a person column, a class's size is its distinct people, as ``apply`` counts it.
        self.person: npt.NDArray[np.int64] | None = None
        self.person_card = 1
        if "__p" in freq.column_names:
            self.person, self.person_card = _encode(freq["__p"])
        if "__s" in freq.column_names:
            self.sens: npt.NDArray[np.int64] | None
            self.sens, self.sens_card = _encode(freq["__s"])
        else:
            self.sens, self.sens_card = None, 1
        self.cache: dict[tuple[int, ...], Outcome] = {}

    def classes(self, node: tuple[int, ...]) -> tuple[npt.NDArray[np.int64], int]:
        """The class of every frequency row under ``node``, and the number of classes."""
        key = np.zeros(len(self.count), dtype=np.int64)
        span = 1
        for q, lvl in enumerate(node):
            card = self.cards[q][lvl]
            if span * card >= 2**62:  # compact before the mixed-radix key would overflow
                key, span = _dense(key)
            key = key * card + self.codes[q][lvl]
            span *= card
        return _dense(key, span)

    def small(
        self, node: tuple[int, ...]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], int]:
        """Which classes must be suppressed, each frequency row's class, and the class count."""
        cls, n = self.classes(node)
        if self.person is None:
            sizes = np.bincount(cls, weights=self.count, minlength=n)
        else:
            sizes = self._distinct_per_class(cls, n, self.person, self.person_card)
        bad = sizes < self.k
        if self.l_div > 1 and self.sens is not None:
            bad |= self._distinct_per_class(cls, n, self.sens, self.sens_card) < self.l_div
        return bad, cls, n

    @staticmethod
    def _distinct_per_class(
        cls: npt.NDArray[np.int64], n: int, value: npt.NDArray[np.int64], card: int
    ) -> npt.NDArray[np.int64]:
        """How many distinct ``value`` codes each of the ``n`` classes holds."""
        if not len(cls):
            return np.zeros(n, dtype=np.int64)
        if n * card < 2**62:
            pairs, _ = _dense(cls * card + value, n * card)
        else:  # the pair key would overflow: number the classes' pairs from a sort instead
            order = np.lexsort((value, cls))
            new = np.ones(len(cls), dtype=bool)
            new[1:] = (np.diff(cls[order]) != 0) | (np.diff(value[order]) != 0)
            pairs = np.empty(len(cls), dtype=np.int64)
            pairs[order] = np.cumsum(new) - 1
        first = np.zeros(int(pairs.max()) + 1, dtype=np.int64)
        first[pairs] = cls
        return np.bincount(first, minlength=n)

    def evaluate(self, node: tuple[int, ...]) -> Outcome:
        if node in self.cache:
            return self.cache[node]
        bad, cls, n = self.small(node)
        suppressed = int(self.count[bad[cls]].sum())
        kept = self.total - suppressed
        gen = float(
            np.mean([lvl / h if h else 0.0 for lvl, h in zip(node, self.heights, strict=True)])
        )
        share = suppressed / self.total if self.total else 0.0
        loss = (1.0 - share) * gen + share
        out = Outcome(node, suppressed, int(n - bad.sum()) if kept else 0, gen, loss)
        self.cache[node] = out
        return out


def _encode(values: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], int]:
    """Integer codes (0..n-1) of ``values`` by a hash table, and how many distinct there are."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    enc = pc.dictionary_encode(values)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


DIRECT_SPAN = 1 << 24  # key ranges up to this size are numbered by a lookup table, not a hash


def _dense(
    key: npt.NDArray[np.int64], span: int | None = None
) -> tuple[npt.NDArray[np.int64], int]:
    """Number the distinct keys 0..n-1. Keys known to lie in ``range(span)`` for a small span
    take a lookup table, many times faster than hashing; the numbering differs, the classes not.
    """
    if span is not None and span <= max(DIRECT_SPAN, 4 * len(key)):
        present = np.zeros(span, dtype=np.bool_)
        present[key] = True
        code = np.cumsum(present, dtype=np.int64) - 1
        return code[key], int(code[-1] + 1) if span else 0
    return _encode(pa.array(key))


def frequency_table(
    rows: ir.Table,
    qis: Sequence[QuasiIdentifier],
    sensitive: str | None,
    people: str | None = None,
) -> ir.Table:
    """Counts of rows by every quasi-identifier at every level (and the sensitive value).

    With ``people`` (the column naming the person) the counts are also split by person, so the
    search counts each class's distinct people exactly as ``apply`` will, and the suppression it
    promises is the suppression released.
    """
    cols: dict[str, ir.Value] = {}
    for i, q in enumerate(qis):
        for lvl, expr in enumerate(q.levels(rows)[:-1]):  # the top level is a constant
            cols[f"__q{i}_{lvl}"] = expr
    if sensitive is not None:
        cols["__s"] = rows[sensitive].cast("string").fill_null("(blank)")
    if people is not None:
        cols["__p"] = rows[people].cast("string")
    t = rows.select(**cols)
    return t.group_by(list(cols)).aggregate(__n=t.count())


def search(
    freq: pa.Table,
    qis: Sequence[QuasiIdentifier],
    *,
    k: int,
    l_div: int,
    max_suppression: float,
    sensitive: str | None,
) -> Anonymisation:
    """Choose the node with the least information loss whose suppression is within bounds."""
    heights = [_height(freq, i) for i in range(len(qis))]
    lat = _Lattice(freq, len(qis), heights, k, l_div)
    limit = math.floor(max_suppression * lat.total)
    size = math.prod(h + 1 for h in heights)

    def ok(o: Outcome) -> bool:
        return o.suppressed <= limit

    if size <= EXHAUSTIVE_NODES:
        nodes = itertools.product(*(range(h + 1) for h in heights))
        acceptable = [o for o in map(lat.evaluate, nodes) if ok(o)]
        method = "exhaustive"
    else:
        acceptable = _greedy(lat, heights, ok)
        method = "greedy with local search"
    if not acceptable:
        raise UsageError(
            f"No generalisation of these {len(qis)} quasi-identifiers gives classes of {k} "
            f"people (and {l_div} sensitive values) while suppressing at most "
            f"{max_suppression:.0%} of the {lat.total} rows; lower --k or --l, or raise "
            "--max-suppression."
        )
    chosen = min(acceptable, key=lambda o: (o.loss, o.node))
    baseline = _global_recoding(lat, heights)
    return Anonymisation(
        k, l_div, sensitive, lat.total, chosen, baseline, list(qis), heights, method, len(lat.cache)
    )


def _height(freq: pa.Table, i: int) -> int:
    return sum(1 for c in freq.column_names if c.startswith(f"__q{i}_"))


def _greedy(lat: _Lattice, heights: list[int], accept: Callable[[Outcome], bool]) -> list[Outcome]:
    node = tuple(0 for _ in heights)
    current = lat.evaluate(node)
    # Upwards: raise the quasi-identifier that removes most suppression per unit of loss.
    while not accept(current):
        steps = [
            lat.evaluate(tuple(lvl + (j == q) for j, lvl in enumerate(node)))
            for q in range(len(heights))
            if node[q] < heights[q]
        ]
        if not steps:
            break
        current = min(
            steps,
            key=lambda o: (
                -(current.suppressed - o.suppressed)
                / max(o.generalisation - current.generalisation, 1e-9),
                o.loss,
            ),
        )
        node = current.node
    # Then local search: single steps down or up, and swaps, while the loss falls.
    improved = True
    while improved:
        improved = False
        neighbours: list[tuple[int, ...]] = []
        for q in range(len(heights)):
            for delta in (-1, 1):
                n = list(node)
                n[q] += delta
                if 0 <= n[q] <= heights[q]:
                    neighbours.append(tuple(n))
            for r in range(len(heights)):
                if r != q and node[q] > 0 and node[r] < heights[r]:
                    swap = list(node)
                    swap[q] -= 1
                    swap[r] += 1
                    neighbours.append(tuple(swap))
        for candidate in neighbours:
            o = lat.evaluate(candidate)
            if accept(o) and o.loss < current.loss:
                current, node, improved = o, candidate, True
    return [o for o in lat.cache.values() if accept(o)]


def _global_recoding(lat: _Lattice, heights: list[int]) -> Outcome:
    """Every quasi-identifier raised together (by share of its height), no suppression."""
    steps = max(heights)
    for s in range(steps + 1):
        node = tuple(math.ceil(h * s / steps) if steps else 0 for h in heights)
        o = lat.evaluate(node)
        if o.suppressed == 0:
            return o
    return lat.evaluate(tuple(heights))


def apply(
    rows: ir.Table,
    qis: Sequence[QuasiIdentifier],
    node: Sequence[int],
    *,
    k: int,
    l_div: int,
    sensitive: str | None,
    people: str | None = None,
) -> ir.Table:
    """``rows`` generalised to ``node``, without the rows of classes too small or too uniform.

    With ``people`` (a column naming the person) a class must hold ``k`` distinct people, not
    only ``k`` rows: the guarantee holds even where one person has several records. Give the
    search's frequency table the same ``people`` column, so its suppression is the one applied.
    """
    names = [q.name for q in qis]
    general = rows.mutate(**{q.name: q.levels(rows)[lvl] for q, lvl in zip(qis, node, strict=True)})
    size = general[people].nunique() if people else general.count()
    measures: dict[str, ir.Value] = {"__size": size}
    if sensitive is not None and l_div > 1:
        measures["__l"] = general[sensitive].cast("string").fill_null("(blank)").nunique()
    stats = general.group_by(names).aggregate(**measures)
    keep = stats.__size >= k
    if "__l" in measures:
        keep &= stats.__l >= l_div
    safe = stats.filter(keep).select(*names)
    return general.semi_join(safe, names) if names else general


__all__ = ["Anonymisation", "Outcome", "QuasiIdentifier", "apply", "frequency_table", "search"]
