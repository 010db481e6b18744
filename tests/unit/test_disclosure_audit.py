"""The intruder's intervals and the safety check, on hand-computed tables (PSE-5, OUT-4)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from carehaven.disclosure.audit import check, intervals, primary_vars
from carehaven.disclosure.policy import Policy, Primary, known_interval_of_rounded, primary, rounded
from carehaven.disclosure.table import TOTAL, Hierarchy, Problem, Table


def grid(values: list[list[float]]) -> Table:
    rows = [f"r{i}" for i in range(len(values))]
    cols = [f"c{j}" for j in range(len(values[0]))]
    leaves = {(r, c): float(v) for r, line in zip(rows, values, strict=True)
              for c, v in zip(cols, line, strict=True)}
    return Table.from_leaves("t", [Hierarchy.flat("row", rows), Hierarchy.flat("col", cols)],
                             leaves)


def hide(t: Table, *keys: tuple[str, str]) -> np.ndarray:
    mask = np.zeros(len(t), dtype=bool)
    for k in keys:
        mask[t.index[k]] = True
    return mask


# 2x2 interior [[5, 7], [3, 9]]: rows total 12 and 12, columns 8 and 16, grand total 24.
TWO = [[5, 7], [3, 9]]


def test_one_hidden_interior_cell_is_recovered_exactly():
    """PSE-5: a cell hidden alone in its row is its row total minus the rest."""
    t = grid(TWO)
    lo, hi = intervals(Problem.single(t), hide(t, ("r0", "c0")))
    assert lo.tolist() == [5.0] and hi.tolist() == [5.0]


def test_hidden_rectangle_gives_the_textbook_interval():
    """PSE-5: hiding all four interior cells leaves one degree of freedom t in [0, 8]:
    (r0,c0) = t, (r0,c1) = 12 - t, (r1,c0) = 8 - t, (r1,c1) = 4 + t."""
    t = grid(TWO)
    mask = hide(t, ("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1"))
    lo, hi = intervals(Problem.single(t), mask)
    order = [t.keys[i] for i in np.flatnonzero(mask)]  # increasing variable order
    got = dict(zip(order, zip(lo.tolist(), hi.tolist(), strict=True), strict=True))
    assert got == {("r0", "c0"): (0, 8), ("r0", "c1"): (4, 12),
                   ("r1", "c0"): (0, 8), ("r1", "c1"): (4, 12)}


def test_unbounded_maximum_is_infinite():
    """PSE-5: hiding a cell with its row, column and grand totals leaves it unbounded above."""
    t = grid(TWO)
    mask = hide(t, ("r0", "c0"), ("r0", TOTAL), (TOTAL, "c0"), (TOTAL, TOTAL))
    cells = np.array([t.index[("r0", "c0")], t.index[("r0", TOTAL)]])
    lo, hi = intervals(Problem.single(t), mask, cells=cells)
    assert lo.tolist() == [0.0, 7.0]  # the row total is at least the published 7
    assert np.isinf(hi).all()


# A "dumbbell": a hidden rectangle in rows r0-r1 x columns c0-c1, a hidden rectangle in
# row r2 / Total x column c2 / Total, and the cell (r1, c2) joining them. Every relation
# holds none or at least two hidden cells, yet (r1, c2) is disclosed: adding rows r0, r1
# and subtracting columns c0, c1 cancels every other hidden cell.
DUMBBELL = [[20, 30, 25], [15, 40, 4], [10, 45, 50]]
DUMBBELL_HIDDEN = [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1"), ("r1", "c2"),
                   ("r2", "c2"), ("r2", TOTAL), (TOTAL, "c2"), (TOTAL, TOTAL)]


def test_two_hidden_cells_per_relation_can_still_disclose():
    """PSE-5: the naive "two per row and column" rule passes, the intruder still wins.

    By hand: (r1,c2) = r0Total + r1Total - Totalc0 - Totalc1 - (r0,c2) + (r2,c0) + (r2,c1)
    = 75 + 59 - 45 - 115 - 25 + 10 + 45 = 4.
    """
    t = grid(DUMBBELL)
    problem = Problem.single(t)
    mask = hide(t, *DUMBBELL_HIDDEN)
    counts = np.abs(problem.matrix) @ mask.astype(float)
    assert set(counts.tolist()) <= {0.0, 2.0, 3.0}
    cell = t.index[("r1", "c2")]
    lo, hi = intervals(problem, mask, cells=np.array([cell]))
    assert (lo[0], hi[0]) == (4.0, 4.0)
    prim = primary(t, Policy(threshold=10))
    pmask, lpl, upl = primary_vars(problem, [prim])
    assert pmask[cell]
    findings = check(problem, mask, pmask, lpl, upl)
    assert [f.var for f in findings] == [cell]
    f = findings[0]
    assert (f.lo, f.hi, f.need_lo, f.need_hi) == (4.0, 4.0, 1.0, 7.0)
    assert "narrowed" in str(f)


def test_rectangle_safety_depends_on_values():
    """PSE-5: a rectangle protects (r0,c0)=4 upwards only as far as (r0,c1)=2 can fall."""
    t = grid([[4, 2, 30], [15, 11, 40], [20, 25, 35]])
    problem = Problem.single(t)
    pmask, lpl, upl = primary_vars(problem, [primary(t, Policy(threshold=10))])
    mask = pmask | hide(t, ("r1", "c0"), ("r1", "c1"))
    findings = check(problem, mask, pmask, lpl, upl)
    assert [t.keys[f.var] for f in findings] == [("r0", "c0")]
    assert findings[0].hi == 6.0  # (r0,c0) + (r0,c1) = 36 - 30


def test_unsuppressed_primary_is_a_finding():
    t = grid(TWO)
    problem = Problem.single(t)
    pmask = hide(t, ("r1", "c0"))
    lpl = np.where(pmask, 3.0, 0.0)
    upl = np.where(pmask, 3.0, 0.0)
    findings = check(problem, np.zeros(len(t), bool), pmask, lpl, upl)
    assert len(findings) == 1 and findings[0].lo == findings[0].hi == 3.0


def test_safe_pattern_has_no_findings():
    t = grid([[3, 20, 30], [25, 40, 35], [30, 45, 50]])
    problem = Problem.single(t)
    pmask, lpl, upl = primary_vars(problem, [primary(t, Policy(threshold=10))])
    mask = pmask | hide(t, ("r0", "c1"), ("r1", "c0"), ("r1", "c1"))
    assert check(problem, mask, pmask, lpl, upl) == []


def test_rounded_published_cells_widen_the_interval_as_brute_force_says():
    """OUT-4: with the other cells published rounded to 5, the intruder's LP interval for a
    hidden cell matches enumeration of every integer table that rounds to the publication."""
    t = grid([[2, 7], [3, 9]])
    problem = Problem.single(t)
    base = 5
    mask = hide(t, ("r0", "c0"))
    published = rounded(t.values, base)
    plo, phi = known_interval_of_rounded(published, base)
    known_lo = np.where(mask, np.nan, plo)
    known_hi = np.where(mask, np.nan, phi)
    cells = np.arange(len(t))
    lo, hi = intervals(problem, mask, known_lo=known_lo, known_hi=known_hi, cells=cells)
    # Every integer table with interior cells 0..24: its cells are a linear map of the leaves.
    leaves = [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1")]
    basis = np.stack([Table.from_leaves("x", t.dims, {k: 1.0}).values for k in leaves])
    combos = np.array(list(itertools.product(range(25), repeat=4)), dtype=float)
    tables = combos @ basis
    shown = ~mask
    fits = np.all(rounded(tables[:, shown], base) == published[shown], axis=1)
    best_lo, best_hi = tables[fits].min(axis=0), tables[fits].max(axis=0)
    assert np.isfinite(best_lo).all()
    np.testing.assert_allclose(lo, best_lo, atol=1e-6)
    np.testing.assert_allclose(hi, best_hi, atol=1e-6)
    assert hi[t.index[("r0", "c0")]] > 2  # rounding alone gives room


def test_inconsistent_publication_is_refused():
    t = grid(TWO)
    t.values[t.index[("r0", "c1")]] += 1  # the published row no longer adds up
    problem = Problem.single(t)
    with pytest.raises(ValueError, match="cannot all be true"):
        intervals(problem, hide(t, ("r1", "c1")))
    t2 = grid(TWO)
    mask = hide(t2, ("r0", "c0"))
    known_lo = np.full(len(t2), np.nan)
    known_lo[t2.index[("r0", "c0")]] = 100.0  # more than its row total allows
    with pytest.raises(ValueError, match="no table"):
        intervals(Problem.single(t2), mask, known_lo=known_lo)


def test_primary_vars_merges_shared_cells_with_the_larger_levels():
    """PSE-5: a margin shared by two tables is one variable, protected by the stricter need."""
    las = Hierarchy.flat("la", ["a", "b"])
    t1 = Table.from_leaves("by_cat", [las, Hierarchy.flat("cat", ["x", "y"])],
                           {("a", "x"): 2, ("a", "y"): 3, ("b", "x"): 10, ("b", "y"): 12})
    t2 = Table.from_leaves("by_age", [las, Hierarchy.flat("age", ["u", "o"])],
                           {("a", "u"): 1, ("a", "o"): 4, ("b", "u"): 11, ("b", "o"): 11})
    shared = [((0, t1.index[(la, TOTAL)]), (1, t2.index[(la, TOTAL)])) for la in las.order]
    problem = Problem([t1, t2], shared=shared)
    p1 = Primary(np.zeros(len(t1), bool), [None] * len(t1), np.zeros(len(t1)), np.zeros(len(t1)))
    p2 = Primary(np.zeros(len(t2), bool), [None] * len(t2), np.zeros(len(t2)), np.zeros(len(t2)))
    i1, i2 = t1.index[("a", TOTAL)], t2.index[("a", TOTAL)]
    p1.mask[i1], p1.lpl[i1], p1.upl[i1] = True, 2.0, 3.0
    p2.mask[i2], p2.lpl[i2], p2.upl[i2] = True, 4.0, 1.0
    mask, lpl, upl = primary_vars(problem, [p1, p2])
    v = problem.var(0, i1)
    assert v == problem.var(1, i2)
    assert mask.sum() == 1 and mask[v]
    assert (lpl[v], upl[v]) == (4.0, 3.0)
    with pytest.raises(ValueError):
        primary_vars(problem, [p1])
