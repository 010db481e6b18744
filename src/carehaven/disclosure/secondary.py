"""Secondary suppression: hide the fewest (or smallest) further cells that protect every primary.

Exact method: the model of Fischetti and Salazar (Management Science 1999; Operations
Research 2001), solved by cut generation with the HiGHS MIP solver. A binary ``x_i`` says
variable i is hidden. For a pattern x, the intruder's room to move primary p is

    max / min d_p  s.t.  A d = 0,  -a_i x_i <= d_i <= M_i x_i,

where ``d`` is the deviation of an alternative table from the true values ``a`` (hidden cells
may fall to zero or rise by up to ``M_i``; published cells stay put). p is protected when the
maximum reaches ``upl_p`` and the minimum ``-lpl_p``. By Lagrangian duality, for ANY row
multipliers ``y`` and ``c = -e_p`` (up) or ``+e_p`` (down), with ``z = c - A'y``,

    max d_p  <=  sum_i x_i (a_i z_i+ + M_i z_i-)     (and likewise for -min d_p),

because ``c.d = z.d`` whenever ``A d = 0`` and each ``z_i d_i`` is bounded on its interval.
So ``sum_i (a_i z_i+ + M_i z_i-) x_i >= upl_p`` is valid for every safe pattern: the
capacity cut. Taking y from the attacker LP's optimal duals at a pattern x* that falls short
makes the right-hand side of the inequality equal the attacker's optimum (strong duality), so
the cut cuts x* off. Hidden-for-sure cells move to the right-hand side and each coefficient is
capped at it (valid for binaries), so the size of ``M`` does not weaken the cuts.

``M_i`` is the largest value in the problem plus the largest protection level. A finite M can
only shrink the intruder's room, so a pattern the model accepts is safe for an intruder with
no upper bounds; in two-dimensional (network) tables an alternative table never needs a cell
to move by more than the protection level, so nothing is lost there either.

The master starts from one cut per primary, relation and direction (``y`` on that relation
alone: the other cells of the relation must absorb the primary's move), and alternates MIP
solves with attacker LPs until no primary falls short. A heuristic (cover LPs per unsafe
primary, then pruning) serves above ``exact_limit`` variables and completes the incumbent when
time runs out. Every returned pattern is audited by :func:`carehaven.disclosure.audit.check`.
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

#: A deviation below this counts as "the cell does not move".
MOVE = 1e-7
#: Total weight of the "prefer smaller cells" tie-break in the cell-count objective (< 1).
TIE_BREAK = 0.1


@dataclass
class Suppression:
    """A suppression pattern over problem variables and how it was found."""

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
    big: FloatArray  # M_i
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

    def report(self, hidden: BoolArray, primary: BoolArray) -> float:
        return float(self.weight[hidden & ~primary].sum())


SENSES = (1.0, -1.0)  # column 0 of need: push up; column 1: push down


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
    data = np.minimum(coef, rhs[rows]) / np.maximum(rhs[rows], TOL)
    data = np.where(free & (data > 1e-9), data, 0.0)
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


def relation_cuts(s: _Setup) -> tuple[sparse.csr_matrix, FloatArray]:
    """One cut per primary, relation and direction: the relation's other cells must absorb it.

    With ``y`` on relation r alone, scaled so ``z_p = 0``, a cell on p's side of the relation
    must fall (capacity a_i) and a cell on the other side must rise (capacity M_i).
    """
    csc = sparse.csc_matrix(s.matrix)
    start = csc.indptr[s.prim]
    count = csc.indptr[s.prim + 1] - start
    total = int(count.sum())
    offset = np.repeat(start - np.cumsum(count) + count, count)
    entry = np.arange(total) + offset
    rel = csc.indices[entry]
    coef = csc.data[entry]
    which = np.repeat(np.arange(len(s.prim)), count)
    parts: list[sparse.csr_matrix] = []
    rhs: list[FloatArray] = []
    for col, sense in enumerate(SENSES):
        use = s.need[which, col] > 0
        m = int(use.sum())
        y = sparse.csr_matrix(
            (-sense / coef[use], (np.arange(m), rel[use])), shape=(m, s.matrix.shape[0])
        )
        cut, b = capacity_cuts(s, which[use], np.full(m, sense), y)
        parts.append(cut)
        rhs.append(b)
    return sparse.csr_matrix(sparse.vstack(parts)), np.concatenate(rhs)


# ---- the intruder on deviations ----------------------------------------------------------------


class _Attacker:
    """max s*d_p over the deviations a pattern allows, as one warm-started HiGHS LP.

    The LP holds only the columns of a superset of the hidden cells (published cells cannot
    move) and the relations touching them; a smaller pattern inside that superset is a
    change of bounds, a pattern outside it a rebuild.
    """

    def __init__(self, s: _Setup) -> None:
        self.s = s
        self.h = new_highs()
        self.cols: IntArray = np.zeros(0, dtype=np.int64)
        self.rows: IntArray = np.zeros(0, dtype=np.int64)
        self.pos = np.full(s.n, -1, dtype=np.int64)
        self.lo = np.zeros(0)
        self.hi = np.zeros(0)
        self.runs = 0

    def pattern(self, hidden: BoolArray) -> None:
        inside = self.pos[hidden] >= 0
        if not inside.all() or len(self.cols) > 2 * int(hidden.sum()) + 64:
            self._build(hidden)
            return
        on = hidden[self.cols]
        lo = np.where(on, -self.s.a[self.cols], 0.0)
        hi = np.where(on, self.s.big[self.cols], 0.0)
        moved = np.flatnonzero((lo != self.lo) | (hi != self.hi)).astype(np.int32)
        if len(moved):
            self.h.changeColsBounds(len(moved), moved, lo[moved], hi[moved])
            self.lo, self.hi = lo, hi

    def _build(self, hidden: BoolArray) -> None:
        s = self.s
        self.cols = np.flatnonzero(hidden)
        self.pos = np.full(s.n, -1, dtype=np.int64)
        self.pos[self.cols] = np.arange(len(self.cols))
        sub = sparse.csr_matrix(s.matrix[:, self.cols])
        self.rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        self.lo, self.hi = -s.a[self.cols], s.big[self.cols].copy()
        zeros_m = np.zeros(len(self.rows))
        self.h = new_highs()
        self.h.setOptionValue("presolve", "off")
        # Only costs (and a few bounds) change between runs, so the last basis stays primal
        # feasible: primal simplex warm-starts where dual simplex would start over.
        self.h.setOptionValue("simplex_strategy", 4)
        k = len(self.cols)
        pass_lp(self.h, sub[self.rows], np.zeros(k), self.lo, self.hi, zeros_m, zeros_m)

    def reach(self, p: int, sense: float) -> tuple[float, FloatArray, FloatArray]:
        """(how far p moves in direction sense, deviations of self.cols, duals of all rows)."""
        idx = np.array([self.pos[p]], dtype=np.int32)
        self.h.changeColsCost(1, idx, np.array([-sense]))
        self.h.run()
        self.runs += 1
        status = self.h.getModelStatus()
        self.h.changeColsCost(1, idx, np.zeros(1))
        if status != Status.kOptimal:
            raise CarehavenError(
                "the attacker linear programme did not solve (HiGHS: "
                + self.h.modelStatusToString(status)
                + ")"
            )
        sol = self.h.getSolution()
        d = np.asarray(sol.col_value)
        y = np.zeros(self.s.matrix.shape[0])
        y[self.rows] = np.asarray(sol.row_dual)
        return sense * float(d[idx[0]]), d, y

    def push(self, keys: list[tuple[int, int]], certs: _Certificates) -> None:
        """Batch-certify many (primary, direction) pairs; see :func:`audit.push_many`."""
        s = self.s
        which = np.array(sorted({k for k, _ in keys}), dtype=np.int64)
        col = self.pos[s.prim[which]]
        wanted = set(keys)
        open_hi = np.array([(int(k), 0) in wanted for k in which], dtype=np.bool_)
        open_lo = np.array([(int(k), 1) in wanted for k in which], dtype=np.bool_)
        goal_hi = s.need[which, 0]
        goal_lo = -s.need[which, 1]

        def absorb(x: FloatArray) -> None:
            certs.absorb(s, self.cols, x)

        self.runs += push_many(
            self.h, len(self.cols), col, goal_hi, goal_lo, open_hi, open_lo, absorb
        )


@dataclass
class _Certificates:
    """For each (primary, direction), a deviation support that proves it protected.

    One vertex often proves many pairs, so supports are stored once and shared.
    """

    supports: list[IntArray] = field(default_factory=list)
    of: dict[tuple[int, int], int] = field(default_factory=dict)
    users: dict[int, set[tuple[int, int]]] = field(default_factory=dict)

    def valid(self, key: tuple[int, int], hidden: BoolArray) -> bool:
        i = self.of.get(key)
        return i is not None and bool(hidden[self.supports[i]].all())

    def absorb(self, s: _Setup, cols: IntArray, d: FloatArray) -> None:
        """A feasible deviation d (over ``cols``) proves every primary it moves far enough."""
        full = np.zeros(s.n)
        full[cols] = d
        moved = full[s.prim]
        keys = [
            (int(k), col)
            for col, sense in enumerate(SENSES)
            for k in np.flatnonzero((sense * moved >= s.need[:, col] - TOL) & (s.need[:, col] > 0))
        ]
        if not keys:
            return
        i = len(self.supports)
        self.supports.append(np.flatnonzero(np.abs(full) > MOVE))
        mine = self.users.setdefault(i, set())
        for key in keys:
            old = self.of.get(key)
            if old is not None:
                self.users[old].discard(key)
                if not self.users[old]:
                    del self.users[old]
            self.of[key] = i
            mine.add(key)

    def using(self, cell: int) -> list[tuple[int, int]]:
        """The pairs whose certificate moves ``cell``."""
        out: list[tuple[int, int]] = []
        for i, keys in self.users.items():
            sup = self.supports[i]
            at = int(np.searchsorted(sup, cell))
            if at < len(sup) and sup[at] == cell:
                out.extend(keys)
        return sorted(out)


def _shortfalls(
    s: _Setup, att: _Attacker, hidden: BoolArray, certs: _Certificates
) -> list[tuple[int, int, FloatArray]]:
    """Each (primary index, direction, row duals) the pattern fails to protect."""
    att.pattern(hidden)
    todo = [
        (k, col)
        for k in range(len(s.prim))
        for col in (0, 1)
        if s.need[k, col] > 0 and not certs.valid((k, col), hidden)
    ]
    if len(todo) > 8:
        att.push(todo, certs)
    out: list[tuple[int, int, FloatArray]] = []
    for k, col in todo:
        if certs.valid((k, col), hidden):
            continue
        reach, d, y = att.reach(int(s.prim[k]), SENSES[col])
        if reach >= s.need[k, col] - TOL:
            certs.absorb(s, att.cols, d)
        else:
            out.append((k, col, y))
    return out


# ---- master problem ----------------------------------------------------------------------------


class _Master:
    """The set-covering-like MIP over x, grown by cuts."""

    def __init__(self, s: _Setup, cuts: sparse.csr_matrix, relax: bool = False) -> None:
        self.s = s
        self.relax = relax
        self.h = new_highs()
        lo = s.fixed1.astype(np.float64)
        hi = np.where(s.fixed0, 0.0, 1.0)
        ones = np.ones(cuts.shape[0])
        integrality = None if relax else np.ones(s.n, dtype=np.int32)
        pass_lp(self.h, cuts, s.objective, lo, hi, ones, np.full(len(ones), np.inf), integrality)
        integral = s.cost == "cells" or bool(np.all(s.a == np.round(s.a)))
        self.h.setOptionValue("mip_rel_gap", 1e-9)
        self.h.setOptionValue("mip_abs_gap", 0.5 if integral else 1e-6)

    def add(self, cuts: sparse.csr_matrix) -> None:
        k = cuts.shape[0]
        self.h.addRows(
            k,
            np.ones(k),
            np.full(k, np.inf),
            cuts.nnz,
            cuts.indptr[:-1].astype(np.int32),
            cuts.indices.astype(np.int32),
            cuts.data,
        )

    def solve(self, seconds: float) -> tuple[Status, BoolArray | None, float]:
        """(status, pattern or None, lower bound on the objective)."""
        self.h.setOptionValue("time_limit", max(seconds, 0.01))
        self.h.run()
        status = self.h.getModelStatus()
        info = self.h.getInfo()
        x = None
        if info.primal_solution_status == 2:
            x = np.asarray(self.h.getSolution().col_value) > 0.5
        if self.relax:
            bound = float(info.objective_function_value) if status == Status.kOptimal else -np.inf
        else:
            bound = float(info.mip_dual_bound)
        return status, x, bound


def _bound_to_cost(s: _Setup, bound: float) -> float:
    """Turn a bound on the master objective into a bound on the reported cost."""
    const = float(s.weight[s.fixed1 & ~_primary_mask(s)].sum())
    if not np.isfinite(bound):
        return const
    if s.cost == "cells":
        return const + max(0.0, float(np.ceil(bound - TIE_BREAK - 1e-6)))
    return const + max(0.0, bound)


def _primary_mask(s: _Setup) -> BoolArray:
    out = np.zeros(s.n, dtype=np.bool_)
    out[s.prim] = True
    return out


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
        self.h.run()
        status = self.h.getModelStatus()
        self.h.changeColsBounds(
            2, idx, np.zeros(2), np.array([self.up_hi[p], self.down_hi[p]])
        )
        if status != Status.kOptimal:
            return None
        x = np.asarray(self.h.getSolution().col_value)
        return np.asarray(x[: s.n] - x[s.n :])


def _heuristic(
    s: _Setup,
    att: _Attacker,
    start: BoolArray,
    certs: _Certificates,
    deadline: float,
) -> BoolArray:
    """Add cells until every primary is protected, then publish back what is not needed."""
    hidden = start | s.fixed1
    every = np.arange(s.n)
    cover: _Cover | None = None
    for _ in range(len(s.prim) * 2 + 2):
        short = _shortfalls(s, att, hidden, certs)
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
            certs.absorb(s, every, d)
    _prune(s, att, hidden, certs, deadline)
    return hidden


def _prune(
    s: _Setup, att: _Attacker, hidden: BoolArray, certs: _Certificates, deadline: float
) -> None:
    """Try publishing each secondary cell again, costliest first; keep it if still safe."""
    order = np.flatnonzero(hidden & ~s.fixed1)
    order = order[np.argsort(-s.weight[order], kind="stable")]
    for cell in order:
        if time.perf_counter() > deadline:
            break
        j = int(cell)
        affected = certs.using(j)
        hidden[j] = False
        if not affected:
            continue
        att.pattern(hidden)
        if len(affected) > 8:
            att.push(affected, certs)
        for k, col in affected:
            if certs.valid((k, col), hidden):
                continue
            reach, d, _ = att.reach(int(s.prim[k]), SENSES[col])
            if reach < s.need[k, col] - TOL:
                hidden[j] = True
                break
            certs.absorb(s, att.cols, d)
    att.pattern(hidden)


def _start(s: _Setup, cuts: sparse.csr_matrix, seconds: float) -> tuple[BoolArray, float]:
    """A starting pattern for the heuristic: the master over the relation cuts alone.

    Its (dual) bound is also a valid lower bound on the cost of any safe pattern.
    """
    master = _Master(s, cuts)
    _, x, bound = master.solve(seconds)
    if x is None:
        relaxed = _Master(s, cuts, relax=True)
        _, _, bound = relaxed.solve(seconds)
        return s.fixed1.copy(), bound
    return x, bound


# ---- entry points ------------------------------------------------------------------------------


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
    lo = np.where(prim_mask, np.asarray(lpl, np.float64), 0.0)
    up = np.where(prim_mask, np.asarray(upl, np.float64), 0.0)
    need = np.stack([up, lo], axis=1)
    prim = np.flatnonzero(prim_mask & (need.max(axis=1) > 0))
    big = float(max(a.max(initial=0.0), 0.0) + need.max(initial=0.0) + 1.0)
    weight = np.ones(n) if cost == "cells" else a + 1.0
    objective = weight.copy()
    if cost == "cells":
        objective += TIE_BREAK * a / max(float(a.sum()), 1.0)
    fixed1 = prim_mask | forced
    objective[fixed1 | fixed0] = 0.0
    return _Setup(
        a=a,
        matrix=sparse.csr_matrix(problem.matrix),
        big=np.full(n, big),
        prim=prim.astype(np.int64),
        need=need[prim],
        fixed1=fixed1,
        fixed0=fixed0,
        weight=weight,
        objective=objective,
        cost=cost,
    )


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
    pattern found is returned with ``proven_optimal=False``.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    s = _setup(problem, primary_mask, lpl, upl, cost, published, hidden)
    prim_mask = np.asarray(primary_mask, dtype=np.bool_)
    if method not in ("auto", "optimal", "heuristic"):
        raise ValueError(f"method must be 'auto', 'optimal' or 'heuristic', not {method!r}")
    certs = _Certificates()
    att = _Attacker(s)
    cuts, _ = relation_cuts(s)
    exact = method == "optimal" or (method == "auto" and s.n <= exact_limit)
    iterations = 0
    proven = False
    bound = -np.inf
    pattern: BoolArray | None = None
    incumbent: BoolArray | None = None
    from_master = False
    if exact:
        master = _Master(s, cuts)
        while True:
            left = time_limit - (time.perf_counter() - t0)
            if left <= 0:
                break
            status, x, mip_bound = master.solve(left)
            iterations += 1
            if status == Status.kInfeasible:
                raise ValueError(
                    "no suppression pattern protects every primary cell while keeping the "
                    "required cells published"
                )
            bound = max(bound, mip_bound)
            if x is None:
                break
            short = _shortfalls(s, att, x, certs)
            say(
                f"iteration {iterations}: {int((x & ~prim_mask).sum())} secondary cells, "
                f"{len(short)} primary directions short, {att.runs} attacker LPs so far"
            )
            if not short:
                pattern, proven, from_master = x, status == Status.kOptimal, True
                break
            if status != Status.kOptimal:
                incumbent = x
                break
            which = np.array([k for k, _, _ in short], dtype=np.int64)
            sense = np.array([SENSES[c] for _, c, _ in short])
            y = sparse.csr_matrix(np.vstack([yy for _, _, yy in short]))
            new, _ = capacity_cuts(s, which, sense, y)
            master.add(new)
    if pattern is None:
        deadline = t0 + time_limit
        if incumbent is None:
            budget = max(0.05 * time_limit, min(0.25 * time_limit, 10.0))
            incumbent, start_bound = _start(s, cuts, budget)
            bound = max(bound, start_bound)
        say("completing with the heuristic" if exact else "heuristic")
        pattern = _heuristic(s, att, incumbent, certs, max(deadline, time.perf_counter() + 1.0))
    final = pattern | s.fixed1
    findings = check(problem, final, prim_mask, np.asarray(lpl), np.asarray(upl))
    if findings:
        raise CarehavenError(
            f"internal error: the chosen suppression pattern leaves {len(findings)} primary "
            f"cells unprotected (first: {findings[0]})"
        )
    total = s.report(final, prim_mask)
    lower = total if proven else min(total, _bound_to_cost(s, bound))
    return Suppression(
        suppressed=final,
        primary=prim_mask.copy(),
        method="optimal" if from_master else "heuristic",
        proven_optimal=proven,
        lower_bound=lower,
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
            if len(pool):
                hidden[pool[np.argmin(a[pool])]] = True
