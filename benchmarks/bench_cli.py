"""How long the ``carehaven`` command takes to start and to submit, against Python starting Typer.

Each run starts a fresh interpreter, as a user's shell does. In the same run:

* floor: ``python -c "import typer, rich"`` (the interpreter and the CLI framework alone);
* framework floor: a one-command Typer app with a root option and a command option, run
  (what running a command costs Typer beyond importing it: Typer 0.29 coerces every parameter
  through pydantic, which the import floor does not show; ADR 0015);
* ``carehaven --help`` (every command registered, nothing run);
* read-only commands on a haven holding a synth run's returns: ``orgs list``,
  ``submissions``, ``submissions --json``, ``audit verify`` (which also reads back and checks
  every landed file, so it is more than start-up);
* ``submit`` of a fresh 1,000-row ndtms-episode return (new bytes each run, each superseding
  the last), of the same bytes again (``unchanged``), and of fresh bytes with the haven's
  compiled plans removed first (the first submit of a dataset, which compiles its checks
  through Ibis: ADR 0014);
* loading every return ``carehaven synth`` writes (152 files for 20,000 people) into a fresh
  haven, once with one ``submit`` process per file and once with one ``submit --manifest``
  (``--no-load`` skips this, the slow part).

Children run without ``PYTHONDONTWRITEBYTECODE``, so they reuse compiled bytecode as an
installed command does (one warm-up run each, not counted).

    uv run python benchmarks/bench_cli.py [--repeat 5] [--people 20000] [--no-load] \
        [--settle 120] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from episodes import episodes_table, write_csv

PY = sys.executable
#: The environment of every child: bytecode is cached and reused, as for an installed command.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(
    cmd: list[str], ok: tuple[int, ...] = (0,)
) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ENV,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-800:]}")
    return seconds, done


def _time(cmd: list[str]) -> float:
    return _run(cmd)[0]


def _ch(haven: Path, *args: str) -> list[str]:
    return [PY, "-m", "carehaven", "--haven", str(haven), *args]


def _haven_with_returns(root: Path, name: str, returns: Path, people: int) -> Path:
    """A fresh haven whose organisations are the synthetic ones (synth --register)."""
    haven = root / name
    _run(_ch(haven, "init"))
    _run(_ch(haven, "synth", "--out", str(returns), "--people", str(people), "--register",
             "--json"))
    return haven


#: The smallest Typer program that runs a command as carehaven's do: a root option, a command,
#: one option of the command's own.
TYPER_APP = """
import typer
app = typer.Typer()
@app.callback()
def root(haven: str = typer.Option(None, "--haven")) -> None:
    pass
@app.command()
def listing(json: bool = typer.Option(False, "--json")) -> None:
    print("[]")
