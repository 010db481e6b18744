"""τ-Argus (pytauargus 0.6, HiGHS) as an oracle for carehaven's secondary suppression and audit.

Two calls, each run in a fresh child process (``_tau_child.py``; the native engine keeps global
state and writes solver logs into its working directory, which is a temporary folder):

* :func:`tau_protect` — τ-Argus OPT (Fischetti-Salazar optimal cell suppression) on the same
  table, the same primary cells and the same protection levels as carehaven's ``protect``;
* :func:`tau_audit` — τ-Argus's audit (the port of ``intervalle.exe``) of a suppression pattern
  *we* supply: the intruder's interval for every hidden cell.

How the table gets to τ-Argus. τ-Argus's DataFrame API (``pytauargus.protect``) takes microdata
only; a table already counted goes in as *tabular data*: a ``.tab`` file with one line per cell,
totals and subtotals included (code ``Total`` for a margin), a tabular ``.rda`` declaring the
columns, and a ``.hrc`` code list per dimension (pre-order, ``@`` per level), read with
``<READTABLE> 0`` so the engine checks every total against its children. Hierarchical
dimensions of any depth (authority → region → Total; quarter → year) work; flat dimensions are
passed as one-level ``.hrc`` files. The same primaries and levels are forced with τ-Argus's
"use given status" mode: an empty ``<SAFETYRULE>``, a ``<STATUS>`` column (``U`` for a primary,
``S`` publishable, ``M`` a secondary for the audit) and ``<LOWERPL>``/``<UPPERPL>`` columns with
each primary's levels. τ-Argus's own frequency rule would give other levels (a percentage of
the cell's value, at least 1; see docs/design/notes-tau-argus.md).

What τ-Argus minimises. With ``cost="cells"`` every cell costs 1 (cost variable ``-2``), so
OPT minimises the number of hidden cells, as carehaven's ``cost="cells"``; with
``cost="value"`` a cell costs its value (τ-Argus's default), scaled by τ-Argus to integers
(largest cost 20000), so the two value objectives agree only up to that rounding.

The intruder's prior knowledge (the a-priori bounds in the JJ file). ``bounds="legacy"``
(default) is what the Java τ-Argus passes: every cell in ``[0, 1.5 * largest cell]`` for a
table without negative cells, i.e. non-negativity, as carehaven's audit assumes (the upper
bound binds only on a cell no published total caps, such as a hidden grand total).
``bounds="engine"`` is what pytauargus's own ``<SUPPRESS> OPT`` and ``Engine.audit`` pass:
``[smallest cell, largest cell]``, which tells the intruder that no hidden cell is below the
smallest value in the table, a weaker intruder than either carehaven's or legacy τ-Argus's.
A pair gives the bounds explicitly.

Zero cells. ``zeros="cells"`` (default) submits a zero as an ordinary publishable cell (value
0, frequency 1 so that τ-Argus does not treat it as empty), which OPT may hide as a secondary
and which the audit treats as an unknown when hidden, as carehaven does. ``zeros="empty"``
leaves zero cells out, τ-Argus's usual treatment of a count table: structural zeros, always
published, never secondary.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from carehaven.disclosure.table import TOTAL, FloatArray, Table

BoolArray = npt.NDArray[np.bool_]
Bounds = Literal["legacy", "engine"] | tuple[float, float]
Cost = Literal["cells", "value"]
Zeros = Literal["cells", "empty"]

CHILD = Path(__file__).with_name("_tau_child.py")
#: Slack on protection comparisons, as carehaven's audit.
TOL = 1e-6


class TauError(RuntimeError):
    """τ-Argus failed or rejected the input (its stderr is in the message)."""


@dataclass
class TauProtection:
    """τ-Argus OPT's pattern on one table."""

    suppressed: BoolArray  # per cell: primary or secondary
    secondary: BoolArray
    primary: BoolArray  # as τ-Argus holds them (given, or found by its rule)
    lpl: FloatArray  # τ-Argus's protection levels (0 off the primaries)
    upl: FloatArray
    seconds: float  # the OPT step: JJ file written, FullJJ solved, secondaries read back
    total_seconds: float  # the engine run: table read and checked, then the OPT step
    optimal: bool | None  # FullJJ's log says "optimal solution" (None: no log)
    objective: float | None  # FullJJ's objective (cost of all hidden cells, scaled)
    bounds: tuple[float, float]
    log: str

    @property
    def cells(self) -> int:
        return int(self.suppressed.sum())


@dataclass
class TauAudit:
    """τ-Argus's audit of a pattern: per cell, the intruder's interval."""

    lo: FloatArray  # published cells: their value
    hi: FloatArray
    audited: BoolArray  # cells τ-Argus computed an interval for (the hidden ones)
    # τ-Argus's own verdict per primary (a published primary is unsafe). It compares the upper
    # end only, and with no tolerance: see under_protected for both sides with TOL.
    unsafe: BoolArray
    bounds: tuple[float, float]
    seconds: float

    @property
    def safe(self) -> bool:
        return not bool(self.unsafe.any())


