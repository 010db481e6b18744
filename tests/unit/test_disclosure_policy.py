"""Primary suppression rules, protection levels and rounding (PSE-5, OUT-4)."""

from __future__ import annotations

import numpy as np
import pytest

from carehaven.disclosure.policy import (
    Dominance,
    Policy,
    known_interval_of_rounded,
    nk_levels,
    p_percent_levels,
    primary,
    rounded,
    threshold_levels,
)
from carehaven.disclosure.table import Hierarchy, Table


def grid(values: list[list[float]]) -> Table:
    rows = [f"r{i}" for i in range(len(values))]
    cols = [f"c{j}" for j in range(len(values[0]))]
    leaves = {(r, c): float(v) for r, line in zip(rows, values, strict=True)
              for c, v in zip(cols, line, strict=True)}
    return Table.from_leaves("t", [Hierarchy.flat("row", rows), Hierarchy.flat("col", cols)],
                             leaves)


def amounts(contributions: dict[tuple[str, str], list[float]]) -> Table:
    rows = sorted({r for r, _ in contributions})
    cols = sorted({c for _, c in contributions})
    return Table.from_leaves(
        "money",
        [Hierarchy.flat("row", rows), Hierarchy.flat("col", cols)],
        {k: float(sum(v)) for k, v in contributions.items()},
        leaf_contributions=contributions,
        measure="amount",
    )


def test_threshold_marks_small_counts_but_shows_zero():
    """PSE-5: counts 1..threshold-1 are primary, zero and threshold itself are not."""
    t = grid([[0, 1, 5], [9, 10, 12]])
    prim = primary(t, Policy(threshold=10))
    hit = {t.keys[i] for i in np.flatnonzero(prim.mask)}
    # margins count too: row r0 totals 0 + 1 + 5 = 6 and column c0 totals 0 + 9 = 9
    assert hit == {("r0", "c1"), ("r0", "c2"), ("r1", "c0"), ("r0", "Total"), ("Total", "c0")}
    assert prim.reason[t.index[("r0", "c0")]] is None
    assert all(prim.reason[i] == "threshold" for i in np.flatnonzero(prim.mask))


def test_threshold_protection_levels_by_hand():
    """PSE-5: L = max(1, ceil(30% of 10)) = 3; upl = L, lpl = min(value, L)."""
    t = grid([[0, 1, 5], [9, 10, 12]])
    prim = primary(t, Policy(threshold=10, safety_range=30))
    one, five = t.index[("r0", "c1")], t.index[("r0", "c2")]
    assert (prim.lpl[one], prim.upl[one]) == (1.0, 3.0)
    assert (prim.lpl[five], prim.upl[five]) == (3.0, 3.0)
    assert prim.lpl[~prim.mask].sum() == 0 and prim.upl[~prim.mask].sum() == 0
    lo, hi = threshold_levels(np.array([2.0]), 5, 25.0, magnitude=False)
    assert (lo[0], hi[0]) == (2.0, 2.0)  # ceil(1.25) = 2
    lo, hi = threshold_levels(np.array([4.0]), 10, 0.0, magnitude=False)
    assert (lo[0], hi[0]) == (1.0, 1.0)  # never below 1


def test_no_threshold_means_no_primaries():
    t = grid([[1, 2], [3, 4]])
    assert primary(t, Policy(threshold=None)).count == 0


def test_p_percent_rule_by_hand():
    """PSE-5: 60+35+5: the runner-up estimates 60 to within 5 < 10% of 60, so protect by 1."""
    t = amounts({("a", "x"): [60, 35, 5], ("a", "y"): [50, 30, 20]})
    prim = primary(t, Policy(threshold=None, dominance=Dominance("p-percent", p=10)))
    x, y = t.index[("a", "x")], t.index[("a", "y")]
    assert prim.mask[x] and prim.reason[x] == "p-percent"
    assert prim.upl[x] == pytest.approx(1.0) and prim.lpl[x] == pytest.approx(1.0)
    assert not prim.mask[y]  # 20 left over is more than 10% of 50
    assert not prim.mask[t.index[("a", "Total")]]  # 200 - 60 - 50 = 90 >= 6


