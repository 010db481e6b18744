"""Secondary suppression: safe, optimal against brute force, cuts valid (PSE-5, OUT-4)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehaven.disclosure.audit import check, primary_vars
from carehaven.disclosure.policy import Policy, primary
from carehaven.disclosure.secondary import (
    _Attacker,
    _Certificates,
    _heuristic,
    _setup,
    capacity_cuts,
    greedy_baseline,
    protect,
    relation_cuts,
)
from carehaven.disclosure.table import TOTAL, Hierarchy, Problem, Table


def grid(values: list[list[float]], name: str = "t") -> Table:
    rows = [f"r{i}" for i in range(len(values))]
    cols = [f"c{j}" for j in range(len(values[0]))]
    leaves = {(r, c): float(v) for r, line in zip(rows, values, strict=True)
              for c, v in zip(cols, line, strict=True)}
    return Table.from_leaves(name, [Hierarchy.flat("row", rows), Hierarchy.flat("col", cols)],
                             leaves)


def setup(t: Table, policy: Policy | None = None):
    problem = Problem.single(t)
    mask, lpl, upl = primary_vars(problem, [primary(t, policy or Policy(threshold=10))])
    return problem, mask, lpl, upl


def safe(problem, hidden, mask, lpl, upl) -> bool:
    return check(problem, hidden, mask, lpl, upl) == []


def brute_force(problem, mask, lpl, upl, weight) -> float:
    """The cheapest safe pattern by enumeration (relations with a lone hidden primary are
    skipped before the audit, which they would fail anyway)."""
    free = np.flatnonzero(~mask)
    rel = np.abs(problem.matrix).toarray() > 0
    prim_rel = rel[rel[:, mask].any(axis=1)]
    best = np.inf
    for size in range(len(free) + 1):
        for combo in itertools.combinations(free, size):
            cost = float(weight[list(combo)].sum())
            if cost >= best:
                continue
            hidden = mask.copy()
            hidden[list(combo)] = True
            if np.any(prim_rel[:, hidden].sum(axis=1) == 1):
                continue
            if safe(problem, hidden, mask, lpl, upl):
                best = cost
    return best


SMALL = [[3, 15, 22], [18, 7, 30], [25, 40, 12]]


def test_protect_matches_brute_force_on_a_3x3_table():
    """PSE-5: the exact method's cell count equals the minimum found by enumeration."""
    t = grid(SMALL)
    problem, mask, lpl, upl = setup(t)
    res = protect(problem, mask, lpl, upl)
    assert res.proven_optimal and res.method == "optimal"
    assert safe(problem, res.suppressed, mask, lpl, upl)
    assert res.cost == res.n_secondary == brute_force(problem, mask, lpl, upl, np.ones(len(t)))
    assert res.lower_bound == res.cost


def test_protect_by_value_matches_brute_force():
    """PSE-5: cost="value" minimises the hidden total (plus one per cell)."""
    t = grid([[4, 15, 22], [18, 30, 9]])
    problem, mask, lpl, upl = setup(t)
    res = protect(problem, mask, lpl, upl, cost="value")
    weight = problem.values + 1.0
    assert res.proven_optimal
    assert safe(problem, res.suppressed, mask, lpl, upl)
    assert res.cost == pytest.approx(brute_force(problem, mask, lpl, upl, weight))


