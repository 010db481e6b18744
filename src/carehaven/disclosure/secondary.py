"""Secondary suppression: hide the fewest (or smallest) further cells that protect every primary.

Exact method: the model of Fischetti and Salazar (Management Science 1999; Operations
Research 2001), solved by cut generation with the HiGHS MIP solver. A binary ``x_i`` says
variable i is hidden. For a pattern x, the intruder's room to move primary p is

    max / min d_p  s.t.  A d = 0,  -a_i x_i <= d_i <= M_i x_i,

where ``d`` is the deviation of an alternative table from the true values ``a`` (hidden cells
may fall to zero or rise by up to ``M_i``; published cells stay put). p is protected when the
maximum reaches ``upl_p`` and the minimum ``-lpl_p``. By Lagrangian duality, for ANY row
multipliers ``y``, with ``c = -e_p`` (up) or ``+e_p`` (down) and ``z = c - A'y``,

    max d_p  <=  sum_i x_i (a_i z_i+ + M_i z_i-)     (and likewise for -min d_p),

because ``c.d = z.d`` whenever ``A d = 0`` and each ``z_i d_i`` is bounded on its interval.
So ``sum_i (a_i z_i+ + M_i z_i-) x_i >= upl_p`` holds for every safe pattern: the capacity
cut. Taking y from the attacker LP's optimal duals at a pattern x* that falls short makes the
right-hand side equal the attacker's optimum (strong duality), so the cut cuts x* off. Cells
hidden for sure move to the right-hand side and each coefficient is capped at it (valid for
binaries), so the size of ``M`` does not weaken the cuts.

``M_i`` is the largest value in the problem plus the largest protection level. A finite M can
only shrink the intruder's room, so a pattern the model accepts is safe for an intruder with
no upper bounds; in two-dimensional (network) tables an alternative table never needs a cell
to move by more than the protection level, so nothing is lost there either.

The search: (1) one cut per primary, relation and direction (``y`` on that relation alone:
the other cells of the relation must absorb the primary's move); (2) solve the MIP and check
its pattern; if it falls short, (3) strengthen the LP relaxation with cuts separated at its
fractional optima (the same attacker LP with bounds ``-a_i x_i, M_i x_i``), then (4) alternate
MIP solves and cuts until the pattern is safe. Most attacker LPs are avoided: vertices of LPs
that push every primary at once, and deviations kept from earlier rounds, prove most
primaries safe. A heuristic (cover LPs per unsafe primary, then pruning) serves above
``exact_limit`` variables and completes the incumbent when time runs out. Every returned
pattern passes :func:`carehaven.disclosure.audit.check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import highspy
import numpy as np
import numpy.typing as npt
from scipy import sparse

from carehaven.disclosure.audit import TOL, check, new_highs, pass_lp, push_many
from carehaven.disclosure.table import FloatArray, IntArray, Problem
from carehaven.errors import CarehavenError

BoolArray = npt.NDArray[np.bool_]
Cost = Literal["cells", "value"]
Method = Literal["auto", "optimal", "heuristic"]
Status = highspy.HighsModelStatus
Key = tuple[int, int]  # (index into the protected primaries, 0 = up / 1 = down)
Shortfall = tuple[int, int, FloatArray]  # a key and the attacker LP's row duals

#: A deviation below this counts as "the cell does not move".
MOVE = 1e-7
#: Cut coefficients below this (right-hand side 1) are dropped, the right-hand side lowered.
SMALL = 1e-4
#: Root cuts with at most this many entries always go to the MIP (others only if binding).
SPARSE = 200
#: Primary directions whose capped cuts are separated per LP round of the relaxation.
ROOT_BATCH = 0
QUIET_MIP = True
MIPTIED = True
REPAIR_CUTS = True
START = False
REPAIR_PASSES = 1000
#: Share of the time left that one greedy repair of a MIP pattern may take.
REPAIR = 0.05
#: LP rounds without a better bound (and nothing short) after which the relaxation is left.
STALL = 3
#: Total weight of the "prefer smaller cells" tie-break in the cell-count objective (< 1).
TIE_BREAK = 0.1
SENSES = (1.0, -1.0)  # column 0 of need: push up; column 1: push down


@dataclass
class Suppression:
    """A suppression pattern over problem variables and how it was found.

    ``iterations`` counts master solves (LP rounds on the relaxation and MIP rounds).
    ``lower_bound`` bounds the cost of any safe pattern, so ``cost - lower_bound`` is the
    most that is lost against the optimum.
    """

    suppressed: BoolArray
    primary: BoolArray
    method: str
    proven_optimal: bool
    lower_bound: float
    cost: float
    seconds: float
    iterations: int

    @property
    def n_primary(self) -> int:
        return int(self.primary.sum())

    @property
    def n_secondary(self) -> int:
        return int((self.suppressed & ~self.primary).sum())


@dataclass
class _Setup:
    """Everything the solvers share: values, relations, primaries and their needs, costs."""

    a: FloatArray
    matrix: sparse.csr_matrix
    csc: sparse.csc_matrix
    big: FloatArray  # M_i
    primary: BoolArray
    prim: IntArray  # primary variables with something to protect
    need: FloatArray  # (len(prim), 2): upper, lower protection
    fixed1: BoolArray
    fixed0: BoolArray
    weight: FloatArray  # reported cost of hiding each variable
    objective: FloatArray  # master objective (weight plus tie-break; 0 when fixed)
    cost: Cost

    @property
    def n(self) -> int:
        return len(self.a)

    def report(self, hidden: BoolArray) -> float:
        return float(self.weight[hidden & ~self.primary].sum())

    def bound_to_cost(self, bound: float) -> float:
        """Turn a lower bound on the master objective into one on the reported cost."""
        const = self.report(self.fixed1)
        if not np.isfinite(bound):
            return const
        if self.cost == "cells":  # a whole number of cells plus a tie-break below TIE_BREAK
            return const + max(0.0, float(np.ceil(bound - TIE_BREAK - 1e-6)))
        return const + max(0.0, bound)


def _setup(
    problem: Problem,
    primary_mask: BoolArray,
    lpl: FloatArray,
    upl: FloatArray,
    cost: Cost,
    published: BoolArray | None,
    hidden: BoolArray | None,
) -> _Setup:
    n = problem.n
    a = np.asarray(problem.values, dtype=np.float64)
    prim_mask = np.asarray(primary_mask, dtype=np.bool_)
    for name, arr in (("primary_mask", prim_mask), ("lpl", lpl), ("upl", upl)):
        if np.shape(arr) != (n,):
            raise ValueError(f"{name} must hold one entry per variable ({n})")
    if cost not in ("cells", "value"):
        raise ValueError(f"cost must be 'cells' or 'value', not {cost!r}")
    if np.any(a < 0):
        raise ValueError("secondary suppression expects non-negative cell values")
    fixed0 = np.zeros(n, np.bool_) if published is None else np.asarray(published, np.bool_)
    forced = np.zeros(n, np.bool_) if hidden is None else np.asarray(hidden, np.bool_)
    if fixed0.shape != (n,) or forced.shape != (n,):
        raise ValueError(f"published and hidden must hold one flag per variable ({n})")
    if np.any(fixed0 & prim_mask):
        raise ValueError(
            f"primary variable {int(np.flatnonzero(fixed0 & prim_mask)[0])} is marked as "
            "published, but primary cells must be suppressed"
        )
    if np.any(fixed0 & forced):
        raise ValueError("a variable cannot be both kept published and kept hidden")
    # Cells cannot go below zero, so no pattern gives more lower protection than the value.
    lo = np.where(prim_mask, np.minimum(np.asarray(lpl, np.float64), a), 0.0)
    up = np.where(prim_mask, np.asarray(upl, np.float64), 0.0)
    need = np.stack([up, lo], axis=1)
    prim = np.flatnonzero(prim_mask & (need.max(axis=1) > 0))
    big = float(a.max(initial=0.0) + need.max(initial=0.0) + 1.0)
    weight = np.ones(n) if cost == "cells" else a + 1.0
    objective = weight.copy()
    if cost == "cells":  # smaller cells preferred among patterns with as few cells
        objective += TIE_BREAK * a / max(float(a.sum()), 1.0)
    fixed1 = prim_mask | forced
    objective[fixed1 | fixed0] = 0.0
    matrix = sparse.csr_matrix(problem.matrix)
    return _Setup(
        a=a,
        matrix=matrix,
        csc=sparse.csc_matrix(matrix),
        big=np.full(n, big),
        primary=prim_mask.copy(),
        prim=prim.astype(np.int64),
        need=need[prim],
        fixed1=fixed1,
        fixed0=fixed0,
        weight=weight,
        objective=objective,
        cost=cost,
    )


# ---- cuts ------------------------------------------------------------------------------------


def capacity_cuts(
    s: _Setup, which: IntArray, sense: FloatArray, y: sparse.csr_matrix
) -> tuple[sparse.csr_matrix, FloatArray]:
    """Fischetti-Salazar capacity cuts ``coef . x >= rhs`` from row multipliers ``y``.

    Row k of ``y`` (one multiplier per relation) is for primary ``s.prim[which[k]]`` pushed
    in direction ``sense[k]``. Fixed variables are moved out, coefficients capped at the
    right-hand side and rows scaled to ``rhs = 1``; rows already met by the fixed cells are
    dropped. Returns the coefficient matrix over all variables and the unscaled rhs.
    """
    k = len(which)
    p = s.prim[which]
    need = s.need[which, np.where(sense > 0, 0, 1)]
    c = sparse.csr_matrix((-sense, (np.arange(k), p)), shape=(k, s.n))
    z = sparse.csr_matrix(c - y @ s.matrix)
    cols = z.indices
    coef = np.where(z.data > 0, s.a[cols] * z.data, -s.big[cols] * z.data)
    full = sparse.csr_matrix((coef, cols, z.indptr), shape=(k, s.n))
    rhs = need - full @ s.fixed1.astype(np.float64)
    rows = np.repeat(np.arange(k), np.diff(full.indptr))
    free = ~(s.fixed0 | s.fixed1)[cols]
    data = np.where(free, np.minimum(coef, rhs[rows]) / np.maximum(rhs[rows], TOL), 0.0)
    # Rounding noise in A'y leaves many coefficients near zero that only make the MIP dense.
    # Dropping them and lowering the right-hand side by their sum D keeps the cut valid:
    # sum_kept c x >= 1 - D, i.e. sum_kept c/(1-D) x >= 1, capped at 1 again.
    tiny = data < SMALL
    dropped = np.bincount(rows[tiny], weights=data[tiny], minlength=k)
    scale = np.where(dropped < 0.5, 1.0 / (1.0 - dropped), 1.0)
    keep = ~tiny | (dropped >= 0.5)[rows]
    data = np.where(keep, np.minimum(data * scale[rows], 1.0), 0.0)
    data = np.where(data > 1e-12, data, 0.0)
    out = sparse.csr_matrix((data, cols, full.indptr), shape=(k, s.n))
    out.eliminate_zeros()
    live = rhs > TOL
    empty = live & (np.diff(out.indptr) == 0)
    if empty.any():
        raise ValueError(
            f"primary variable {int(p[np.flatnonzero(empty)[0]])} cannot be protected: every "
            "cell that could hide it must stay published"
        )
    return sparse.csr_matrix(out[live]), rhs[live]


def relation_cuts(s: _Setup) -> sparse.csr_matrix:
    """One cut per primary, relation and direction: the relation's other cells must absorb it.

    With ``y`` on relation r alone, scaled so ``z_p = 0``, a cell on p's side of the relation
    must fall (capacity a_i) and a cell on the other side must rise (capacity M_i).
    """
    start = s.csc.indptr[s.prim]
    count = s.csc.indptr[s.prim + 1] - start
    offset = np.repeat(start - np.cumsum(count) + count, count)
    entry = np.arange(int(count.sum())) + offset
    rel = s.csc.indices[entry]
    coef = s.csc.data[entry]
    which = np.repeat(np.arange(len(s.prim)), count)
    parts: list[sparse.csr_matrix] = []
    for col, sense in enumerate(SENSES):
        use = s.need[which, col] > 0
        m = int(use.sum())
        y = sparse.csr_matrix(
            (-sense / coef[use], (np.arange(m), rel[use])), shape=(m, s.matrix.shape[0])
        )
        parts.append(capacity_cuts(s, which[use], np.full(m, sense), y)[0])
    return sparse.csr_matrix(sparse.vstack(parts))


def _cuts_for(s: _Setup, short: list[Shortfall]) -> sparse.csr_matrix:
    which = np.array([k for k, _, _ in short], dtype=np.int64)
    sense = np.array([SENSES[c] for _, c, _ in short])
    y = sparse.csr_matrix(np.vstack([dual for _, _, dual in short]))
    return capacity_cuts(s, which, sense, y)[0]


# ---- the intruder on deviations ----------------------------------------------------------------


class _DeviationLP:
    """The deviations a (possibly fractional) pattern x allows: ``A d = 0``,
    ``-a_i x_i <= d_i <= M_i x_i``.

    The LP holds only the columns of a superset of the cells with ``x_i > 0`` (the others
    cannot move) and the relations touching them. A pattern inside that superset is a change
    of bounds; new cells are added as columns, so the simplex basis survives and every solve
    warm-starts. ``objective`` (over all variables) is the cost of each column.
    """

    def __init__(self, s: _Setup, objective: FloatArray, strategy: int) -> None:
        self.s = s
        self.objective = objective
        self.strategy = strategy
        self.h = new_highs()
        self.cols: IntArray = np.zeros(0, dtype=np.int64)
        self.rows: IntArray = np.zeros(0, dtype=np.int64)
        self.pos = np.full(s.n, -1, dtype=np.int64)
        self.row_pos = np.full(s.matrix.shape[0], -1, dtype=np.int64)
        self.lo = np.zeros(0)
        self.hi = np.zeros(0)

    def pattern(self, x: FloatArray) -> None:
        on = x > 1e-9
        fresh = np.flatnonzero(on & (self.pos < 0))
        if len(self.cols) == 0 or len(self.cols) + len(fresh) > 2 * int(on.sum()) + 64:
            self._build(on, x)
            return
        if len(fresh):
            self._extend(fresh, x)
        lo = -self.s.a[self.cols] * x[self.cols]
        hi = self.s.big[self.cols] * x[self.cols]
        moved = np.flatnonzero((lo != self.lo) | (hi != self.hi)).astype(np.int32)
        if len(moved):
            self.h.changeColsBounds(len(moved), moved, lo[moved], hi[moved])
            self.lo, self.hi = lo, hi

    def _build(self, on: BoolArray, x: FloatArray) -> None:
        s = self.s
        self.cols = np.flatnonzero(on)
        self.pos = np.full(s.n, -1, dtype=np.int64)
        self.pos[self.cols] = np.arange(len(self.cols))
        sub = sparse.csr_matrix(s.matrix[:, self.cols])
        self.rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        self.row_pos = np.full(s.matrix.shape[0], -1, dtype=np.int64)
        self.row_pos[self.rows] = np.arange(len(self.rows))
        self.lo = -s.a[self.cols] * x[self.cols]
        self.hi = s.big[self.cols] * x[self.cols]
        zeros_m = np.zeros(len(self.rows))
        self.h = new_highs()
        self.h.setOptionValue("presolve", "off")
        self.h.setOptionValue("simplex_strategy", self.strategy)
        cost = self.objective[self.cols]
        pass_lp(self.h, sub[self.rows], cost, self.lo, self.hi, zeros_m, zeros_m)

    def _extend(self, fresh: IntArray, x: FloatArray) -> None:
        """Add columns (and the relations only they touch) without losing the basis."""
        s = self.s
        sub = sparse.csc_matrix(s.csc[:, fresh])
        new_rows = np.unique(sub.indices[self.row_pos[sub.indices] < 0])
        if len(new_rows):
            self.row_pos[new_rows] = len(self.rows) + np.arange(len(new_rows))
            self.rows = np.concatenate([self.rows, new_rows])
            zeros = np.zeros(len(new_rows))
            none = np.zeros(0, dtype=np.int32)
            starts = np.zeros(len(new_rows), dtype=np.int32)
            self.h.addRows(len(new_rows), zeros, zeros, 0, starts, none, np.zeros(0))
        lo, hi = -s.a[fresh] * x[fresh], s.big[fresh] * x[fresh]
        self.h.addCols(
            len(fresh),
            self.objective[fresh],
            lo,
            hi,
            sub.nnz,
            sub.indptr[:-1].astype(np.int32),
            self.row_pos[sub.indices].astype(np.int32),
            sub.data.astype(np.float64),
        )
        self.pos[fresh] = len(self.cols) + np.arange(len(fresh))
        self.cols = np.concatenate([self.cols, fresh])
        self.lo = np.concatenate([self.lo, lo])
        self.hi = np.concatenate([self.hi, hi])

    def solve(self) -> FloatArray | None:
        """The deviations at an optimal vertex (over ``self.cols``), None if not optimal."""
        self.h.run()
        if self.h.getModelStatus() != Status.kOptimal:
            return None
        return np.asarray(self.h.getSolution().col_value)


class _Attacker:
    """The intruder on deviations: exact single-primary LPs plus cheap certification.

    ``single`` answers "how far can p move" exactly (primal simplex: only its cost changes
    between runs). ``sweeps`` are LPs with fixed objectives that push every primary at once
    (all up, all down, and two mixtures); re-solved by dual simplex after each change of
    pattern, their vertices prove most primaries safe before any single LP runs.
    """

    def __init__(self, s: _Setup) -> None:
        self.s = s
        self.single = _DeviationLP(s, np.zeros(s.n), strategy=4)
        up = np.zeros(s.n)
        down = np.zeros(s.n)
        up[s.prim] = -np.where(s.need[:, 0] > 0, 1.0 / np.maximum(s.need[:, 0], TOL), 0.0)
        down[s.prim] = np.where(s.need[:, 1] > 0, 1.0 / np.maximum(s.need[:, 1], TOL), 0.0)
        odd = np.zeros(s.n, dtype=np.bool_)
        odd[s.prim[1::2]] = True
        self.sweeps = [
            _DeviationLP(s, objective, strategy=1)
            for objective in (up, down, np.where(odd, down, up), np.where(odd, up, down))
        ]
        self.runs = 0

    @property
    def cols(self) -> IntArray:
        return self.single.cols

    def pattern(self, x: FloatArray) -> None:
        self.single.pattern(x)

    def reach(self, p: int, sense: float) -> tuple[float, FloatArray, FloatArray]:
        """(how far p moves in direction sense, deviations of self.cols, duals of all rows)."""
        lp = self.single
        idx = np.array([lp.pos[p]], dtype=np.int32)
        lp.h.changeColsCost(1, idx, np.array([-sense]))
        lp.h.run()
        self.runs += 1
        status = lp.h.getModelStatus()
        lp.h.changeColsCost(1, idx, np.zeros(1))
        if status != Status.kOptimal:
            raise CarehavenError(
                "the attacker linear programme did not solve (HiGHS: "
                + lp.h.modelStatusToString(status)
                + ")"
            )
        sol = lp.h.getSolution()
        d = np.asarray(sol.col_value)
        y = np.zeros(self.s.matrix.shape[0])
        y[lp.rows] = np.asarray(sol.row_dual)
        return sense * float(d[idx[0]]), d, y

    def sweep(self, x: FloatArray, seen: Callable[[IntArray, FloatArray], None]) -> None:
        for lp in self.sweeps:
            lp.pattern(x)
            d = lp.solve()
            self.runs += 1
            if d is not None:
                seen(lp.cols, d)

    def push(
        self, keys: list[Key], seen: Callable[[IntArray, FloatArray], None]
    ) -> None:
        """Batch-certify many (primary, direction) pairs; see :func:`audit.push_many`."""
        s = self.s
        which = np.array(sorted({k for k, _ in keys}), dtype=np.int64)
        wanted = set(keys)
        open_hi = np.array([(int(k), 0) in wanted for k in which], dtype=np.bool_)
        open_lo = np.array([(int(k), 1) in wanted for k in which], dtype=np.bool_)
        lp = self.single

        def absorb(d: FloatArray) -> None:
            seen(lp.cols, d)

        col = lp.pos[s.prim[which]]
        goal_hi, goal_lo = s.need[which, 0], -s.need[which, 1]
        self.runs += push_many(
            lp.h, len(lp.cols), col, goal_hi, goal_lo, open_hi, open_lo, absorb
        )


@dataclass
class _Certificates:
    """For each (primary, direction), a deviation support that proves it protected.

    A deviation that was feasible for one pattern stays feasible for every pattern hiding
    its support, so proofs carry over between MIP rounds. One vertex often proves many
    pairs, so supports are stored once and shared.
    """

    supports: list[IntArray] = field(default_factory=list)
    of: dict[Key, int] = field(default_factory=dict)
    users: dict[int, set[Key]] = field(default_factory=dict)

    def valid(self, key: Key, hidden: BoolArray) -> bool:
        i = self.of.get(key)
        return i is not None and bool(hidden[self.supports[i]].all())

    def record(self, keys: list[Key], support: IntArray) -> None:
        i = len(self.supports)
        self.supports.append(support)
        mine = self.users.setdefault(i, set())
        for key in keys:
            old = self.of.get(key)
            if old is not None:
                self.users[old].discard(key)
                if not self.users[old]:
                    del self.users[old]
            self.of[key] = i
            mine.add(key)

    def using(self, cell: int) -> list[Key]:
        """The pairs whose certificate moves ``cell``."""
        out: list[Key] = []
        for i, keys in self.users.items():
            sup = self.supports[i]
            at = int(np.searchsorted(sup, cell))
            if at < len(sup) and sup[at] == cell:
                out.extend(keys)
        return sorted(out)


def _proved(s: _Setup, cols: IntArray, d: FloatArray) -> tuple[list[Key], IntArray]:
    """The pairs a feasible deviation d (over ``cols``) moves far enough, and its support."""
    full = np.zeros(s.n)
    full[cols] = d
    moved = full[s.prim]
    keys = [
        (int(k), col)
        for col, sense in enumerate(SENSES)
        for k in np.flatnonzero((sense * moved >= s.need[:, col] - TOL) & (s.need[:, col] > 0))
    ]
    return keys, np.flatnonzero(np.abs(full) > MOVE)


def _separate(
    s: _Setup,
    att: _Attacker,
    x: FloatArray,
    certs: _Certificates | None,
    keys: list[Key] | None = None,
    first_only: bool = False,
) -> list[Shortfall]:
    """Each (primary, direction) the pattern x fails to protect, with the attacker's duals.

    With ``certs`` (binary x only), proofs are kept and reused; without, x may be fractional.
    ``keys`` limits the check to some pairs; ``first_only`` stops at the first shortfall.
    """
    hidden = x > 0.5
    done: set[Key] = set()

    def seen(cols: IntArray, d: FloatArray) -> None:
        proved, support = _proved(s, cols, d)
        done.update(proved)
        if certs is not None and proved:
            certs.record(proved, support)

    att.pattern(x)
    if keys is None:
        keys = [(k, col) for k in range(len(s.prim)) for col in (0, 1) if s.need[k, col] > 0]
    todo = [key for key in keys if certs is None or not certs.valid(key, hidden)]
    if len(todo) > 32:
        att.sweep(x, seen)
        todo = [key for key in todo if key not in done]
    if len(todo) > 8:
        att.push(todo, seen)
        todo = [key for key in todo if key not in done]
    out: list[Shortfall] = []
    for k, col in todo:
        if (k, col) in done:
            continue
        reach, d, y = att.reach(int(s.prim[k]), SENSES[col])
        if reach >= s.need[k, col] - TOL:
            seen(att.cols, d)
        else:
            out.append((k, col, y))
            if first_only:
                break
    return out


# ---- master problem ----------------------------------------------------------------------------


def _undominated(pool: sparse.csr_matrix, new: sparse.csr_matrix) -> sparse.csr_matrix:
    """The rows of ``new`` that no row of ``pool`` (or an earlier new row) makes redundant.

    ``c . x >= 1`` follows from ``c' . x >= 1`` when ``c' <= c`` entry by entry. Checked for
    the common covering cuts whose coefficients are all 1 (capped): such a cut implies every
    cut that has coefficient 1 on all of its cells. The attacker keeps meeting the same few
    obstacles from different patterns, so many cuts are repeats. Keeping a redundant cut
    would only cost time, never correctness.
    """
    new = sparse.csr_matrix(new)
    order = np.argsort(np.diff(new.indptr), kind="stable")  # smaller supports first
    new = sparse.csr_matrix(new[order])
    both = sparse.csr_matrix(sparse.vstack([pool, new]))
    full = both.copy()
    full.data = (full.data >= 1.0 - 1e-9).astype(np.float64)
    full.eliminate_zeros()
    size = np.diff(both.indptr)
    all_ones = np.diff(full.indptr) == size
    ones = sparse.csr_matrix(full[pool.shape[0] :])
    overlap = sparse.coo_matrix(ones @ full[all_ones].T)
    dominator = np.flatnonzero(all_ones)[overlap.col]
    mine = pool.shape[0] + overlap.row
    implied = (overlap.data >= size[dominator] - 0.5) & (dominator < mine)
    dropped = np.zeros(new.shape[0], dtype=np.bool_)
    dropped[overlap.row[implied]] = True
    return sparse.csr_matrix(new[~dropped])


class _Master:
    """The covering MIP over x (or its LP relaxation), grown by cuts ``coef . x >= 1``."""

    def __init__(self, s: _Setup, cuts: sparse.csr_matrix, relax: bool = False) -> None:
        self.s = s
        self.relax = relax
        self.h = new_highs()
        self.pool = sparse.csr_matrix((0, s.n))
        lo = s.fixed1.astype(np.float64)
        hi = np.where(s.fixed0, 0.0, 1.0)
        integrality = None if relax else np.ones(s.n, dtype=np.int32)
        none = sparse.csr_matrix((0, s.n))
        pass_lp(self.h, none, s.objective, lo, hi, np.zeros(0), np.zeros(0), integrality)
        self.h.setOptionValue("mip_rel_gap", 1e-9)
        if s.cost == "cells":
            # The count is whole and the tie-break adds less than TIE_BREAK: stopping within
            # 1 - TIE_BREAK of the bound still proves the count optimal, and lets HiGHS
            # prune as if it knew the objective were whole.
            self.gap = 0.99 - TIE_BREAK
        else:
            integral = bool(np.all(s.a == np.round(s.a)))
            self.gap = 0.5 if integral else 1e-6
        self.h.setOptionValue("mip_abs_gap", self.gap)
        # A bound proven in an earlier round holds for this one too (cuts are only added), so
        # an incumbent within the gap of it is optimal: stop there rather than prove it again.
        self.known_bound = -np.inf
        self.stopped = False
        if not relax:
            self.h.setCallback(self._interrupt, None)
            self.h.startCallback(highspy.cb.HighsCallbackType.kCallbackMipInterrupt)
        # Strong branching and the sub-MIP heuristics took most of each solve on these
        # covering problems; pseudocost branching alone does better, and the repair hands
        # the MIP a safe incumbent to start from.
        if QUIET_MIP:
            self.h.setOptionValue("mip_pscost_minreliable", 0)
            self.h.setOptionValue("mip_heuristic_effort", 0.0)
            for heuristic in ("rins", "rens", "feasibility_jump", "root_reduced_cost"):
                self.h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
        self.add(cuts)

    def add(self, cuts: sparse.csr_matrix) -> int:
        """Add the cuts no earlier cut implies; returns how many were added."""
        cuts = _undominated(self.pool, cuts)
        k = int(cuts.shape[0])
        if k == 0:
            return 0
        self.pool = sparse.csr_matrix(sparse.vstack([self.pool, cuts]))
        self.h.addRows(
            k,
            np.ones(k),
            np.full(k, np.inf),
            cuts.nnz,
            cuts.indptr[:-1].astype(np.int32),
            cuts.indices.astype(np.int32),
            cuts.data,
        )
        return k

    def start_from(self, hidden: BoolArray) -> None:
        """A safe pattern for the MIP to start from (it satisfies every cut)."""
        idx = np.arange(self.s.n, dtype=np.int32)
        self.h.setSolution(self.s.n, idx, hidden.astype(np.float64))

    def _interrupt(
        self,
        _kind: object,
        _message: str,
        out: highspy.cb.HighsCallbackOutput,
        into: highspy.cb.HighsCallbackInput,
        _user: object,
    ) -> None:
        # HiGHS keeps the flag from one run to the next: set it either way.
        stop = bool(out.mip_primal_bound <= self.known_bound + self.gap)
        self.stopped |= stop
        into.user_interrupt = stop

    def solve(self, seconds: float) -> tuple[Status, FloatArray | None, float]:
        """(status, x or None, lower bound on the objective).

        A solve stopped because its incumbent meets ``known_bound`` reports optimal.
        """
        self.h.setOptionValue("time_limit", max(seconds, 0.01))
        self.stopped = False
        self.h.run()
        status = self.h.getModelStatus()
        info = self.h.getInfo()
        if self.stopped and status == Status.kInterrupt and info.primal_solution_status == 2:
            status = Status.kOptimal
        x = None
        if info.primal_solution_status == 2:
            x = np.clip(np.asarray(self.h.getSolution().col_value), 0.0, 1.0)
        if self.relax:
            bound = float(info.objective_function_value) if status == Status.kOptimal else -np.inf
        else:
            bound = max(float(info.mip_dual_bound), self.known_bound)
        return status, x, bound


def _repair(
    s: _Setup,
    att: _Attacker,
    x: BoolArray,
    certs: _Certificates,
    short: list[Shortfall],
    deadline: float,
) -> tuple[list[sparse.csr_matrix], BoolArray | None]:
    """Cuts along a greedy repair of an unsafe pattern, and the safe pattern it ends at.

    The cuts of the pairs ``x`` leaves short are covered greedily (the free cell with the
    largest total coefficient per unit of cost, until every cut holds); the pairs still short
    give new cuts, and so on. Every cut comes from the attacker at some pattern, so all are
    valid; together they tell the MIP far more than the cuts at ``x`` alone, and the end
    pattern is a safe incumbent. Returns the cuts and the safe pattern (None if time ran out).
    """
    hidden = x.copy()
    found: list[sparse.csr_matrix] = []
    free = ~(s.fixed0 | s.fixed1)
    price = np.maximum(s.objective, 1e-9)
    passes = 0
    while short:
        passes += 1
        if passes > REPAIR_PASSES:
            return found, None
        cuts = _cuts_for(s, short)
        found.append(cuts)
        need = cuts @ hidden.astype(np.float64) < 1.0 - 1e-9
        while need.any():
            gain = np.asarray(cuts[need].sum(axis=0)).ravel()
            gain[~free | hidden] = 0.0
            j = int(np.argmax(gain / price))
            if gain[j] <= 0:
                break
            hidden[j] = True
            need &= cuts @ hidden.astype(np.float64) < 1.0 - 1e-9
        if time.perf_counter() > deadline:
            return found, None
        # Hiding more never unprotects anything: only the pairs still short need a look.
        keys = [(k, col) for k, col, _ in short]
        short = _separate(s, att, hidden.astype(np.float64), certs, keys)
    return found, hidden


def _strengthened(
    s: _Setup, att: _Attacker, x: FloatArray, keys: list[Key]
) -> sparse.csr_matrix:
    """Capped capacity cuts violated at a fractional x, for the given pairs.

    At a fractional x the attacker may reach a primary's target only through tiny fractions
    of cells with a large capacity ``M_i x_i``; the cut from its duals, once coefficients are
    capped at the right-hand side, can still be violated. One single LP per pair.
    """
    if not keys:
        return sparse.csr_matrix((0, s.n))
    att.pattern(x)
    duals = [att.reach(int(s.prim[k]), SENSES[col])[2] for k, col in keys]
    which = np.array([k for k, _ in keys], dtype=np.int64)
    sense = np.array([SENSES[col] for _, col in keys])
    cuts = capacity_cuts(s, which, sense, sparse.csr_matrix(np.vstack(duals)))[0]
    return sparse.csr_matrix(cuts[cuts @ x < 1.0 - 1e-6])


def _root(
    s: _Setup,
    att: _Attacker,
    cuts: sparse.csr_matrix,
    deadline: float,
    say: Callable[[str], None],
) -> tuple[sparse.csr_matrix, float, int]:
    """Cut the LP relaxation at its fractional optima: (cuts for the MIP, LP bound, rounds).

    Each round adds the cuts of the primaries the fractional pattern leaves short, and the
    capped cuts (see :func:`_strengthened`) of the next batch of primaries in turn; it stops
    when a full turn through all primaries finds nothing. Of the cuts found, the MIP gets the
    sparse ones and those binding at the last LP optimum; dense slack cuts slow every MIP
    solve and rarely matter.
    """
    relaxed = _Master(s, cuts, relax=True)
    first = relaxed.pool.shape[0]
    pairs = [(k, col) for k in range(len(s.prim)) for col in (0, 1) if s.need[k, col] > 0]
    bound = best = -np.inf
    rounds = cursor = quiet = stall = 0
    while time.perf_counter() < deadline and pairs:
        status, x, bound = relaxed.solve(deadline - time.perf_counter())
        rounds += 1
        if status != Status.kOptimal or x is None:
            break
        stall = 0 if bound > best + 1e-4 else stall + 1
        best = max(best, bound)
        short = _separate(s, att, x, None)
        batch = [pairs[(cursor + i) % len(pairs)] for i in range(min(ROOT_BATCH, len(pairs)))]
        if not batch:
            quiet = len(pairs)
        cursor = (cursor + len(batch)) % len(pairs)
        parts = [_strengthened(s, att, x, batch)]
        if short:
            parts.append(_cuts_for(s, short))
        new = sparse.csr_matrix(sparse.vstack(parts))
        new = sparse.csr_matrix(new[new @ x < 1.0 - 1e-6])
        say(f"LP round {rounds}: bound {bound:.3f}, {len(short)} primary directions short, "
            f"{new.shape[0]} cuts")
        quiet = quiet + len(batch) if new.shape[0] == 0 else 0
        if quiet >= len(pairs) or (stall >= STALL and not short):
            break
        if new.shape[0]:
            relaxed.add(new)
    every = sparse.csr_matrix(relaxed.pool[first:])
    if every.shape[0] == 0:
        return every, bound, rounds
    if relaxed.h.getModelStatus() == Status.kOptimal:
        dual = np.asarray(relaxed.h.getSolution().row_dual)[first:]
    else:
        dual = np.ones(every.shape[0])
    useful = (np.abs(dual) > 1e-9) | (np.diff(every.indptr) <= SPARSE)
    return sparse.csr_matrix(every[useful]), bound, rounds


# ---- heuristic ---------------------------------------------------------------------------------


class _Cover:
    """The LP relaxation of the cut model for one primary: cheapest deviations that protect it.

    Deviations are split into rises (up to M) and falls (down to zero); moving a cell that is
    already hidden is nearly free, moving a published one costs its weight per unit.
    """

    def __init__(self, s: _Setup) -> None:
        self.s = s
        self.h = new_highs()
        self.h.setOptionValue("presolve", "off")
        n, m = s.n, s.matrix.shape[0]
        both = sparse.csr_matrix(sparse.hstack([s.matrix, -s.matrix]))
        self.up_hi = np.where(s.fixed0, 0.0, s.big)
        self.down_hi = np.where(s.fixed0, 0.0, s.a)
        hi = np.concatenate([self.up_hi, self.down_hi])
        cost = np.concatenate([s.weight, s.weight])
        pass_lp(self.h, both, cost, np.zeros(2 * n), hi, np.zeros(m), np.zeros(m))

    def hide(self, cells: IntArray) -> None:
        if len(cells):
            idx = np.concatenate([cells, cells + self.s.n]).astype(np.int32)
            eps = 1e-6 * np.concatenate([self.s.weight[cells], self.s.weight[cells]])
            self.h.changeColsCost(len(idx), idx, eps)

    def solve(self, k: int, col: int) -> FloatArray | None:
        s = self.s
        p = int(s.prim[k])
        need = float(s.need[k, col])
        idx = np.array([p, p + s.n], dtype=np.int32)
        if col == 0:
            lo, hi = np.array([need, 0.0]), np.array([max(s.big[p], need), 0.0])
        else:
            lo, hi = np.array([0.0, need]), np.array([0.0, max(s.a[p], need)])
        self.h.changeColsBounds(2, idx, lo, hi)
        # From the all-slack basis (no deviation) the costs are dual feasible and only p's
        # bound is violated: a short dual simplex. The last primary's basis would carry its
        # flow along and make every solve longer than the one before.
        self.h.setBasis()
        self.h.run()
        status = self.h.getModelStatus()
        self.h.changeColsBounds(2, idx, np.zeros(2), np.array([self.up_hi[p], self.down_hi[p]]))
        if status != Status.kOptimal:
            return None
        x = np.asarray(self.h.getSolution().col_value)
        return np.asarray(x[: s.n] - x[s.n :])


def _heuristic(
    s: _Setup, att: _Attacker, start: BoolArray, certs: _Certificates, deadline: float
) -> BoolArray:
    """Add cells until every primary is protected, then publish back what is not needed."""
    hidden = start | s.fixed1
    every = np.arange(s.n)
    cover: _Cover | None = None
    for _ in range(2 * len(s.prim) + 2):
        short = _separate(s, att, hidden.astype(np.float64), certs)
        if not short:
            break
        if cover is None:
            cover = _Cover(s)
        cover.hide(np.flatnonzero(hidden))
        for k, col, _y in short:
            if certs.valid((k, col), hidden):
                continue
            d = cover.solve(k, col)
            if d is None:
                raise ValueError(
                    f"primary variable {int(s.prim[k])} cannot be protected: every cell "
                    "that could hide it must stay published"
                )
            new = np.flatnonzero((np.abs(d) > MOVE) & ~hidden)
            hidden[new] = True
            cover.hide(new)
            keys, support = _proved(s, every, d)
            certs.record(keys, support)
    _prune(s, att, hidden, certs, deadline, first=hidden & ~start)
    return hidden


def _prune(
    s: _Setup,
    att: _Attacker,
    hidden: BoolArray,
    certs: _Certificates,
    deadline: float,
    first: BoolArray,
) -> None:
    """Try publishing each secondary cell again, costliest first; keep it if still safe.

    Cells in ``first`` (those the repair added, most likely redundant) are tried first, in
    case the deadline stops the pruning early.
    """
    order = np.flatnonzero(hidden & ~s.fixed1)
    order = order[np.lexsort((-s.objective[order], ~first[order]))]
    for cell in order:
        if time.perf_counter() > deadline:
            break
        j = int(cell)
        affected = certs.using(j)
        hidden[j] = False
        if affected and _separate(s, att, hidden.astype(np.float64), certs, affected, True):
            hidden[j] = True


def _start(s: _Setup, cuts: sparse.csr_matrix, seconds: float) -> tuple[BoolArray, float]:
    """A starting pattern for the heuristic and a lower bound: the master over ``cuts``.

    Without an integer solution in time, the LP relaxation's support (rounded up) serves.
    """
    _, x, bound = _Master(s, cuts).solve(seconds)
    if x is None:
        _, x, bound = _Master(s, cuts, relax=True).solve(seconds)
        return (x > 1e-9 if x is not None else s.fixed1.copy()), bound
    return x > 0.5, bound


# ---- entry points ------------------------------------------------------------------------------


def protect(
    problem: Problem,
    primary_mask: BoolArray,
    lpl: FloatArray,
    upl: FloatArray,
    *,
    cost: Cost = "cells",
    published: BoolArray | None = None,
    hidden: BoolArray | None = None,
    method: Method = "auto",
    time_limit: float = 60.0,
    exact_limit: int = 20000,
    progress: Callable[[str], None] | None = None,
) -> Suppression:
    """Choose the secondary suppressions that protect every primary (all arrays per variable).

    ``cost="cells"`` minimises the number of secondary cells (smaller cells preferred among
    equals); ``"value"`` their total value plus one per cell. ``published`` variables must
    stay published and ``hidden`` ones hidden (an earlier release). ``method="auto"`` is
    exact up to ``exact_limit`` variables, the heuristic above. The returned pattern has
    passed the audit; if the exact search runs out of ``time_limit`` seconds the best safe
    pattern found is returned with ``proven_optimal=False``. ``time_limit`` bounds the search;
    making the last pattern safe and the closing audit always finish (about a second past
    the limit on 150 x 12 x quarters), because an unsafe pattern is never returned. Raises
    ValueError when no
    pattern can protect the primaries (cells that must stay published block every way).
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if method not in ("auto", "optimal", "heuristic"):
        raise ValueError(f"method must be 'auto', 'optimal' or 'heuristic', not {method!r}")
    s = _setup(problem, primary_mask, lpl, upl, cost, published, hidden)
    certs = _Certificates()
    att = _Attacker(s)
    cuts = relation_cuts(s)
    exact = method == "optimal" or (method == "auto" and s.n <= exact_limit)
    iterations = 0
    proven = False
    bound = -np.inf
    pattern: BoolArray | None = None
    incumbent: BoolArray | None = None
    best: BoolArray | None = None  # the cheapest safe pattern met on the way
    if exact:
        master = _Master(s, cuts)
        rooted = False
        while (left := time_limit - (time.perf_counter() - t0)) > 0:
            mip_started = time.perf_counter()
            master.known_bound = bound
            status, xv, mip_bound = master.solve(left)
            mip_seconds = time.perf_counter() - mip_started
            iterations += 1
            if status == Status.kInfeasible:
                raise ValueError(
                    "no suppression pattern protects every primary cell while keeping the "
                    "required cells published"
                )
            bound = max(bound, mip_bound)
            if xv is None:
                break
            x = xv > 0.5
            short = _separate(s, att, x.astype(np.float64), certs)
            say(
                f"MIP round {iterations}: {int((x & ~s.primary).sum())} secondary cells, "
                f"{len(short)} primary directions short, {att.runs} attacker LPs so far"
            )
            if not short:
                pattern, proven = x, status == Status.kOptimal
                break
            if status != Status.kOptimal:
                incumbent = x if incumbent is None else incumbent
                break
            incumbent = x
            if REPAIR > 0:
                budget = REPAIR * max(time_limit - (time.perf_counter() - t0), 0.0)
                if MIPTIED:
                    budget = min(budget, mip_seconds)
                found, safe = _repair(s, att, x, certs, short, time.perf_counter() + budget)
            else:
                found, safe = [_cuts_for(s, short)], None
            for cuts_found in (found if REPAIR_CUTS else found[:1]):
                master.add(cuts_found)
            if safe is not None and (best is None or s.report(safe) < s.report(best)):
                best = safe
            if best is not None:
                if s.report(best) <= s.bound_to_cost(bound):  # as cheap as the bound: optimal
                    pattern, proven = best, True
                    break
                if START:
                    master.start_from(best)
            if not rooted:  # the relation cuts were not enough: strengthen the relaxation
                rooted = True
                root_deadline = t0 + 0.6 * time_limit
                more, lp_bound, rounds = _root(s, att, cuts, root_deadline, say)
                iterations += rounds
                bound = max(bound, lp_bound)
                if more.shape[0]:
                    master.add(more)
    from_master = pattern is not None
    if pattern is None:
        if incumbent is None:
            budget = max(0.05 * time_limit, min(0.25 * time_limit, 10.0))
            incumbent, start_bound = _start(s, cuts, budget)
            bound = max(bound, start_bound)
        say("completing with the heuristic" if exact else "heuristic")
        deadline = max(t0 + time_limit, time.perf_counter() + 1.0)
        pattern = _heuristic(s, att, incumbent, certs, deadline)
        if best is not None and s.report(best) < s.report(pattern):
            pattern = best
    final = pattern | s.fixed1
    findings = check(problem, final, s.primary, np.asarray(lpl), np.asarray(upl))
    if findings:
        raise CarehavenError(
            f"internal error: the chosen suppression pattern leaves {len(findings)} primary "
            f"cells unprotected (first: {findings[0]})"
        )
    total = s.report(final)
    return Suppression(
        suppressed=final,
        primary=s.primary.copy(),
        method="optimal" if from_master else "heuristic",
        proven_optimal=proven,
        lower_bound=total if proven else min(total, s.bound_to_cost(bound)),
        cost=total,
        seconds=time.perf_counter() - t0,
        iterations=iterations,
    )


def greedy_baseline(problem: Problem, primary_mask: BoolArray) -> BoolArray:
    """The analyst's rule of thumb, for benchmarks only (it can be unsafe; nothing audits it).

    While some relation has exactly one hidden cell, hide the smallest other non-zero cell of
    that relation (the smallest other cell if all are zero).
    """
    a = problem.values
    matrix = sparse.csr_matrix(problem.matrix)
    pattern = abs(matrix).astype(np.float64)
    hidden = np.asarray(primary_mask, dtype=np.bool_).copy()
    while True:
        lonely = np.flatnonzero(pattern @ hidden.astype(np.float64) == 1)
        if len(lonely) == 0:
            return hidden
        for r in lonely:
            cells = matrix.indices[matrix.indptr[r] : matrix.indptr[r + 1]]
            if hidden[cells].sum() != 1:
                continue
            others = cells[~hidden[cells]]
            nonzero = others[a[others] > 0]
            pool = nonzero if len(nonzero) else others
            hidden[pool[np.argmin(a[pool])]] = True
