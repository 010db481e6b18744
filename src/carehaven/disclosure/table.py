"""A statistical table as the disclosure code sees it: a full cube of cells over hierarchies.

Every dimension is a hierarchy whose root is ``Total``: local authority → region → Total,
quarter → year → Total, a category → Total. A table holds one cell for every combination of
codes at every level, so margins and subtotals are cells like any other. What ties the cells
together is a set of additive relations: for each dimension, each non-leaf code and each
combination of the other dimensions' codes, the parent cell equals the sum of its children.
The intruder knows those relations; secondary suppression and the audit both work on them.

Several tables that share cells (two tables with the same authority margin, or a quarter's
table and the year-to-date table) are protected together as a :class:`Problem`: the union of
their cells, with shared cells merged into one variable.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import sparse

TOTAL = "Total"

Key = tuple[str, ...]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Hierarchy:
    """One dimension: its codes in display order and each code's parent; the root is ``Total``."""

    name: str
    parent: Mapping[str, str]
    order: tuple[str, ...]

    def __post_init__(self) -> None:
        if TOTAL in self.parent:
            raise ValueError(f"dimension {self.name}: {TOTAL} cannot have a parent")
        missing = [p for p in self.parent.values() if p != TOTAL and p not in self.parent]
        if missing:
            raise ValueError(f"dimension {self.name}: parent {missing[0]!r} is not a code")
        if set(self.order) != set(self.parent) | {TOTAL} or len(self.order) != len(set(self.order)):
            raise ValueError(f"dimension {self.name}: order must list every code once")

    @classmethod
    def flat(cls, name: str, codes: Iterable[str]) -> Hierarchy:
        """Codes directly under ``Total`` (a category → all)."""
        codes = tuple(codes)
        return cls(name, dict.fromkeys(codes, TOTAL), (*codes, TOTAL))

    @classmethod
    def grouped(cls, name: str, group_of: Mapping[str, str]) -> Hierarchy:
        """Two levels: each code under its group, each group under ``Total``.

        Display order: each group's codes (sorted), then the group, then ``Total``.
        """
        parent: dict[str, str] = {}
        order: list[str] = []
        for group in sorted(set(group_of.values())):
            members = sorted(c for c, g in group_of.items() if g == group)
            if group in group_of:
                raise ValueError(f"dimension {name}: {group!r} is both a code and a group")
            for code in members:
                parent[code] = group
            parent[group] = TOTAL
            order.extend(members)
            order.append(group)
        order.append(TOTAL)
        return cls(name, parent, tuple(order))

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Each non-leaf code's children, in display order."""
        out: dict[str, list[str]] = {}
        for code in self.order:
            if code != TOTAL:
                out.setdefault(self.parent[code], []).append(code)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def leaves(self) -> tuple[str, ...]:
        return tuple(c for c in self.order if c not in self.children)

    def leaves_under(self, code: str) -> tuple[str, ...]:
        if code not in self.children:
            return (code,)
        return tuple(leaf for c in self.children[code] for leaf in self.leaves_under(c))

    def depth(self, code: str) -> int:
        """0 for ``Total``, 1 for its children, and so on."""
        d = 0
        while code != TOTAL:
            code = self.parent[code]
            d += 1
        return d