def _check_codes(table: Table) -> None:
    for dim in table.dims:
        for code in dim.order:
            if code == TOTAL:
                continue
            if (
                not code
                or code != code.strip()
                or code.lower() == TOTAL.lower()
                or code.startswith("@")
                or any(ch in code for ch in ';"')
            ):
                raise ValueError(f"dimension {dim.name}: code {code!r} cannot go to τ-Argus")


def _decimals(*arrays: FloatArray) -> int:
    """0 for counts; otherwise 6 decimals (τ-Argus writes values with the response's decimals)."""
    return 0 if all(np.array_equal(a, np.round(a)) for a in arrays) else 6


def _job(
    table: Table,
    status: Sequence[str],
    lpl: FloatArray,
    upl: FloatArray,
    *,
    mode: Literal["protect", "audit"],
    cost: Cost,
    bounds: Bounds,
    time_limit_s: float,
    rule: str | None = None,
) -> dict[str, Any]:
    _check_codes(table)
    values = np.asarray(table.values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("τ-Argus needs finite cell values")
    return {
        "mode": mode,
        "dims": [{"name": d.name, "order": list(d.order), "parent": dict(d.parent)}
                 for d in table.dims],
        "keys": [list(k) for k in table.keys],
        "values": values.tolist(),
        "status": list(status),
        "lpl": np.asarray(lpl, dtype=np.float64).tolist(),
        "upl": np.asarray(upl, dtype=np.float64).tolist(),
        "cost": cost,
        "bounds": list(bounds) if isinstance(bounds, tuple) else bounds,
        "time_limit_min": max(1, math.ceil(time_limit_s / 60.0)),
        "decimals": _decimals(values),
        "rule": rule,
    }


def _run(job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run one job in a new process whose working directory is a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="tau-argus-") as tmp:
        wd = Path(tmp)
        (wd / "job.json").write_text(json.dumps(job), encoding="utf-8")
        try:
            proc = subprocess.run(
                [sys.executable, str(CHILD), "job.json", "out.json"],
                cwd=wd, capture_output=True, text=True, timeout=timeout_s, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TauError(f"τ-Argus did not finish in {timeout_s:g} s") from exc
        if proc.returncode != 0:
            raise TauError(f"τ-Argus failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        out: dict[str, Any] = json.loads((wd / "out.json").read_text(encoding="utf-8"))
        return out


def _flags(mask: npt.ArrayLike, n: int, name: str) -> BoolArray:
    out = np.asarray(mask, dtype=np.bool_)
    if out.shape != (n,):
        raise ValueError(f"{name} must hold one flag per cell ({n}), not {out.shape}")
    return out


def tau_protect_detail(
    table: Table,
    primary_mask: npt.ArrayLike,
    lpl: npt.ArrayLike,
    upl: npt.ArrayLike,
    *,
    time_limit_s: float = 60.0,
    cost: Cost = "cells",
    bounds: Bounds = "legacy",
    zeros: Zeros = "cells",
) -> TauProtection:
    """τ-Argus OPT on ``table`` with these primaries and protection levels (per cell).

    FullJJ's time limit is whole minutes: ``time_limit_s`` is rounded up to them.
    """
    n = len(table)
    prim = _flags(primary_mask, n, "primary_mask")
    values = np.asarray(table.values, dtype=np.float64)
    status = ["U" if p else ("E" if zeros == "empty" and v == 0 else "S")
              for p, v in zip(prim, values, strict=True)]
    job = _job(table, status, np.asarray(lpl, dtype=np.float64),
               np.asarray(upl, dtype=np.float64), mode="protect", cost=cost, bounds=bounds,
               time_limit_s=time_limit_s)
    res = _protection(job)
    if not np.array_equal(res.primary, prim):
        raise TauError("τ-Argus holds other primary cells than the ones given")
    return res


def tau_protect_rule(
    table: Table,
    rule: str = "FREQ(10,30)",
    *,
    time_limit_s: float = 60.0,
    cost: Cost = "value",
    bounds: Bounds = "engine",
) -> TauProtection:
    """τ-Argus as it comes: its own safety ``rule`` picks the primaries and their levels.

    The defaults are what ``<SAFETYRULE> FREQ(10,30)`` / ``<SUPPRESS> OPT(1)`` do in pytauargus:
    levels of 30% of each cell's value (at least 1) both ways, cost = the cell value, a-priori
    bounds from the smallest to the largest cell. Zero cells are left empty, as τ-Argus treats
    a zero count (a frequency-1 zero would fall under the frequency rule).
    """
    n = len(table)
    status = ["E" if v == 0 else "S" for v in np.asarray(table.values)]
    job = _job(table, status, np.zeros(n), np.zeros(n), mode="protect", cost=cost,
               bounds=bounds, time_limit_s=time_limit_s, rule=rule)
    return _protection(job)


def _protection(job: dict[str, Any]) -> TauProtection:
    out = _run(job, timeout_s=job["time_limit_min"] * 60.0 + 600.0)
    secondary = np.array(out["secondary"], dtype=np.bool_)
    prim = np.array(out["primary"], dtype=np.bool_)
    levels = np.array(out["levels"], dtype=np.float64).reshape(len(prim), 2)
    if np.any(secondary & prim):
        raise TauError("τ-Argus reports a primary cell as secondary")
    return TauProtection(
        suppressed=prim | secondary,
        secondary=secondary,
        primary=prim,
        lpl=np.where(prim, levels[:, 0], 0.0),
        upl=np.where(prim, levels[:, 1], 0.0),
        seconds=float(out["seconds"]),
        total_seconds=float(out["total_seconds"]),
        optimal=out["optimal"],
        objective=out["objective"],
        bounds=(float(out["bounds"][0]), float(out["bounds"][1])),
        log=str(out["log"]),
    )


def tau_protect(
    table: Table,
    primary_mask: npt.ArrayLike,
    lpl: npt.ArrayLike,
    upl: npt.ArrayLike,
    *,
    time_limit_s: float = 60.0,
    cost: Cost = "cells",
    bounds: Bounds = "legacy",
    zeros: Zeros = "cells",
) -> tuple[BoolArray, float]:
    """(hidden flag per cell, seconds of the OPT step): see :func:`tau_protect_detail`."""
    res = tau_protect_detail(table, primary_mask, lpl, upl, time_limit_s=time_limit_s,
                             cost=cost, bounds=bounds, zeros=zeros)
    return res.suppressed, res.seconds


def tau_audit_detail(
    table: Table,
    suppressed: npt.ArrayLike,
    primary_mask: npt.ArrayLike | None = None,
    lpl: npt.ArrayLike | None = None,
    upl: npt.ArrayLike | None = None,
    *,
    bounds: Bounds = "legacy",
    zeros: Zeros = "cells",
) -> TauAudit:
    """τ-Argus's audit of the pattern ``suppressed`` (per cell) on ``table``.

    Hidden primaries go in as unsafe cells (status ``U``) with their protection levels, other
    hidden cells as secondaries (``M``). Without ``primary_mask`` every hidden cell is a
    secondary and nothing is judged unsafe; the intervals are the same.
    """
    n = len(table)
    hidden = _flags(suppressed, n, "suppressed")
    prim = np.zeros(n, dtype=np.bool_) if primary_mask is None else _flags(
        primary_mask, n, "primary_mask")
    lo_pl = np.zeros(n) if lpl is None else np.asarray(lpl, dtype=np.float64)
    up_pl = np.zeros(n) if upl is None else np.asarray(upl, dtype=np.float64)
    values = np.asarray(table.values, dtype=np.float64)
    status: list[str] = []
    for h, p, v in zip(hidden, prim, values, strict=True):
        if h:
            status.append("U" if p else "M")
        else:
            status.append("E" if zeros == "empty" and v == 0 else "S")
    job = _job(table, status, lo_pl, up_pl, mode="audit", cost="cells", bounds=bounds,
               time_limit_s=60.0)
    out = _run(job, timeout_s=1800.0)
    lo = values.copy()
    hi = values.copy()
    audited = np.zeros(n, dtype=np.bool_)
    unsafe = prim & ~hidden
    for i, row in enumerate(out["audit"]):
        if row is None:
            continue
        audited[i] = True
        lo[i], hi[i] = float(row[0]), float(row[1])
        unsafe[i] = bool(row[2]) if prim[i] else False
    if np.any(hidden & ~audited):
        raise TauError(f"τ-Argus audited {int(audited.sum())} of {int(hidden.sum())} hidden cells")
    return TauAudit(lo, hi, audited, unsafe,
                    (float(out["bounds"][0]), float(out["bounds"][1])), float(out["seconds"]))


def tau_audit(
    table: Table,
    suppressed: npt.ArrayLike,
    primary_mask: npt.ArrayLike | None = None,
    lpl: npt.ArrayLike | None = None,
    upl: npt.ArrayLike | None = None,
    *,
    bounds: Bounds = "legacy",
    zeros: Zeros = "cells",
) -> tuple[FloatArray, FloatArray]:
    """(lo, hi) per cell from τ-Argus's audit of ``suppressed``: see :func:`tau_audit_detail`."""
    res = tau_audit_detail(table, suppressed, primary_mask, lpl, upl, bounds=bounds, zeros=zeros)
    return res.lo, res.hi


def under_protected(
    table: Table,
    audit: TauAudit,
    primary_mask: npt.ArrayLike,
    lpl: npt.ArrayLike,
    upl: npt.ArrayLike,
) -> BoolArray:
    """Primaries whose τ-Argus interval misses ``[v - lpl, v + upl]`` (by more than TOL).

    Our own reading of τ-Argus's intervals, to set beside its ``unsafe`` flag.
    """
    prim = _flags(primary_mask, len(table), "primary_mask")
    v = np.asarray(table.values, dtype=np.float64)
    need_lo = v - np.asarray(lpl, dtype=np.float64)
    need_hi = v + np.asarray(upl, dtype=np.float64)
    short: BoolArray = prim & ((audit.hi < need_hi - TOL) | (audit.lo > need_lo + TOL))
    return short