def test_capacity_cut_is_valid_and_cuts_off_the_unsafe_pattern():
    """PSE-5: the cut from the attacker's duals is violated by the pattern it came from,
    its left-hand side there equals the attacker's optimum (strong duality), and every
    pattern that does protect the primary in that direction satisfies it."""
    t = grid([[4, 15, 22], [18, 30, 25]])
    problem, mask, lpl, upl = setup(t)
    s = _setup(problem, mask, lpl, upl, "cells", None, None)
    att = _Attacker(s)
    start = mask.copy()
    start[t.index[("r1", "c0")]] = True  # with (r0,c0) alone it is still recoverable
    att.pattern(start.astype(float))
    free = np.flatnonzero(~mask)
    checked = 0
    for k in range(len(s.prim)):
        for col, sense in enumerate((1.0, -1.0)):
            reach, _, y = att.reach(int(s.prim[k]), sense)
            need = s.need[k, col]
            assert reach < need  # the pattern falls short
            cut, _ = capacity_cuts(s, np.array([k]), np.array([sense]), np.atleast_2d(y))
            assert cut.shape[0] == 1
            assert (cut @ start.astype(float))[0] < 1 - 1e-6  # cut off
            # unnormalised, fixed cells included: lhs(x*) = sum (a z+ + M z-) x* = reach
            z = -sense * np.eye(s.n)[s.prim[k]] - s.matrix.T @ y
            full = np.where(z > 0, s.a * z, -s.big * z)
            assert full @ start == pytest.approx(reach, abs=1e-6)
            for bits in itertools.product((0, 1), repeat=len(free)):
                x = mask.copy()
                x[free] = np.array(bits, dtype=bool)
                att.pattern(x.astype(float))
                if att.reach(int(s.prim[k]), sense)[0] >= need - 1e-6:
                    assert (cut @ x.astype(float))[0] >= 1 - 1e-6
                    checked += 1
            att.pattern(start.astype(float))
    assert checked > 0


def test_relation_cuts_hold_for_every_safe_pattern():
    """PSE-5: the starting cuts (each relation must absorb a primary's move) are valid."""
    t = grid([[4, 15, 22], [18, 30, 9]])
    problem, mask, lpl, upl = setup(t)
    s = _setup(problem, mask, lpl, upl, "cells", None, None)
    cuts = relation_cuts(s)
    free = np.flatnonzero(~mask)
    for bits in itertools.product((0, 1), repeat=len(free)):
        x = mask.copy()
        x[free] = np.array(bits, dtype=bool)
        if safe(problem, x, mask, lpl, upl):
            assert np.all(cuts @ x.astype(float) >= 1 - 1e-6)


def test_greedy_baseline_can_be_unsafe_where_protect_is_not():
    """PSE-5: two small primaries in one row, each relation holding two hidden cells, yet the
    intruder knows they sum to 36 - 30 = 6, so the 4 cannot rise by 3."""
    t = grid([[4, 2, 30], [15, 11, 40], [20, 25, 35]])
    problem, mask, lpl, upl = setup(t)
    greedy = greedy_baseline(problem, mask)
    counts = np.abs(problem.matrix) @ greedy.astype(float)
    assert not np.any(counts == 1)  # its own stopping rule holds
    findings = check(problem, greedy, mask, lpl, upl)
    assert [t.keys[f.var] for f in findings] == [("r0", "c0")]
    res = protect(problem, mask, lpl, upl)
    assert safe(problem, res.suppressed, mask, lpl, upl)


def la_by_category(seed: int, n_la: int = 6) -> Table:
    rng = np.random.default_rng(seed)
    group = {f"la{i}": f"reg{i % 2}" for i in range(n_la)}
    cats = ["x", "y", "z"]
    leaves = {(la, c): float(rng.poisson(rng.choice([4, 25]))) for la in group for c in cats}
    dims = [Hierarchy.grouped("la", group), Hierarchy.flat("cat", cats)]
    return Table.from_leaves("hier", dims, leaves)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hierarchical_table_is_protected(seed):
    """PSE-5: authority -> region -> Total by category, protected and audited."""
    t = la_by_category(seed)
    problem, mask, lpl, upl = setup(t)
    assert mask.any()
    res = protect(problem, mask, lpl, upl)
    assert res.proven_optimal
    assert safe(problem, res.suppressed, mask, lpl, upl)
    heur = protect(problem, mask, lpl, upl, method="heuristic")
    assert safe(problem, heur.suppressed, mask, lpl, upl)
    assert heur.cost >= res.cost
    assert heur.lower_bound <= res.cost