@dataclass
class Table:
    """A full cube of cells: ``keys[i]`` names cell i by one code per dimension.

    ``values`` are the true cell values (counts or magnitudes). For magnitude tables,
    ``contributors`` counts the units in each cell and ``top`` holds each cell's largest
    contributions in descending order (for the dominance rules); frequency tables leave both
    ``None``.
    """

    name: str
    dims: tuple[Hierarchy, ...]
    keys: list[Key]
    values: FloatArray
    contributors: IntArray | None = None
    top: FloatArray | None = None
    measure: str = "count"

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.values):
            raise ValueError(f"table {self.name}: {len(self.keys)} keys, {len(self.values)} values")

    @classmethod
    def from_leaves(
        cls,
        name: str,
        dims: Sequence[Hierarchy],
        leaf_values: Mapping[Key, float],
        *,
        leaf_contributions: Mapping[Key, Sequence[float]] | None = None,
        measure: str = "count",
    ) -> Table:
        """Build every cell by summing leaf cells up each hierarchy; absent leaves are zero.

        ``leaf_contributions`` (magnitude tables) gives each leaf cell's individual
        contributions; each cell's contributor count and two largest contributions follow.
        """
        dims = tuple(dims)
        keys: list[Key] = list(itertools.product(*(d.order for d in dims)))
        index = {k: i for i, k in enumerate(keys)}
        values = np.zeros(len(keys), dtype=np.float64)
        contrib: list[list[float]] | None = (
            [[] for _ in keys] if leaf_contributions is not None else None
        )
        for leaf, value in leaf_values.items():
            if len(leaf) != len(dims):
                raise ValueError(f"table {name}: cell {leaf} needs {len(dims)} codes")
            for d, code in zip(dims, leaf, strict=True):
                if code not in d.parent or code in d.children:
                    raise ValueError(f"table {name}: {code!r} is not a leaf of {d.name}")
            chains = [_ancestors(d, c) for d, c in zip(dims, leaf, strict=True)]
            parts = leaf_contributions.get(leaf, ()) if leaf_contributions is not None else ()
            for key in itertools.product(*chains):
                i = index[key]
                values[i] += value
                if contrib is not None:
                    contrib[i].extend(parts)
        contributors = top = None
        if contrib is not None:
            contributors = np.array([len(c) for c in contrib], dtype=np.int64)
            top = np.zeros((len(keys), 2), dtype=np.float64)
            for i, c in enumerate(contrib):
                best = sorted(c, reverse=True)[:2]
                top[i, : len(best)] = best
        return cls(name, dims, keys, values, contributors, top, measure)

    @cached_property
    def index(self) -> dict[Key, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def relations(self) -> list[tuple[int, IntArray]]:
        """Every additive relation as (parent cell, its children's cells)."""
        out: list[tuple[int, IntArray]] = []
        for d, dim in enumerate(self.dims):
            others = [x.order for j, x in enumerate(self.dims) if j != d]
            for code, kids in dim.children.items():
                for rest in itertools.product(*others):
                    parent = self.index[(*rest[:d], code, *rest[d:])]
                    cells = [self.index[(*rest[:d], k, *rest[d:])] for k in kids]
                    out.append((parent, np.array(cells, dtype=np.int64)))
        return out

    def is_total(self, i: int) -> bool:
        """Whether cell i is a margin or subtotal in any dimension."""
        return any(code in dim.children for dim, code in zip(self.dims, self.keys[i], strict=True))


def _ancestors(dim: Hierarchy, code: str) -> list[str]:
    chain = [code]
    while code != TOTAL:
        code = dim.parent[code]
        chain.append(code)
    return chain


@dataclass
class Problem:
    """One or more tables protected together: a variable per distinct cell, every relation.

    ``shared`` names pairs of cells in different tables that are the same number (a shared
    margin, a quarter inside a year-to-date table); they become one variable, so they are
    published or suppressed together.
    """

    tables: list[Table]
    shared: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)

    @cached_property
    def _var_of(self) -> list[IntArray]:
        """For each table, the variable of each of its cells."""
        offsets = np.cumsum([0] + [len(t) for t in self.tables])
        root = np.arange(offsets[-1], dtype=np.int64)

        def find(x: int) -> int:
            while root[x] != x:
                root[x] = root[root[x]]
                x = int(root[x])
            return x

        for (ta, ca), (tb, cb) in self.shared:
            a, b = find(int(offsets[ta] + ca)), find(int(offsets[tb] + cb))
            va, vb = self.tables[ta].values[ca], self.tables[tb].values[cb]
            if not np.isclose(va, vb):
                raise ValueError(
                    f"shared cells differ: {self.tables[ta].name} {self.tables[ta].keys[ca]} is "
                    f"{va}, {self.tables[tb].name} {self.tables[tb].keys[cb]} is {vb}"
                )
            root[max(a, b)] = min(a, b)
        roots = np.array([find(i) for i in range(int(offsets[-1]))], dtype=np.int64)
        _, dense = np.unique(roots, return_inverse=True)
        return [dense[offsets[t] : offsets[t + 1]] for t in range(len(self.tables))]

    def var(self, table: int, cell: int) -> int:
        return int(self._var_of[table][cell])

    @cached_property
    def n(self) -> int:
        return int(max((int(v.max()) for v in self._var_of if len(v)), default=-1)) + 1

    @cached_property
    def values(self) -> FloatArray:
        out = np.zeros(self.n, dtype=np.float64)
        for t, table in enumerate(self.tables):
            out[self._var_of[t]] = table.values
        return out

    @cached_property
    def matrix(self) -> sparse.csr_matrix:
        """The relations as rows of A with A x = 0: +1 for the parent, -1 for each child."""
        rows: list[int] = []
        cols: list[int] = []
        data: list[float] = []
        r = 0
        seen: set[tuple[int, ...]] = set()
        for t, table in enumerate(self.tables):
            var = self._var_of[t]
            for parent, kids in table.relations:
                sig = (int(var[parent]), *sorted(int(v) for v in var[kids]))
                if sig in seen:  # the same relation reached through a shared margin
                    continue
                seen.add(sig)
                rows.append(r)
                cols.append(int(var[parent]))
                data.append(1.0)
                for v in var[kids]:
                    rows.append(r)
                    cols.append(int(v))
                    data.append(-1.0)
                r += 1
        return sparse.csr_matrix((data, (rows, cols)), shape=(r, self.n), dtype=np.float64)

    @classmethod
    def single(cls, table: Table) -> Problem:
        return cls([table])