app()
"""


BENCH_ORG = "P900"


def _without_plans(haven: Path, cmd: list[str]) -> list[str]:
    shutil.rmtree(haven / "plans", ignore_errors=True)
    return cmd


def _startup(haven: Path, fresh: Path, repeat: int, wait: float) -> list[Measure]:
    """The floor and the commands that only read, each a fresh process, interleaved."""
    # A provider of its own: a 1,000-row return over synth's larger P001 one would be held
    # (the supersession guard), which is not what is measured here.
    _run(_ch(haven, "orgs", "add", BENCH_ORG, "--kind", "treatment-service", "--name", "Bench"))
    submit = ["submit", "--dataset", "ndtms-episode", "--org", BENCH_ORG, "--period", "2025Q2"]
    files = []
    for i in range(repeat + 1):  # new bytes each run: a real submission, not "unchanged"
        path = fresh / f"{BENCH_ORG}_2025Q2-{i}.csv"
        write_csv(episodes_table(1000, seed=100 + i, org=BENCH_ORG), path)
        files.append(path)
    cold = []
    for i in range(repeat + 1):
        path = fresh / f"{BENCH_ORG}_2025Q2-cold-{i}.csv"
        write_csv(episodes_table(1000, seed=500 + i, org=BENCH_ORG), path)
        cold.append(path)
    typer_app = fresh / "typer_app.py"
    typer_app.write_text(TYPER_APP)
    cases: list[tuple[str, Any]] = [
        ("floor: python -c 'import typer, rich'", [PY, "-c", "import typer, rich"]),
        ("framework floor: a one-command Typer app",
         [PY, str(typer_app), "--haven", str(haven), "listing", "--json"]),
        ("carehaven --help", [PY, "-m", "carehaven", "--help"]),
        ("carehaven orgs list", _ch(haven, "orgs", "list")),
        ("carehaven submissions", _ch(haven, "submissions")),
        ("carehaven submissions --json", _ch(haven, "submissions", "--json")),
        ("carehaven audit verify (reads every landed file)", _ch(haven, "audit", "verify")),
        ("carehaven submit, 1,000 new rows",
         lambda i: _ch(haven, submit[0], str(files[i]), *submit[1:])),
        ("carehaven submit, the same bytes (unchanged)",
         lambda i: _ch(haven, submit[0], str(files[max(i - 1, 0)]), *submit[1:])),
        # The first submit of a dataset (or after an upgrade) compiles its plan (ADR 0014):
        # the plans folder is emptied before the run, outside the time measured.
        ("carehaven submit, 1,000 new rows, plan compiled afresh",
         lambda i: _without_plans(haven, _ch(haven, submit[0], str(cold[i]), *submit[1:]))),
    ]
    measures = [Measure(name, 1) for name, _ in cases]
    for _, cmd in cases:  # warm the caches (bytecode, files) once; not counted
        _time(cmd(repeat) if callable(cmd) else cmd)
    for i in range(repeat):
        for m, (_, cmd) in zip(measures, cases, strict=True):
            m.idle.append(settle(wait))
            m.runs.append(_time(cmd(i) if callable(cmd) else cmd))
    return measures


def _load(root: Path, people: int, wait: float) -> tuple[Measure, Measure, int]:
    """Every synth return into a fresh haven: a process per file, then one --manifest."""
    returns = root / "load-returns"
    one_by_one = _haven_with_returns(root, "load-each", returns, people)
    # synth writes only into a new folder; the same seed writes the same returns again.
    batch = _haven_with_returns(root, "load-manifest", root / "load-returns-again", people)
    entries = json.loads((returns / "manifest.json").read_text())["files"]
    each = Measure(f"{len(entries)} files, one submit process per file", len(entries))
    many = Measure(f"{len(entries)} files, one submit --manifest", len(entries))
    each.idle.append(settle(wait))
    t0 = time.perf_counter()
    for e in entries:
        _run(_ch(one_by_one, "submit", str(returns / e["path"]), "--dataset", e["dataset"],
                 "--org", e["org"], "--period", e["period"]), ok=(0, 3))
    each.runs.append(time.perf_counter() - t0)
    many.idle.append(settle(wait))
    seconds, done = _run(_ch(batch, "submit", "--manifest",
                             str(root / "load-returns-again" / "manifest.json"),
                             "--json"), ok=(0, 3))
    many.runs.append(seconds)
    landed = len(json.loads(done.stdout)["files"])
    # Both havens hold the same: as many submissions, as many rows accepted.
    totals = []
    for haven in (one_by_one, batch):
        listing = json.loads(_run(_ch(haven, "submissions", "--json"))[1].stdout)
        totals.append((len(listing), sum(s["rows"]["accepted"] for s in listing)))
    if totals[0] != totals[1]:
        raise SystemExit(f"the two loads differ: {totals}")
    return each, many, landed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best is shown")
    parser.add_argument("--people", type=int, default=20000, help="synth --people")
    parser.add_argument("--no-load", action="store_true", help="skip loading the returns")
    add_output_args(parser)
    args = parser.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        haven = _haven_with_returns(root, "haven", root / "returns", args.people)
        _run(_ch(haven, "submit", "--manifest", str(root / "returns" / "manifest.json")),
             ok=(0, 3))
        fresh = root / "fresh"
        fresh.mkdir()
        measures = _startup(haven, fresh, args.repeat, args.settle)
        loads = None if args.no_load else _load(root, args.people, args.settle)
    floor, framework = measures[0], measures[1]
    ratios = {m.name: round(m.best / floor.best, 2) for m in measures[1:]}
    to_framework = {m.name: round(m.best / framework.best, 2) for m in measures[2:]}
    out: dict[str, Any] = {
        "machine": info,
        "load_after": load_now(),
        "measures": [m.as_json() for m in measures],
        "ratios_to_floor": ratios,
        "ratios_to_framework_floor": to_framework,
        "_measures": measures,
    }
    if loads is not None:
        each, many, landed = loads
        out["load"] = {"files": landed, "one_process_per_file_s": round(each.best, 2),
                       "one_manifest_s": round(many.best, 2),
                       "speed_up": round(each.best / many.best, 1)}

    def show(o: dict[str, Any]) -> None:
        c = console()
        c.print(machine_line(info))
        c.print(measures_table("Start-up and submit (a fresh process each run)",
                               o["_measures"], "runs"))
        by = {m.name: m for m in measures}
        helps = by["carehaven --help"]
        submit = by["carehaven submit, 1,000 new rows"]
        # The goal is for start-up: submit and audit verify do work beyond it.
        startup = {n for n in to_framework if "submit" not in n and "audit verify" not in n}
        rows: list[tuple[str, str, str, bool | None]] = [
            (name, "≤ 2x" if name in startup else "-",
             f"{r:.1f}x ({to_framework[name]:.1f}x the framework floor)"
             if name in to_framework else f"{r:.1f}x",
             r <= 2 if name in startup else None)
            for name, r in ratios.items()
        ]
        rows.append(("--help", "< 1.5 s", f"{helps.best:.2f} s", helps.best < 1.5))
        rows.append(("submit, 1,000 rows", "< 1.5 s", f"{submit.best:.2f} s", submit.best < 1.5))
        if "load" in o:
            ld = o["load"]
            rows.append((f"load {ld['files']} files: a process each", "-",
                         f"{ld['one_process_per_file_s']:.1f} s", None))
            rows.append((f"load {ld['files']} files: one --manifest", "-",
                         f"{ld['one_manifest_s']:.1f} s ({ld['speed_up']}x faster)", None))
        c.print(goals_table("Against the floor and the goals", rows))

    report(out, args, show)


if __name__ == "__main__":
    main()