def test_linked_tables_sharing_a_margin_are_protected_together():
    """PSE-5: two tables with the same authority totals; the shared margin is one variable,
    so the intruder combining both tables is beaten too."""
    las = Hierarchy.flat("la", ["a", "b", "c"])
    t1 = Table.from_leaves("by_cat", [las, Hierarchy.flat("cat", ["x", "y"])], {
        ("a", "x"): 3, ("a", "y"): 20, ("b", "x"): 14, ("b", "y"): 18,
        ("c", "x"): 25, ("c", "y"): 30})
    t2 = Table.from_leaves("by_age", [las, Hierarchy.flat("age", ["u", "o"])], {
        ("a", "u"): 19, ("a", "o"): 4, ("b", "u"): 16, ("b", "o"): 16,
        ("c", "u"): 27, ("c", "o"): 28})
    shared = [((0, t1.index[(la, TOTAL)]), (1, t2.index[(la, TOTAL)])) for la in las.order]
    problem = Problem([t1, t2], shared=shared)
    assert problem.n == len(t1) + len(t2) - len(las.order)
    prims = [primary(t, Policy(threshold=10)) for t in (t1, t2)]
    mask, lpl, upl = primary_vars(problem, prims)
    res = protect(problem, mask, lpl, upl)
    assert res.proven_optimal
    assert safe(problem, res.suppressed, mask, lpl, upl)
    # each table on its own is safe too (a weaker intruder)
    for i, t in enumerate((t1, t2)):
        alone = Problem.single(t)
        m, lo, up = primary_vars(alone, [prims[i]])
        hidden = np.array([res.suppressed[problem.var(i, c)] for c in range(len(t))])
        assert safe(alone, hidden, m, lo, up)


@pytest.mark.parametrize("seed", [0, 1])
def test_three_dimensional_table_is_protected(seed):
    """PSE-5: authority x category x quarter (with year and all totals) is not a network; the
    exact method still returns an audited pattern the heuristic cannot beat."""
    rng = np.random.default_rng(seed)
    dims = [Hierarchy.flat("la", ["a", "b", "c"]), Hierarchy.flat("cat", ["x", "y"]),
            Hierarchy.flat("quarter", ["q1", "q2", "q3"])]
    leaves = {key: float(rng.poisson(rng.choice([3, 20])))
              for key in itertools.product(*(d.leaves for d in dims))}
    t = Table.from_leaves("cube", dims, leaves)
    problem, mask, lpl, upl = setup(t)
    assert mask.any()
    res = protect(problem, mask, lpl, upl)
    assert res.proven_optimal
    assert safe(problem, res.suppressed, mask, lpl, upl)
    heur = protect(problem, mask, lpl, upl, method="heuristic")
    assert safe(problem, heur.suppressed, mask, lpl, upl)
    assert heur.cost >= res.cost


def test_published_and_hidden_cells_are_honoured():
    """PSE-5, OUT-4: cells published (or suppressed) in an earlier release stay so."""
    t = grid(SMALL)
    problem, mask, lpl, upl = setup(t)
    free = protect(problem, mask, lpl, upl)
    keep = np.flatnonzero(free.suppressed & ~mask)[0]
    published = np.zeros(len(t), bool)
    published[keep] = True
    res = protect(problem, mask, lpl, upl, published=published)
    assert not res.suppressed[keep]
    assert safe(problem, res.suppressed, mask, lpl, upl)
    assert res.cost >= free.cost
    extra = np.flatnonzero(~free.suppressed)[0]
    forced = np.zeros(len(t), bool)
    forced[extra] = True
    res = protect(problem, mask, lpl, upl, hidden=forced)
    assert res.suppressed[extra]
    assert res.cost >= free.cost  # the forced cell is counted
    assert safe(problem, res.suppressed, mask, lpl, upl)


