"""The intruder: how tightly can each suppressed cell be pinned down from what is published?

The intruder knows every published value, the additive relations ``A x = 0`` between the
cells and that cells are non-negative. Each suppressed cell is an unknown in ``[0, inf)``;
each published cell is a constant (or, when published rounded, an unknown confined to the
interval its rounded value allows). For every cell of interest the intruder solves two
linear programmes, minimising and maximising that cell over all tables consistent with the
publication; the result is the cell's feasibility interval. A primary cell is safe when
that interval still reaches ``value - lpl`` below and ``value + upl`` above.

The LPs share one HiGHS model (only the relations touching an unknown, published values
moved to the right-hand side); between cells only the objective changes, so the simplex
warm-starts from the previous basis. A vertex that already sits on a cell's own bound settles
that side of the cell's interval without another LP. :func:`check` only needs to know whether
each primary can reach its targets, so it first solves a few LPs that push many primaries at
once (:func:`push_many`): any feasible vertex reaching a target proves that side safe. Exact
LPs run only for what is left, and give the intervals reported in findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt
from scipy import sparse

from carehaven.disclosure.policy import Primary
from carehaven.disclosure.table import FloatArray, IntArray, Problem

Status = highspy.HighsModelStatus
BoolArray = npt.NDArray[np.bool_]

#: Slack on protection comparisons and on "the vertex sits on its bound".
TOL = 1e-6


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance."""
    h: highspy.Highs = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    return h


def pass_lp(
    h: highspy.Highs,
    matrix: sparse.csr_matrix,
    cost: FloatArray,
    col_lo: FloatArray,
    col_hi: FloatArray,
    row_lo: FloatArray,
    row_hi: FloatArray,
    integrality: npt.NDArray[np.int32] | None = None,
) -> None:
    """Pass ``min cost.x, row_lo <= matrix x <= row_hi, col_lo <= x <= col_hi`` to ``h``."""
    m = sparse.csr_matrix(matrix)
    lp = highspy.HighsLp()
    lp.num_col_ = m.shape[1]
    lp.num_row_ = m.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lo, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_hi, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lo, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_hi, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = m.indptr.astype(np.int32)
    lp.a_matrix_.index_ = m.indices.astype(np.int32)
    lp.a_matrix_.value_ = m.data.astype(np.float64)
    if integrality is not None:
        lp.integrality_ = [highspy.HighsVarType(int(t)) for t in integrality]
    h.passModel(lp)


def push_many(
    h: highspy.Highs,
    k: int,
    col: IntArray,
    goal_hi: FloatArray,
    goal_lo: FloatArray,
    open_hi: BoolArray,
    open_lo: BoolArray,
    on_point: Callable[[FloatArray], None],
) -> int:
    """Certify many targets at once: column ``col[i]`` reaching ``goal_hi[i]`` (or ``goal_lo``).

    One LP per round pushes every open target in one direction together (up first; targets
    open both ways alternate), and any vertex proves every target it happens to reach.
    ``open_hi``/``open_lo`` are cleared in place for the targets proved; ``on_point`` sees each
    vertex. Stops when a round proves little, leaving the rest to exact single LPs. The
    model in ``h`` (k columns, zero costs) must be bounded for these objectives. Returns the
    number of LPs run.
    """
    runs = 0
    everything = np.arange(k, dtype=np.int32)
    for rnd in range(64):
        n_open = int(open_hi.sum() + open_lo.sum())
        if n_open == 0:
            break
        up = open_hi & ~(open_lo & (rnd % 2 == 1))
        down = open_lo & ~up
        cost = np.zeros(k)
        scale_hi = np.maximum(np.abs(goal_hi), 1.0)
        scale_lo = np.maximum(np.abs(goal_lo), 1.0)
        np.add.at(cost, col[up], -1.0 / scale_hi[up])
        np.add.at(cost, col[down], 1.0 / scale_lo[down])
        h.changeColsCost(k, everything, cost)
        h.run()
        runs += 1
        if h.getModelStatus() != Status.kOptimal:
            break
        x = np.asarray(h.getSolution().col_value)
        on_point(x)
        hit_hi = open_hi & (x[col] >= goal_hi - TOL)
        hit_lo = open_lo & (x[col] <= goal_lo + TOL)
        open_hi &= ~hit_hi
        open_lo &= ~hit_lo
        if int(hit_hi.sum() + hit_lo.sum()) < max(5, 0.05 * n_open):
            break
    h.changeColsCost(k, everything, np.zeros(k))
    return runs


