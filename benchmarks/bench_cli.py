"""How long the ``carehaven`` command takes to start, against Python starting Typer.

Each run starts a fresh interpreter, as a user's shell does. In the same run:

* floor: ``python -c "import typer, rich"`` (the interpreter and the CLI framework alone);
* ``carehaven --help`` (every command registered, nothing run);
* ``carehaven --haven H orgs list`` on a fresh haven (opens the control database: the cost of
  the first real command).

    uv run python benchmarks/bench_cli.py [--repeat 5] [--settle 120] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Measure,
    add_output_args,
    console,
    goals_table,
    load_now,
    machine,
    machine_line,
    measures_table,
    report,
    settle,
)


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best is shown")
    add_output_args(parser)
    args = parser.parse_args()
    info = machine()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        haven = Path(tmp) / "haven"
        subprocess.run([py, "-m", "carehaven", "--haven", str(haven), "init"], check=True,
                       capture_output=True)
        cases = [
            ("floor: python -c 'import typer, rich'", [py, "-c", "import typer, rich"]),
            ("carehaven --help", [py, "-m", "carehaven", "--help"]),
            ("carehaven orgs list (opens a haven)",
             [py, "-m", "carehaven", "--haven", str(haven), "orgs", "list"]),
        ]
        measures = [Measure(name, 1) for name, _ in cases]
        _time(cases[1][1])  # warm the file cache once; not counted
        for _ in range(args.repeat):
            for m, (_, cmd) in zip(measures, cases, strict=True):
                m.idle.append(settle(args.settle))
                m.runs.append(_time(cmd))
    floor, helps, opens = measures
    ratio_help = helps.best / floor.best
    ratio_open = opens.best / floor.best
    out: dict[str, Any] = {
        "machine": info,
        "load_after": load_now(),
        "measures": [m.as_json() for m in measures],
        "ratios": {"help_vs_floor": round(ratio_help, 2), "open_vs_floor": round(ratio_open, 2)},
        "_measures": measures,
    }

    def show(o: dict[str, Any]) -> None:
        c = console()
        c.print(machine_line(info))
        c.print(measures_table("Start-up of the command line (a fresh process each run)",
                               o["_measures"], "runs"))
        c.print(goals_table("Ratios and goals", [
            ("carehaven --help", "< 1.5 s", f"{helps.best:.2f} s", helps.best < 1.5),
            ("--help ÷ floor", "-", f"{ratio_help:.1f}x", None),
            ("orgs list ÷ floor", "-", f"{ratio_open:.1f}x", None),
        ]))

    report(out, args, show)


if __name__ == "__main__":
    main()