def test_impossible_or_contradictory_requests_are_refused():
    t = grid(SMALL)
    problem, mask, lpl, upl = setup(t)
    with pytest.raises(ValueError, match="primary cells must be suppressed"):
        protect(problem, mask, lpl, upl, published=mask)
    with pytest.raises(ValueError, match="both"):
        both = ~mask
        protect(problem, mask, lpl, upl, published=both, hidden=both)
    with pytest.raises(ValueError, match=r"cannot be protected|no suppression pattern"):
        protect(problem, mask, lpl, upl, published=~mask)
    with pytest.raises(ValueError, match="method"):
        protect(problem, mask, lpl, upl, method="magic")  # type: ignore[arg-type]


def test_time_limit_returns_a_safe_heuristic_pattern():
    """PSE-5: out of time, the best safe pattern is returned, not proven optimal."""
    t = la_by_category(1, n_la=10)
    problem, mask, lpl, upl = setup(t)
    res = protect(problem, mask, lpl, upl, time_limit=0.0)
    assert not res.proven_optimal and res.method == "heuristic"
    assert safe(problem, res.suppressed, mask, lpl, upl)
    assert res.lower_bound <= res.cost
    assert res.n_primary == int(mask.sum())
    assert res.n_secondary == int((res.suppressed & ~mask).sum())


small_tables = st.lists(
    st.lists(st.sampled_from([0, 1, 2, 3, 5, 8, 12, 15, 20, 30]), min_size=4, max_size=4),
    min_size=3, max_size=3,
)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(small_tables, st.sampled_from(["cells", "value"]))
def test_heuristic_is_safe_and_never_beats_the_optimum(values, cost):
    """PSE-5: on random small tables, the heuristic (from scratch, and as protect runs it)
    passes the audit and costs at least the proven optimum."""
    t = grid(values)
    problem, mask, lpl, upl = setup(t)
    exact = protect(problem, mask, lpl, upl, cost=cost)
    assert exact.proven_optimal
    assert safe(problem, exact.suppressed, mask, lpl, upl)
    heur = protect(problem, mask, lpl, upl, cost=cost, method="heuristic")
    assert safe(problem, heur.suppressed, mask, lpl, upl)
    assert heur.cost >= exact.cost - 1e-9
    assert heur.lower_bound <= exact.cost + 1e-9
    s = _setup(problem, mask, lpl, upl, cost, None, None)
    scratch = _heuristic(s, _Attacker(s), s.fixed1.copy(), _Certificates(), time.perf_counter() + 5)
    assert safe(problem, scratch, mask, lpl, upl)
    assert s.report(scratch) >= exact.cost - 1e-9


def synthetic(n_la: int = 150, n_cat: int = 12, seed: int = 3) -> Table:
    rng = np.random.default_rng(seed)
    las = [f"LA{i:03d}" for i in range(n_la)]
    cats = [f"C{j:02d}" for j in range(n_cat)]
    size = rng.lognormal(5.6, 0.8, n_la)
    share = rng.dirichlet(np.ones(n_cat) * 3.0)
    leaves = {(la, c): float(rng.poisson(size[i] * share[j] * 1.5))
              for i, la in enumerate(las) for j, c in enumerate(cats)}
    return Table.from_leaves("big", [Hierarchy.flat("la", las), Hierarchy.flat("cat", cats)],
                             leaves)


def test_150_authorities_by_12_categories_is_solved_optimally_and_fast():
    """PSE-5: the benchmark shape (1,963 cells, about 200 primaries) is proven optimal."""
    t = synthetic()
    problem, mask, lpl, upl = setup(t)
    assert len(t) == 1963 and 100 <= mask.sum() <= 400
    res = protect(problem, mask, lpl, upl)
    assert res.proven_optimal
    assert safe(problem, res.suppressed, mask, lpl, upl)
    assert res.seconds < 10
