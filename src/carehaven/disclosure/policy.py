"""Primary suppression rules and protection levels, and the rounding of published values.

A cell is *primary* when publishing it would disclose something about few people or few
units: a count between 1 and ``threshold - 1`` (zero is shown: it says nobody, and hiding it
would flag the small counts around it), a magnitude built from fewer than ``threshold``
contributors, or a magnitude dominated by its largest contributors (p% or (n,k) rule).

Hiding a primary cell is not enough: the intruder can recompute it from the margins. Each
primary therefore gets *protection levels*: the intruder, knowing every published value, the
table's additive structure and that values are non-negative, must not be able to bring the
cell's upper bound below ``value + upl`` or its lower bound above ``value - lpl``. The
secondary suppression (:mod:`carehaven.disclosure.secondary`) hides further cells until that
holds; the audit (:mod:`carehaven.disclosure.audit`) checks it. All protection-level formulas
live in :func:`threshold_levels`, :func:`p_percent_levels` and :func:`nk_levels`, so aligning
the convention with another tool (τ-Argus) is a change in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from carehaven.disclosure.table import FloatArray, Table

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Dominance:
    """A dominance rule for magnitude tables; ``p`` and ``k`` are percentages."""

    rule: Literal["p-percent", "nk"]
    p: float = 10.0
    n: int = 2
    k: float = 85.0

    def __post_init__(self) -> None:
        if self.rule not in ("p-percent", "nk"):
            raise ValueError(f"dominance rule must be 'p-percent' or 'nk', not {self.rule!r}")
        if not 0 < self.p <= 100 or not 0 < self.k <= 100:
            raise ValueError("dominance percentages p and k must lie in (0, 100]")
        if self.n < 1:
            raise ValueError("the (n,k) rule needs n of at least 1")


@dataclass(frozen=True)
class Policy:
    """What a publication hides and how well: see the module docstring.

    ``threshold``: counts 1..threshold-1 are primary (None: no threshold rule).
    ``round_base``: published values of cells that are not suppressed are rounded to this base
    (conventional rounding, halves up). ``dominance``: a rule for magnitude tables.
    ``safety_range``: percent used to derive protection levels (see :func:`threshold_levels`).
    """

    threshold: int | None = 10
    round_base: int | None = None
    dominance: Dominance | None = None
    safety_range: float = 30.0

    def __post_init__(self) -> None:
        if self.threshold is not None and self.threshold < 1:
            raise ValueError("the threshold must be a positive count")
        if self.round_base is not None and self.round_base < 1:
            raise ValueError("the rounding base must be a positive integer")
        if self.safety_range < 0:
            raise ValueError("the safety range cannot be negative")

    def describe(self) -> str:
        """One plain-English sentence per rule, for the notes published with a table."""
        out: list[str] = []
        if self.threshold is not None and self.threshold > 1:
            level = _count_level(self.threshold, self.safety_range)
            out.append(
                f"Counts from 1 to {self.threshold - 1} are suppressed (zeros are shown), as are "
                f"amounts built from fewer than {self.threshold} people or organisations."
            )
            out.append(
                "Further cells are suppressed where needed so that no suppressed count can be "
                f"worked out from the published figures to within {level} of its true value "
                f"(for amounts, to within {self.safety_range:g}%)."
            )
        dom = self.dominance
        if dom is not None and dom.rule == "p-percent":
            out.append(
                "An amount is suppressed if its second-largest contributor could use it to "
                f"estimate the largest contribution to within {dom.p:g}%."
            )
        elif dom is not None:
            out.append(
                f"An amount is suppressed if its {dom.n} largest contributions make up more "
                f"than {dom.k:g}% of it."
            )
        if self.round_base is not None and self.round_base > 1:
            out.append(
                f"Published figures are rounded to the nearest multiple of {self.round_base} "
                "(halves rounded up)."
            )
        return " ".join(out) if out else "No cells are suppressed and no figures are rounded."


@dataclass
class Primary:
    """The primary cells of one table: mask, the rule that fired, protection levels."""

    mask: BoolArray
    reason: list[str | None]
    lpl: FloatArray
    upl: FloatArray

    @property
    def count(self) -> int:
        return int(self.mask.sum())


# ---- protection levels: the one place the conventions live ---------------------------------


def _count_level(threshold: int, safety_range: float) -> int:
    return max(1, math.ceil(safety_range / 100.0 * threshold - 1e-9))


def threshold_levels(
    values: FloatArray, threshold: int, safety_range: float, *, magnitude: bool
) -> tuple[FloatArray, FloatArray]:
    """Protection levels (lpl, upl) of cells caught by the threshold rule.

    Counts: ``L = max(1, ceil(safety_range% * threshold))``; ``upl = L`` and ``lpl = min(a, L)``
    (a count cannot go below zero, so lpl = a means "the intruder cannot rule out zero").
    Magnitudes (frequency rule on contributors): ``safety_range%`` of the cell value both ways,
    the τ-Argus "frequency range" convention.
    """
    values = np.asarray(values, dtype=np.float64)
    if magnitude:
        level = safety_range / 100.0 * values
        return level.copy(), level
    big = float(_count_level(threshold, safety_range))
    return np.minimum(values, big), np.full_like(values, big)


def p_percent_levels(
    total: FloatArray, x1: FloatArray, x2: FloatArray, p: float
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """p% rule: (sensitive, lpl, upl).

    The second-largest contributor knows ``X - x1 - x2`` up to its own share; the cell is
    sensitive when that remainder is below ``p% * x1``, i.e. x1 could be estimated within p%.
    Both protection levels are ``p% * x1 - (X - x1 - x2)``, lpl clipped at X.
    """
    need = p / 100.0 * x1 - (total - x1 - x2)
    sensitive = (total > 0) & (need > 0)
    level = np.where(sensitive, need, 0.0)
    return sensitive, np.minimum(level, total), level


def nk_levels(
    total: FloatArray, top_n: FloatArray, k: float
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """(n,k) rule: (sensitive, lpl, upl) given the sum of the n largest contributions.

    Sensitive when ``top_n > k% * X``; both levels ``(100/k) * top_n - X``, lpl clipped at X
    (the smallest increase after which the n largest no longer exceed k%).
    """
    need = 100.0 / k * top_n - total
    sensitive = (total > 0) & (top_n > k / 100.0 * total)
    level = np.where(sensitive, need, 0.0)
    return sensitive, np.minimum(level, total), level


# ---- primary suppression ---------------------------------------------------------------------


def primary(table: Table, policy: Policy) -> Primary:
    """Apply the policy's primary rules to every cell of one table (margins included)."""
    values = np.asarray(table.values, dtype=np.float64)
    size = len(values)
    magnitude = table.measure != "count"
    mask = np.zeros(size, dtype=np.bool_)
    lpl = np.zeros(size, dtype=np.float64)
    upl = np.zeros(size, dtype=np.float64)
    reason: list[str | None] = [None] * size

    def mark(hit: BoolArray, lo: FloatArray, hi: FloatArray, why: str) -> None:
        for i in np.flatnonzero(hit & ~mask):
            reason[int(i)] = why
        mask[hit] = True
        lpl[hit] = np.maximum(lpl[hit], lo[hit])
        upl[hit] = np.maximum(upl[hit], hi[hit])

    if policy.threshold is not None:
        if magnitude:
            if table.contributors is None:
                raise ValueError(
                    f"table {table.name} is a magnitude table without contributor counts, so "
                    "the threshold rule cannot be applied"
                )
            basis = np.asarray(table.contributors, dtype=np.float64)
        else:
            basis = values
        # A magnitude of zero needs no protection, whatever its contributor count.
        hit = (basis > 0) & (basis < policy.threshold) & (values > 0)
        lo, hi = threshold_levels(
            values, policy.threshold, policy.safety_range, magnitude=magnitude
        )
        mark(hit, lo, hi, "threshold")

    dom = policy.dominance
    if dom is not None and magnitude:
        if table.top is None:
            raise ValueError(
                f"table {table.name} has no largest contributions, so the {dom.rule} "
                "dominance rule cannot be applied"
            )
        top = np.asarray(table.top, dtype=np.float64)
        if dom.rule == "p-percent":
            if top.shape[1] < 2:
                raise ValueError("the p% rule needs the two largest contributions of each cell")
            sens, lo, hi = p_percent_levels(values, top[:, 0], top[:, 1], dom.p)
        else:
            if top.shape[1] < dom.n:
                raise ValueError(
                    f"the (n,k) rule with n={dom.n} needs the {dom.n} largest contributions "
                    f"of each cell; table {table.name} holds {top.shape[1]}"
                )
            sens, lo, hi = nk_levels(values, top[:, : dom.n].sum(axis=1), dom.k)
        mark(sens, lo, hi, dom.rule)
    return Primary(mask, reason, lpl, upl)


# ---- rounding ----------------------------------------------------------------------------------


def rounded(values: npt.ArrayLike, base: int) -> FloatArray:
    """Conventional rounding to the nearest multiple of ``base``, halves up (non-negative)."""
    if base < 1:
        raise ValueError("the rounding base must be a positive integer")
    v = np.asarray(values, dtype=np.float64)
    return np.floor(v / base + 0.5) * base


def known_interval_of_rounded(
    published: npt.ArrayLike, base: int
) -> tuple[FloatArray, FloatArray]:
    """What an integer value published rounded (halves up) to ``base`` can be: [lo, hi].

    ``v`` rounds to ``r`` exactly when ``r - b/2 <= v < r + b/2``; for integers that is
    ``[r - floor(b/2), r + ceil(b/2) - 1]``, clipped at zero for counts.
    """
    if base < 1:
        raise ValueError("the rounding base must be a positive integer")
    r = np.asarray(published, dtype=np.float64)
    lo = np.maximum(r - base // 2, 0.0)
    hi = r + (base - base // 2) - 1
    return lo, hi