class _Intruder:
    """The intruder's LP for one publication: unknowns, the relations that touch them."""

    def __init__(
        self,
        problem: Problem,
        hidden: BoolArray,
        known_lo: FloatArray | None,
        known_hi: FloatArray | None,
    ) -> None:
        values = problem.values
        n = problem.n
        if hidden.shape != (n,):
            raise ValueError(
                f"suppressed must hold one flag per variable ({n}), not {hidden.shape}"
            )
        lo = np.where(hidden, 0.0, values)
        hi = np.where(hidden, np.inf, values)
        if known_lo is not None:
            lo = np.where(np.isnan(known_lo), lo, known_lo)
        if known_hi is not None:
            hi = np.where(np.isnan(known_hi), hi, known_hi)
        if np.any(lo > hi + TOL):
            raise ValueError("a known lower bound exceeds the matching known upper bound")
        self.lo, self.hi = lo, hi
        unknown = hi - lo > 1e-9
        self.unknown = unknown
        cols = np.flatnonzero(unknown)
        self.position = np.full(n, -1, dtype=np.int64)
        self.position[cols] = np.arange(len(cols))
        a = sparse.csr_matrix(problem.matrix)
        constant = np.where(unknown, 0.0, lo)
        rhs = -(a @ constant)
        sub = sparse.csr_matrix(a[:, cols])
        touched = np.diff(sub.indptr) > 0
        scale = 1.0 + abs(a) @ np.abs(constant)
        bad = ~touched & (np.abs(rhs) > TOL * scale)
        if bad.any():
            raise ValueError(
                f"the published values break {int(bad.sum())} of the table's additive "
                "relations, so they cannot all be true"
            )
        self.col_lo, self.col_hi = lo[cols], hi[cols]
        self.h = new_highs()
        self.h.setOptionValue("presolve", "off")
        # Only costs change between runs, so primal simplex warm-starts from the last basis.
        self.h.setOptionValue("simplex_strategy", 4)
        b = rhs[touched]
        pass_lp(self.h, sub[touched], np.zeros(len(cols)), self.col_lo, self.col_hi, b, b)
        self.h.run()
        if self.h.getModelStatus() != Status.kOptimal:
            raise ValueError(
                "the published values and known bounds admit no table consistent with the "
                "additive relations (HiGHS: "
                + self.h.modelStatusToString(self.h.getModelStatus())
                + ")"
            )
        x = np.asarray(self.h.getSolution().col_value)
        # The smallest and largest value of each unknown seen at any feasible vertex so far.
        self.low_seen = x.copy()
        self.high_seen = x.copy()

    def extreme(self, var: int, sign: float) -> float:
        """min (sign=+1) or max (sign=-1) of a variable; inf for an unbounded maximum."""
        j = int(self.position[var])
        if j < 0:
            return float(self.lo[var])
        if sign > 0 and self.low_seen[j] <= self.col_lo[j] + TOL:
            return float(self.col_lo[j])
        if sign < 0 and self.high_seen[j] >= self.col_hi[j] - TOL:
            return float(self.col_hi[j])
        idx = np.array([j], dtype=np.int32)
        self.h.changeColsCost(1, idx, np.array([sign]))
        self.h.run()
        status = self.h.getModelStatus()
        self.h.changeColsCost(1, idx, np.zeros(1))
        if status == Status.kOptimal:
            x = np.asarray(self.h.getSolution().col_value)
            np.minimum(self.low_seen, x, out=self.low_seen)
            np.maximum(self.high_seen, x, out=self.high_seen)
            return float(x[j])
        if sign < 0 and status in (Status.kUnbounded, Status.kUnboundedOrInfeasible):
            self.high_seen[j] = np.inf  # feasibility was established when building
            return float(np.inf)
        raise ValueError(
            "the intruder's linear programme failed (HiGHS: "
            + self.h.modelStatusToString(status)
            + ")"
        )

    def push(self, cells: IntArray, goal_hi: FloatArray, goal_lo: FloatArray) -> None:
        """Batch-certify ``cells`` reaching their goals, to spare most exact LPs."""
        j = self.position[cells]
        live = j >= 0
        j, goal_hi, goal_lo = j[live], goal_hi[live], goal_lo[live]
        open_hi = self.high_seen[j] < goal_hi - TOL
        open_lo = self.low_seen[j] > goal_lo + TOL
        if not (open_hi.any() or open_lo.any()):
            return
        # A finite cap keeps the pushes bounded; any point under it is feasible without it.
        finite = np.concatenate([np.abs(self.lo), goal_hi, np.abs(self.hi[np.isfinite(self.hi)])])
        cap = 2.0 * float(finite.max(initial=0.0)) + 1.0
        capped = np.flatnonzero(self.col_hi > cap).astype(np.int32)
        if len(capped):
            self.h.changeColsBounds(
                len(capped), capped, self.col_lo[capped], np.full(len(capped), cap)
            )

        def seen(x: FloatArray) -> None:
            np.minimum(self.low_seen, x, out=self.low_seen)
            np.maximum(self.high_seen, x, out=self.high_seen)

        push_many(self.h, len(self.col_lo), j, goal_hi, goal_lo, open_hi, open_lo, seen)
        if len(capped):
            self.h.changeColsBounds(
                len(capped), capped, self.col_lo[capped], self.col_hi[capped]
            )

    def reaches(self, var: int, sign: float, target: float) -> bool:
        """Whether the variable can go as low (sign=+1) or high (sign=-1) as target."""
        j = int(self.position[var])
        if j < 0:
            return bool(sign * (self.lo[var] - target) <= TOL)
        seen = self.low_seen[j] if sign > 0 else self.high_seen[j]
        if sign * (seen - target) <= TOL:
            return True
        return sign * (self.extreme(var, sign) - target) <= TOL


