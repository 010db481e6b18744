"""One τ-Argus job, run as a script in its own process: ``python _tau_child.py job.json out.json``.

The native engine keeps global state and writes its solver logs (``FullJJ.log``,
``CSPlogfile.txt``, ``cspSCIP.*``) into the working directory, so each job runs in a fresh
process whose working directory is a temporary folder (see :mod:`tests.oracles.tau`). This file
imports only the standard library and pytauargus, so the child starts fast.

The job (JSON) describes a full cube of cells exactly as :class:`carehaven.disclosure.table.Table`
holds it: the dimensions (codes with parents under ``Total``), one key per cell, the values, each
cell's status (``U`` primary with protection levels, ``M`` secondary, ``S`` publishable, ``E``
empty), and what to do (``protect`` with OPT, or ``audit``). The child writes the τ-Argus input
files (``.hrc`` per hierarchical dimension, ``.rda`` tabular metadata, ``.tab`` cells with totals,
``.arb`` batch), reads them into the engine with ``<READTABLE> 0`` (the engine checks that every
total is the sum of its children; the child then checks that τ-Argus holds the job's cells and
values), then runs the OPT or audit step with the a-priori bounds the
job gives. It reports, per cell in the job's order, the τ-Argus status and audit interval.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

TOTAL = "Total"
#: τ-Argus cell statuses (libtauargus defines.h).
SECONDARY = (11, 12)
PRIMARY = (3, 9)  # unsafe by a rule (3-8) or by hand (9)


def _write_hrc(path: Path, parent: dict[str, str], order: list[str]) -> None:
    """The hierarchy as a τ-Argus ``.hrc``: pre-order, one ``@`` per level below the top."""
    children: dict[str, list[str]] = {}
    for code in order:
        if code != TOTAL:
            children.setdefault(parent[code], []).append(code)
    lines: list[str] = []

    def walk(code: str, depth: int) -> None:
        for kid in children.get(code, []):
            lines.append("@" * depth + kid)
            walk(kid, depth + 1)

    walk(TOTAL, 0)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_inputs(job: dict[str, Any], wd: Path) -> Path:
    dims: list[dict[str, Any]] = job["dims"]
    rda = ['<SEPARATOR> ";"']
    for d, dim in enumerate(dims):
        # Every dimension gets a code list file, flat ones too (one level): the codes then come
        # from the file, not from the cells, so a code whose cells are all empty still exists,
        # and codes keep the order given (flat codes read from cells would be padded and sorted).
        _write_hrc(wd / f"d{d}.hrc", dim["parent"], dim["order"])
        rda += [f"D{d}", "  <RECODEABLE>", f'  <TOTCODE> "{TOTAL}"', "  <HIERARCHICAL>",
                f'  <HIERCODELIST> "d{d}.hrc"', '  <HIERLEADSTRING> "@"']
    dec = int(job["decimals"])
    rule = job.get("rule")  # a τ-Argus safety rule: τ-Argus picks primaries and levels itself
    rda += ["Value", "  <NUMERIC>", f"  <DECIMALS> {dec}", "Freq", "  <FREQUENCY>"]
    if not rule:
        rda += ["Status", "  <STATUS>",
                "Lpl", "  <NUMERIC> <LOWERPL>", f"  <DECIMALS> {dec}",
                "Upl", "  <NUMERIC> <UPPERPL>", f"  <DECIMALS> {dec}"]
    (wd / "t.rda").write_text("\n".join(rda) + "\n", encoding="utf-8")

    rows: list[str] = []
    for key, value, status, lpl, upl in zip(
        job["keys"], job["values"], job["status"], job["lpl"], job["upl"], strict=True
    ):
        if status == "E":  # an empty (structural zero) cell: not submitted at all
            continue
        # A cell with frequency 0 would be empty; a published or hidden 0 is a real cell here.
        freq = max(1, math.ceil(abs(value)))
        fields = [*key, f"{value:.{dec}f}", str(freq)]
        if not rule:
            pl = (f"{lpl:.{dec + 3}f}", f"{upl:.{dec + 3}f}") if status == "U" else ("", "")
            fields += [status, *pl]
        rows.append(";".join(fields))
    (wd / "t.tab").write_text("\n".join(rows) + "\n", encoding="utf-8")

    names = "".join(f'"D{d}"' for d in range(len(dims)))
    cost = "-2" if job["cost"] == "cells" else ""  # -2: unit cost per cell; "": the value
    arb = [
        '<OPENTABLEDATA> "t.tab"',
        '<OPENMETADATA> "t.rda"',
        f'<SPECIFYTABLE> {names}|"Value"||{cost}',
        # No rule: use the given status (and protection levels).
        f"<SAFETYRULE> {rule}" if rule else "<SAFETYRULE>",
        "<READTABLE> 0",  # totals given; check additivity
    ]
    (wd / "t.arb").write_text("\n".join(arb) + "\n", encoding="utf-8")
    return wd / "t.arb"


def _cell_numbers(eng: Any, job: dict[str, Any]) -> list[int]:
    """τ-Argus's cell number for each of the job's cells (row-major over its code lists)."""
    tau = eng._tau
    meta = eng.metadata
    positions: list[dict[str, int]] = []
    sizes: list[int] = []
    for d in range(len(job["dims"])):
        vi = meta.index_of(f"D{d}")
        _, n_active = tau.get_var_number_of_codes(vi)
        pos: dict[str, int] = {}
        for ci in range(n_active):
            _ok, _type, code, _missing, _level = tau.get_var_code(vi, ci)
            pos[code.strip() or TOTAL] = ci
        positions.append(pos)
        sizes.append(n_active)
    n_cells, _ = tau.get_total_table_size(0)
    if math.prod(sizes) != n_cells or n_cells != len(job["keys"]):
        raise RuntimeError(f"τ-Argus table has {n_cells} cells, the job {len(job['keys'])}")
    out: list[int] = []
    for key in job["keys"]:
        c = 0
        for d, code in enumerate(key):
            c = c * sizes[d] + positions[d][code]
        out.append(c)
    if len(set(out)) != len(out):
        raise RuntimeError("two cells map to the same τ-Argus cell")
    for c, want, status in zip(out, job["values"], job["status"], strict=True):
        got = 0.0 if status == "E" else tau.get_table_cell_value(0, c)
        if abs(got - want) > 1e-6 * max(1.0, abs(want)):
            raise RuntimeError(f"τ-Argus holds {got} for τ-Argus cell {c}, the job {want}")
    return out


def _bounds(eng: Any, job: dict[str, Any]) -> tuple[float, float]:
    """The a-priori bounds every cell gets in the JJ file (the intruder's prior knowledge)."""
    how = job["bounds"]
    if isinstance(how, list):
        return float(how[0]), float(how[1])
    lo, hi = eng._table_cell_bounds(0)  # the smallest and largest cell value
    if how == "engine":  # what pytauargus's own OPT and audit pass
        return float(lo), float(hi)
    # "legacy": what the Java τ-Argus passes (TableSet.minTabVal/maxTabVal after ComputeTables):
    # 0 for a table without negative cells, else 1.5 times the most negative; 1.5 times the
    # largest cell above.
    return (0.0 if lo >= 0 else 1.5 * lo), (1.5 * hi if hi > 0 else 0.0)


def _solver_log(wd: Path) -> dict[str, Any]:
    """The optimum and bound FullJJ logs (``CSPlogfile.txt``, ``cspSCIP.sta``)."""
    info: dict[str, Any] = {"optimal": None, "objective": None, "log": ""}
    log = wd / "CSPlogfile.txt"
    if log.exists():
        text = log.read_text(encoding="utf-8", errors="replace").strip()
        info["log"] = text
        m = re.search(r"optimal solution\s*=\s*([-0-9.eE+]+)", text)
        if m:
            info["optimal"] = True
            info["objective"] = float(m.group(1))
        elif text:
            info["optimal"] = False
            m = re.search(r"solution\s*=\s*([-0-9.eE+]+)", text)
            if m:
                info["objective"] = float(m.group(1))
    return info


def run(job: dict[str, Any], wd: Path) -> dict[str, Any]:
    from pytauargus._tauargus import audit_jj  # type: ignore[import-untyped]
    from pytauargus.batch import BatchError  # type: ignore[import-untyped]
    from pytauargus.engine import Engine  # type: ignore[import-untyped]

    arb = _write_inputs(job, wd)
    t0 = time.perf_counter()
    eng = Engine()
    eng.run_batch(arb)  # reads the table; no suppression in the batch
    cells = _cell_numbers(eng, job)
    tau = eng._tau
    t_read = time.perf_counter()
    lo, hi = _bounds(eng, job)
    result: dict[str, Any] = {"bounds": [lo, hi]}
    if job["mode"] == "protect":
        # pytauargus Engine._suppress_opt, with the job's bounds instead of the engine's.
        jj_in, jj_out, jj2 = wd / "JJ.IN", wd / "JJ.OUT", wd / "JJ2.OUT"
        t1 = time.perf_counter()
        if not tau.write_jj_format(0, str(jj_in), lo, hi, False, False, False):
            raise BatchError("WriteJJFormat failed for OPT")
        code = eng._hitas.full_jj(in_file_jj=str(jj_in), out_file=str(jj_out),
                                  max_time=int(job["time_limit_min"]))
        if code > 1:
            raise BatchError(f"FullJJ failed (code {code}): {eng._hitas.error_string(code)}")
        with jj_out.open(encoding="utf-8") as fin, jj2.open("w", encoding="utf-8") as fout:
            fout.write("fop\nfop\n")
            for line in fin:
                fout.write(line.rstrip("\n") + " m\n")
        tau.set_secondary_jjformat(0, str(jj2), False)
        t2 = time.perf_counter()
        status = [tau.get_table_cell_status(0, c) for c in cells]
        result.update(_solver_log(wd))
        result["primary"] = [PRIMARY[0] <= s <= PRIMARY[1] for s in status]
        result["levels"] = [list(tau.get_table_cell_protection_levels(0, c)) for c in cells]
        result["full_jj_code"] = code
        result["secondary"] = [s in SECONDARY for s in status]
        result["status"] = status
        result["seconds"] = t2 - t1
        result["read_seconds"] = t_read - t0
        result["total_seconds"] = t2 - t0
    else:
        jj = wd / "audit.jj"
        t1 = time.perf_counter()
        if not tau.write_jj_format(0, str(jj), lo, hi, False, False, False):
            raise BatchError("WriteJJFormat failed for AUDIT")
        rows = audit_jj(str(jj))
        t2 = time.perf_counter()
        by_cell = {int(r["cell"]): r for r in rows}
        audit: list[list[Any] | None] = []
        for c in cells:
            r = by_cell.get(c)
            audit.append(None if r is None else
                         [float(r["min"]), float(r["max"]), bool(r["unsafe"]), str(r["status"])])
        result["audit"] = audit
        result["seconds"] = t2 - t1
        result["total_seconds"] = t2 - t0
    return result


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = run(job, Path.cwd())
    Path(argv[2]).write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