def test_p_percent_single_contributor_and_clipping():
    sens, lpl, upl = p_percent_levels(np.array([70.0, 10.0]), np.array([70.0, 9.0]),
                                      np.array([0.0, 1.0]), 10.0)
    assert sens.tolist() == [True, True]
    assert upl.tolist() == pytest.approx([7.0, 0.9])
    assert lpl.tolist() == pytest.approx([7.0, 0.9])
    sens, lpl, upl = p_percent_levels(np.array([5.0]), np.array([5.0]), np.array([0.0]), 200.0)
    assert upl[0] == pytest.approx(10.0) and lpl[0] == pytest.approx(5.0)  # lpl clipped at X


def test_nk_rule_by_hand():
    """PSE-5: (2, 85%): 60+35 = 95 > 85 of 100; protection (100/85)*95 - 100 = 11.76."""
    t = amounts({("a", "x"): [60, 35, 5], ("a", "y"): [50, 30, 20]})
    prim = primary(t, Policy(threshold=None, dominance=Dominance("nk", n=2, k=85)))
    x, y = t.index[("a", "x")], t.index[("a", "y")]
    assert prim.mask[x] and prim.reason[x] == "nk"
    assert prim.upl[x] == pytest.approx(100 / 85 * 95 - 100)
    assert not prim.mask[y]  # 80 of 100
    sens, _, _ = nk_levels(np.array([100.0]), np.array([85.0]), 85.0)
    assert not sens[0]  # exactly k% is not "more than"


def test_frequency_rule_on_magnitudes_uses_contributors():
    """PSE-5: a magnitude from 2 contributors (threshold 3) is primary, 30% of its value."""
    t = amounts({("a", "x"): [60, 35, 5], ("b", "x"): [40, 10]})
    pol = Policy(threshold=3, dominance=Dominance("p-percent", p=10))
    prim = primary(t, pol)
    b = t.index[("b", "x")]
    assert prim.reason[b] == "threshold"  # also p%-sensitive; the first rule names it
    assert prim.upl[b] == pytest.approx(15.0)  # max(30% of 50, p% level 4)
    assert not prim.mask[t.index[("Total", "Total")]]


def test_dominance_needs_contributions():
    t = grid([[1, 2], [3, 4]])
    t.measure = "amount"
    with pytest.raises(ValueError, match="contributor"):
        primary(t, Policy(threshold=3))
    with pytest.raises(ValueError, match="largest contributions"):
        primary(t, Policy(threshold=None, dominance=Dominance("nk")))


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        Dominance("p-percent", p=0)
    with pytest.raises(ValueError):
        Dominance("median")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Policy(threshold=0)
    with pytest.raises(ValueError):
        Policy(round_base=0)


def test_rounding_halves_up():
    """OUT-4: conventional rounding to base 5 and 10, halves up."""
    got = rounded([0, 2, 2.5, 3, 7, 7.5, 8, 12], 5)
    assert got.tolist() == [0, 0, 5, 5, 5, 10, 10, 10]
    assert rounded([4, 5, 14, 15], 10).tolist() == [0, 10, 10, 20]


@pytest.mark.parametrize("base", range(1, 13))
def test_known_interval_of_rounded_is_exactly_the_preimage(base):
    """OUT-4: every integer rounds into its interval, and nothing outside it does."""
    values = np.arange(0, 120)
    r = rounded(values, base)
    lo, hi = known_interval_of_rounded(r, base)
    assert np.all((lo <= values) & (values <= hi))
    for pub in np.unique(r):
        a, b = known_interval_of_rounded(np.array([pub]), base)
        members = values[r == pub]
        assert (a[0], b[0]) == (members.min(), members.max()) or pub + base > values.max()
        if a[0] > 0:
            assert rounded([a[0] - 1], base)[0] != pub
        assert rounded([b[0] + 1], base)[0] != pub


def test_known_interval_examples():
    lo, hi = known_interval_of_rounded([0, 5, 10], 5)
    assert lo.tolist() == [0, 3, 8] and hi.tolist() == [2, 7, 12]
    lo, hi = known_interval_of_rounded([10], 10)
    assert (lo[0], hi[0]) == (5, 14)


def test_describe_says_each_rule_in_a_sentence():
    """OUT-4: the published note names every rule in plain English."""
    text = Policy(threshold=10, round_base=5, dominance=Dominance("p-percent", p=10)).describe()
    assert "1 to 9" in text and "zeros are shown" in text
    assert "within 3" in text
    assert "10%" in text
    assert "multiple of 5" in text
    assert text.count(".") >= 4
    nk = Policy(threshold=None, dominance=Dominance("nk", n=2, k=85)).describe()
    assert "2 largest" in nk and "85%" in nk
    assert "No cells" in Policy(threshold=None).describe()