def intervals(
    problem: Problem,
    suppressed: BoolArray,
    *,
    known_lo: FloatArray | None = None,
    known_hi: FloatArray | None = None,
    cells: IntArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The intruder's interval [lo, hi] for each suppressed variable, or for ``cells``.

    ``suppressed`` is a bool per problem variable. ``known_lo``/``known_hi`` (arrays over the
    variables, NaN for "default") say what the intruder knows of each variable: by default a
    published variable is exactly its value and a suppressed one lies in ``[0, inf)``. A
    published variable with ``known_lo < known_hi`` (say, published rounded) is an unknown too.

    Returns two arrays aligned with ``cells`` when given, otherwise with the suppressed
    variables in increasing variable order (``np.flatnonzero(suppressed)``). An unbounded
    maximum is ``inf``. Raises ValueError when the published values contradict the relations.
    """
    hidden = np.asarray(suppressed, dtype=np.bool_)
    intruder = _Intruder(problem, hidden, known_lo, known_hi)
    targets = np.flatnonzero(hidden) if cells is None else np.asarray(cells, dtype=np.int64)
    out_lo = np.array([intruder.extreme(int(v), 1.0) for v in targets], dtype=np.float64)
    out_hi = np.array([intruder.extreme(int(v), -1.0) for v in targets], dtype=np.float64)
    return out_lo, out_hi


@dataclass
class Finding:
    """A primary variable the intruder can pin down too tightly."""

    var: int
    value: float
    lo: float
    hi: float
    need_lo: float
    need_hi: float

    def __str__(self) -> str:
        return (
            f"variable {self.var} (value {self.value:g}) can be narrowed to "
            f"[{self.lo:g}, {self.hi:g}]; protection needs [{self.need_lo:g}, {self.need_hi:g}]"
        )


def primary_vars(
    problem: Problem, primaries: list[Primary]
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """Map each table's :class:`Primary` onto problem variables (one per table, in order).

    Where shared cells merge, the variable is primary if any copy is, with the larger levels.
    """
    if len(primaries) != len(problem.tables):
        raise ValueError(f"{len(primaries)} primary results for {len(problem.tables)} tables")
    mask = np.zeros(problem.n, dtype=np.bool_)
    lpl = np.zeros(problem.n, dtype=np.float64)
    upl = np.zeros(problem.n, dtype=np.float64)
    for t, prim in enumerate(primaries):
        var = np.array([problem.var(t, c) for c in range(len(problem.tables[t]))], dtype=np.int64)
        if len(prim.mask) != len(var):
            raise ValueError(f"table {t}: {len(prim.mask)} primary flags for {len(var)} cells")
        np.logical_or.at(mask, var, prim.mask)
        np.maximum.at(lpl, var, np.where(prim.mask, prim.lpl, 0.0))
        np.maximum.at(upl, var, np.where(prim.mask, prim.upl, 0.0))
    return mask, lpl, upl


def check(
    problem: Problem,
    suppressed: BoolArray,
    primary_mask: BoolArray,
    lpl: FloatArray,
    upl: FloatArray,
    *,
    known_lo: FloatArray | None = None,
    known_hi: FloatArray | None = None,
) -> list[Finding]:
    """Every primary variable the intruder can narrow below its protection (empty = safe).

    All arguments are over problem variables. A primary that is not suppressed at all is a
    finding with ``lo == hi == value``.
    """
    values = problem.values
    hidden = np.asarray(suppressed, dtype=np.bool_)
    prim = np.asarray(primary_mask, dtype=np.bool_)
    findings: list[Finding] = []
    shown = np.flatnonzero(prim & ~hidden)
    for var in shown:
        val = float(values[var])
        findings.append(Finding(int(var), val, val, val, val - float(lpl[var]),
                                val + float(upl[var])))
    cells = np.flatnonzero(prim & hidden)
    if len(cells) == 0:
        return findings
    intruder = _Intruder(problem, hidden, known_lo, known_hi)
    # Cells cannot go below zero, so the lower protection asked for is at most the value.
    need_lo = values - np.minimum(np.asarray(lpl, dtype=np.float64), np.maximum(values, 0.0))
    need_hi = values + np.asarray(upl, dtype=np.float64)
    intruder.push(cells, need_hi[cells], need_lo[cells])
    for cell in cells:
        v = int(cell)
        val = float(values[v])
        # Any feasible vertex reaching the target settles a side; exact LPs only on failure.
        if intruder.reaches(v, -1.0, need_hi[v]) and intruder.reaches(v, 1.0, need_lo[v]):
            continue
        lo, hi = intruder.extreme(v, 1.0), intruder.extreme(v, -1.0)
        findings.append(Finding(v, val, lo, hi, float(need_lo[v]), float(need_hi[v])))
    findings.sort(key=lambda f: f.var)
    return findings
