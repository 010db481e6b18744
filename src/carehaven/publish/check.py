"""``disclosure check``: the intruder's attack on a published CSV, from the file alone.

The intruder knows every published number, every total and that counts are not negative. For
each suppressed cell carehaven solves the two linear programmes (smallest and largest value the
cell can take given all that) and reports the interval. Without the true values the checker
cannot know which hidden cells were primary, so it applies the condition every protected
primary cell meets: with protection level L (from the table's structure file, or the default
policy), a primary cell of value a must reach a - min(a, L) and a + L, so its interval is at
least L + 1 wide. A narrower interval, and above all an exact one, is reported as unsafe.
Magnitude tables (costs) are protected by the dominance rule, whose levels depend on the
contributions; their structure file says level 0, and only an exact interval is unsafe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carehaven.disclosure.audit import intervals
from carehaven.disclosure.policy import Policy
from carehaven.disclosure.table import Problem, Table
from carehaven.errors import UsageError
from carehaven.publish.definitions import definitions
from carehaven.publish.longcsv import read_csv, structure_path


@dataclass
class CheckResult:
    path: Path
    cells_checked: int
    protection_level: int
    unsafe: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.unsafe



def _default_level() -> int:
    raw = next(iter(definitions().values())).policy if definitions() else Policy()
    threshold = raw.threshold or Policy().threshold or 10
    return max(1, math.ceil(raw.safety_range / 100 * threshold))


def _level(path: Path, raw: object) -> int:
    """The structure file's protection level: a whole number of at least 0 (0 for a magnitude
    table); the default policy's when the file gives none."""
    if raw is None:
        return _default_level()
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise UsageError(
            f"{structure_path(path)}: disclosure.protection_level must be a whole number "
            "of at least 0."
        )
    return raw


def _bound(x: float) -> float | None:
    return None if math.isinf(x) else round(float(x), 6)


def check_file(path: Path) -> CheckResult:
    if not path.exists():
        raise UsageError(f"{path} does not exist.")
    try:
        back = read_csv(path)
    except ValueError as err:
        raise UsageError(str(err)) from None
    disclosure = back.meta.get("disclosure") or {}
    level = _level(path, disclosure.get("protection_level"))
    hidden = np.isnan(back.shown)
    values = np.where(hidden, 0.0, back.shown)
    result = CheckResult(path, int(hidden.sum()), level, warnings=list(back.warnings))
    if not hidden.any():
        return result
    try:
        # The engines' own errors quote codes, so only carehaven's sentence is shown.
        table = Table(path.stem, back.dims, list(back.keys), values)
        problem = Problem.single(table)
    except ValueError:
        raise UsageError(
            f"{path}: its rows do not form the table its structure file describes (a row for "
            "every combination of the leaf codes and their totals)."
        ) from None
    try:
        lo, hi = intervals(problem, hidden)
    except ValueError as err:
        raise UsageError(f"{path}: the published figures do not add up ({err}).") from None
    names = [d.name for d in back.dims]
    for cell, a, b in zip(np.flatnonzero(hidden), lo, hi, strict=True):
        if b - a < (level + 1 if level else 0) + 1e-6:
            result.unsafe.append({
                "cell": dict(zip(names, back.keys[cell], strict=True)),
                "interval": [_bound(a), _bound(b)],
            })
    return result
