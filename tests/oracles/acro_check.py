"""SACRO's acro as an oracle for carehaven's threshold rule on two-dimensional count tables.

acro checks outputs a researcher makes from microdata, so the table's counts are expanded back
into one record per unit (two categorical columns whose categories list every code, so empty
rows and columns stay in the table) and tabulated with ``ACRO.crosstab(..., margins=True)``.
acro then reports, per cell of the table with its margins, which checks the cell fails, in the
``outcome`` frame and in ``sdc["cells"]`` of the recorded output. The threshold rule is
``MinimumThresholdCheck``: a cell fails when its count is below ``safe_threshold`` (default 10,
from acro's ``default.yaml``). Zero counts are below any threshold, so acro's threshold check
flags them too, and with ``zeros_are_disclosive: True`` (the default) they also fail
``PresenceOfZeroCheck``; carehaven shows zeros (its rule is ``0 < count < threshold``). With
``mitigation="suppress"`` the returned table has every failing cell (threshold or zero) set to
NaN.

The threshold is set on the session after construction: ``ACRO(config=...)`` only loads a YAML
file that sits next to acro's own module, but the session's ``config`` dict is the very dict
its checks read (``session.sdc_checks.risk_appetite``), so assigning ``safe_threshold`` and
``zeros_are_disclosive`` there takes effect for every later table. acro writes files only when
a session is finalised; the calls here still run in a temporary working directory.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass

import pandas as pd  # type: ignore[import-untyped]

Cell = tuple[str, str]
MARGIN = "All"
TOTAL = "Total"


@dataclass
class AcroCells:
    """Cells of a two-dimensional table (margins named ``Total``) by acro's verdict."""

    threshold: set[Cell]  # fail MinimumThresholdCheck
    zeros: set[Cell]  # fail PresenceOfZeroCheck (empty when zeros are not disclosive)
    suppressed: set[Cell]  # NaN in acro's suppressed table
    status: str  # acro's overall status of the output ("fail", "review", "pass")


def _microdata(counts: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    rows = [str(r) for r in counts.index]
    cols = [str(c) for c in counts.columns]
    if len(set(rows)) != len(rows) or len(set(cols)) != len(cols):
        raise ValueError("row and column codes must be unique")
    if MARGIN in rows or MARGIN in cols:
        raise ValueError(f"{MARGIN!r} is acro's margin name; it cannot be a code")
    values = counts.to_numpy()
    if (values < 0).any() or (values != values.round()).any():
        raise ValueError("counts must be non-negative integers")
    r_codes: list[str] = []
    c_codes: list[str] = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            k = int(values[i, j])
            r_codes += [r] * k
            c_codes += [c] * k
    row = pd.Series(pd.Categorical(r_codes, categories=rows), name="row")
    col = pd.Series(pd.Categorical(c_codes, categories=cols), name="col")
    return row, col


def _label(x: object) -> str:
    s = str(x)
    return TOTAL if s == MARGIN else s


def acro_check(
    counts: pd.DataFrame, threshold: int = 10, *, zeros_are_disclosive: bool = True
) -> AcroCells:
    """acro's crosstab of the leaf ``counts`` (rows x columns, no margins), with suppression."""
    import acro  # type: ignore[import-untyped]

    logging.getLogger("acro").setLevel(logging.WARNING)
    row, col = _microdata(counts)
    with tempfile.TemporaryDirectory(prefix="acro-") as tmp, contextlib.chdir(tmp):
        session = acro.ACRO(suppress=True)
        assert session.config is session.sdc_checks.risk_appetite
        session.config["safe_threshold"] = threshold
        session.config["zeros_are_disclosive"] = zeros_are_disclosive
        shown = session.crosstab(row, col, margins=True, margins_name=MARGIN)
        output = session.results.results[f"output_{session.results.output_id - 1}"]
        outcome: pd.DataFrame = output.outcome
        status = str(output.status)

    def failing(check: str) -> set[Cell]:
        out: set[Cell] = set()
        for r in outcome.index:
            for c in outcome.columns:
                if check in str(outcome.loc[r, c]):
                    out.add((_label(r), _label(c)))
        return out

    suppressed: set[Cell] = set()
    for r in outcome.index:
        for c in outcome.columns:
            present = r in shown.index and c in shown.columns
            if not present or pd.isna(shown.loc[r, c]):
                suppressed.add((_label(r), _label(c)))
    return AcroCells(failing("MinimumThresholdCheck"), failing("PresenceOfZeroCheck"),
                     suppressed, status)


def acro_primary(counts: pd.DataFrame, threshold: int = 10) -> set[Cell]:
    """The cells acro's threshold rule hides (margins included, named ``Total``).

    Zero counts are among them (acro: ``count < threshold``); carehaven's rule leaves them
    shown, so compare with ``acro_primary(...) - zero cells``.
    """
    return acro_check(counts, threshold, zeros_are_disclosive=False).threshold
