"""Validating a million-row ``ndtms-episode`` return: carehaven against frictionless and the floor.

In one run, on the same file (built by episodes.py and cached in benchmarks/.data/):

* floor: a bare DuckDB ``CREATE TABLE t AS SELECT * FROM read_csv(path, all_varchar=true)`` in
  memory, which reads and materialises every cell as text and judges nothing;
* validate: carehaven's ``read_table`` + ``validate`` (the file's bytes read, parsed, every rule
  of the spec run) on an in-memory DuckDB through Ibis;
* submit: ``carehaven.collection.submit`` end to end into a fresh haven (read + hash, land
  encrypted, validate, write the report, accept into the DuckDB data plane, record);
* CLI submit: the ``carehaven submit`` command in a new process, so with interpreter start-up
  and imports (skip with ``--no-cli``);
* frictionless: ``Resource.validate`` with the spec's Table Schema over the first
  ``--frictionless-rows`` rows, every row and every error, scaled linearly to rows/s.

    uv run python benchmarks/bench_submit.py [--rows 1000000] [--frictionless-rows 100000]
        [--repeat 1] [--invalid-rate 0] [--no-cli] [--json] [--save FILE]

With ``--memory`` it measures instead the peak memory (maximum resident set) of a
``carehaven submit`` process for files of ``--memory-rows`` sizes, against the floor measured in
the same run: the same command submitting a 10-row file (interpreter, imports, haven). The
goal is the bound docs/benchmarks.md states (issue 13 item 12): peak <= floor + 128 MB + 8x the
file's size, at every size:

    uv run python benchmarks/bench_submit.py --memory [--memory-rows 25000,100000,200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pyarrow.csv as pacsv
from benchlib import (
    Measure,
    Stopwatch,
    add_output_args,
    console,
    goals_table,
    load_now,
    machine,
    machine_line,
    measures_table,
    report,
    settle,
    stages_table,
    timed,
)
from episodes import DATA_DIR, DATASET, ORG, PERIOD, count_rows, episodes_file, head_file

from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import Context
from carehaven.collection.submit import submit
from carehaven.collection.validate import validate
from carehaven.config import Settings
from carehaven.haven import init_haven
from carehaven.specs import load_spec

ACTOR = "bench"
GOAL_SUBMIT_S = 10.0
GOAL_VS_FRICTIONLESS = 20.0
GOAL_VS_FLOOR = 4.0


def floor(path: Path, m: Measure) -> None:
    con = duckdb.connect()
    try:
        with timed(m.runs):
            con.execute(
                "CREATE TABLE t AS SELECT * FROM read_csv(?, all_varchar=true, header=true)",
                [str(path)],
            )
        got = con.execute("SELECT count(*) FROM t").fetchone()
        assert got is not None and got[0] == m.units, f"DuckDB read {got} rows"
    finally:
        con.close()


def pyarrow_read(path: Path, m: Measure) -> None:
    """Context: pyarrow's CSV reader (which read_table uses), every column as text."""
    with path.open("rb") as fh:
        names = fh.readline().decode().strip().split(",")
    with timed(m.runs):
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    assert table.num_rows == m.units


def carehaven_validate(path: Path, m: Measure) -> None:
    spec = load_spec(DATASET)
    ctx = Context(org_code=ORG, period=parse_period(PERIOD))
    con = ibis.duckdb.connect()
    try:
        watch = Stopwatch()
        watch.lap("read bytes")
        data = path.read_bytes()
        watch.lap("read_table (parse)")
        table = read_table(data, spec, path.name)
        con.con.register("raw", table)
        watch.lap("validate (rules)")
        result = validate(con, "raw", spec, ctx)
        m.runs.append(watch.stop())
        m.stages.append(watch.stages)
        assert result.rows == m.units, f"validated {result.rows} rows"
        m.extra.update(rejected=result.rejected, findings=result.findings.num_rows)
    finally:
        con.disconnect()


def _fresh_haven(parent: Path) -> Any:
    haven = init_haven(Settings(haven=parent / "haven"), actor=ACTOR)
    haven.add_organisation(ORG, "treatment-service", "Benchmark provider", actor=ACTOR)
    return haven


def carehaven_submit(path: Path, m: Measure) -> None:
    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="haven-") as tmp:
        haven = _fresh_haven(Path(tmp))
        try:
            watch = Stopwatch()
            watch.lap("setup (spec, org, lock, recover)")
            result = submit(
                haven,
                path,
                dataset=DATASET,
                org=ORG,
                period=PERIOD,
                actor=ACTOR,
                progress=watch.lap,
            )
            m.runs.append(watch.stop())
            m.stages.append(watch.stages)
        finally:
            haven.close()
    assert result.rows_total == m.units, f"submitted {result.rows_total} rows"
    m.extra.update(status=result.status, accepted=result.rows_accepted)


def _cli_env() -> dict[str, str]:
    """The CLI as deployed: compiled bytecode cached (kept under .data, not beside the sources)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(DATA_DIR / "pycache")
    return env


def cli_startup(m: Measure) -> None:
    """``carehaven --help``: interpreter start-up plus importing every command module."""
    exe = Path(sys.executable).with_name("carehaven")
    with timed(m.runs):
        subprocess.run([str(exe), "--help"], capture_output=True, check=True, env=_cli_env())


def cli_submit(path: Path, m: Measure) -> None:
    exe = Path(sys.executable).with_name("carehaven")
    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="haven-") as tmp:
        _fresh_haven(Path(tmp)).close()
        cmd = [
            str(exe),
            "--haven",
            str(Path(tmp) / "haven"),
            "submit",
            str(path),
            "--dataset",
            DATASET,
            "--org",
            ORG,
            "--period",
            PERIOD,
            "--json",
        ]
        with timed(m.runs):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_cli_env())
    if done.returncode not in (0, 3):
        raise RuntimeError(f"carehaven submit failed ({done.returncode}): {done.stderr}")
    m.extra.update(status=json.loads(done.stdout)["status"])


#: The stated bound (docs/benchmarks.md): a submit's peak is at most its floor (the same
#: command on a 10-row file) plus a fixed allowance for the engines' buffers plus this multiple
#: of the file's size.
GOAL_MEMORY_FIXED_MB = 128.0
GOAL_MEMORY_MULTIPLE = 8.0


def _peak_mb(path: Path) -> float:
    """Peak resident memory (MB) of one ``carehaven submit`` process on ``path``, fresh haven."""
    exe = Path(sys.executable).with_name("carehaven")
    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="haven-") as tmp:
        _fresh_haven(Path(tmp)).close()
        peak = Path(tmp) / "peak"
        # GNU time, not this process's wait4: Linux counts a forked child's pages from before
        # its exec in its peak, so a child of this (large) process would report our size.
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(peak), str(exe), "--haven",
               str(Path(tmp) / "haven"), "submit", str(path), "--dataset", DATASET, "--org",
               ORG, "--period", PERIOD, "--json"]
        done = subprocess.run(cmd, capture_output=True, check=False, env=_cli_env())
        if done.returncode not in (0, 3):
            raise RuntimeError(f"carehaven submit failed ({done.returncode})")
        return int(peak.read_text().split()[-1]) / 1024  # kilobytes


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    sizes = [int(x) for x in args.memory_rows.split(",")]
    tiny = head_file(episodes_file(max(sizes)), 10)
    cli_startup(Measure("warm-up", 0))
    floor_mb = min(_peak_mb(tiny) for _ in range(2))
    rows_out = []
    for n in sizes:
        path = episodes_file(n)
        settle(args.settle)
        peak = _peak_mb(path)
        size_mb = path.stat().st_size / 2**20
        bound = floor_mb + GOAL_MEMORY_FIXED_MB + GOAL_MEMORY_MULTIPLE * size_mb
        rows_out.append({"rows": n, "file_mb": round(size_mb, 1), "peak_mb": round(peak),
                         "bound_mb": round(bound), "within": peak <= bound,
                         "multiple": round((peak - floor_mb) / size_mb, 2)})
    worst = max(r["multiple"] for r in rows_out)
    info["at_end"] = load_now()
    return {"machine": info, "floor_mb": round(floor_mb), "files": rows_out,
            "goals": {"memory_within_bound": all(r["within"] for r in rows_out)},
            "ratios": {"worst_multiple": worst}, "_measures": []}


def show_memory(out: dict[str, Any]) -> None:
    c = console()
    c.print(machine_line(out["machine"]))
    c.print(f"floor: carehaven submit of a 10-row file peaks at {out['floor_mb']:,} MB")
    for r in out["files"]:
        c.print(f"{r['rows']:>9,} rows, {r['file_mb']:>7.1f} MB file: peak {r['peak_mb']:>6,} MB "
                f"(bound {r['bound_mb']:,} MB), {r['multiple']:.1f}x the file above the floor")
    c.print(goals_table("Goal", [(
        "peak ≤ floor + fixed + multiple x file, every size",
        f"{GOAL_MEMORY_FIXED_MB:g} MB + {GOAL_MEMORY_MULTIPLE:g}x",
        f"worst {out['ratios']['worst_multiple']:.1f}x above floor",
        out["goals"]["memory_within_bound"])]))


def frictionless_validate(path: Path, m: Measure) -> None:
    from frictionless import Resource, Schema

    schema = Schema.from_descriptor(load_spec(DATASET).descriptor()["schema"])
    with timed(m.runs):
        # frictionless refuses an absolute path unless it is under basepath.
        resource = Resource(path=path.name, basepath=str(path.parent), schema=schema)
        report = resource.validate(limit_errors=0)  # 0: no error limit, so no early stop
    task = report.tasks[0]
    assert task.stats["rows"] == m.units, f"frictionless read {task.stats['rows']} rows"
    assert not task.warnings, task.warnings
    m.extra.update(valid=report.valid, errors=task.stats["errors"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    path = episodes_file(args.rows, invalid_rate=args.invalid_rate)
    rows = count_rows(path)
    assert rows == args.rows
    size = path.stat().st_size
    fl_rows = min(args.frictionless_rows, rows)
    fl_path = path if fl_rows == rows else head_file(path, fl_rows)
    path.read_bytes()  # warm the page cache so no measurement pays for the disk first

    m_floor = Measure("floor: DuckDB read_csv (all_varchar)", rows, note="in memory")
    m_arrow = Measure("pyarrow read_csv (all text)", rows, note="context: read_table's parser")
    m_val = Measure("carehaven validate", rows, note="read_table + validate, in memory")
    m_sub = Measure("carehaven submit (API)", rows, note="end to end, fresh haven on disk")
    m_cli = Measure("carehaven submit (CLI process)", rows, note="incl. start-up + imports")
    m_start = Measure("carehaven --help (CLI start-up)", 0, note="context: fixed cost")
    scaled = "" if fl_rows == rows else f"first {fl_rows:,} rows, scaled"
    m_fl = Measure("frictionless validate", fl_rows, note=scaled)
    measures = [m_floor, m_arrow, m_val, m_sub, *([m_cli, m_start] if args.cli else []), m_fl]
    if args.cli:
        cli_startup(Measure("warm-up", 0))  # fills the bytecode cache once
    for _ in range(args.repeat):
        for m, fn, target in (
            (m_floor, floor, path),
            (m_arrow, pyarrow_read, path),
            (m_val, carehaven_validate, path),
            (m_sub, carehaven_submit, path),
            *([(m_cli, cli_submit, path)] if args.cli else []),
            (m_fl, frictionless_validate, fl_path),
        ):
            gc.collect()
            m.idle.append(settle(args.settle))
            fn(target, m)
        if args.cli:
            cli_startup(m_start)

    vs_fl = m_val.rate / m_fl.rate
    ratios = {
        "submit_seconds": m_sub.best,
        "validate_vs_frictionless_throughput": vs_fl,
        "submit_vs_frictionless_throughput": m_sub.rate / m_fl.rate,
        "validate_vs_floor_time": m_val.best / m_floor.best,
        "submit_vs_floor_time": m_sub.best / m_floor.best,
        "validate_vs_pyarrow_read_time": m_val.best / m_arrow.best,
        "frictionless_seconds_scaled_to_file": rows / m_fl.rate,
    }
    goals = {
        "submit_under_10s": m_sub.best < GOAL_SUBMIT_S,
        "validate_20x_frictionless": vs_fl >= GOAL_VS_FRICTIONLESS,
        "validate_within_4x_floor": ratios["validate_vs_floor_time"] <= GOAL_VS_FLOOR,
    }
    info["at_end"] = load_now()
    return {
        "machine": info,
        "file": {
            "path": str(path),
            "rows": rows,
            "bytes": size,
            "invalid_rate": args.invalid_rate,
            "frictionless_rows": fl_rows,
        },
        "repeat": args.repeat,
        "measures": [m.as_json() for m in measures],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "goals": goals,
        "_measures": measures,
    }


def show(out: dict[str, Any]) -> None:
    c = console()
    f, r, g = out["file"], out["ratios"], out["goals"]
    measures: list[Measure] = out["_measures"]
    c.print(machine_line(out["machine"]))
    c.print(
        f"file: {Path(f['path']).name}, {f['rows']:,} rows, {f['bytes'] / 1e6:,.1f} MB, "
        f"invalid rate {f['invalid_rate']:g}; best of {out['repeat']}"
    )
    c.print(measures_table("Throughput", measures, "rows"))
    for m in measures:
        if m.stages:
            c.print(stages_table(f"Stages of {m.name.split(' (')[0]} (best run)", m.best_stages()))
    val = next(m for m in measures if m.name.startswith("carehaven validate"))
    sub = next(m for m in measures if m.name.startswith("carehaven submit (API"))
    fl = measures[-1]
    c.print(
        f"validate: {val.extra['rejected']:,} rows rejected, {val.extra['findings']:,} findings; "
        f"submit: {sub.extra['status']}, {sub.extra['accepted']:,} rows accepted; "
        f"frictionless: valid={fl.extra['valid']}, {fl.extra['errors']:,} errors"
    )
    c.print(
        goals_table(
            "Ratios and goals",
            [
                (
                    "full submit of the file",
                    f"< {GOAL_SUBMIT_S:g} s",
                    f"{r['submit_seconds']:.2f} s",
                    g["submit_under_10s"],
                ),
                (
                    "validate throughput ÷ frictionless",
                    f"≥ {GOAL_VS_FRICTIONLESS:g}x",
                    f"{r['validate_vs_frictionless_throughput']:.1f}x",
                    g["validate_20x_frictionless"],
                ),
                (
                    "validate time ÷ floor time",
                    f"≤ {GOAL_VS_FLOOR:g}x",
                    f"{r['validate_vs_floor_time']:.1f}x",
                    g["validate_within_4x_floor"],
                ),
                ("submit time ÷ floor time", "-", f"{r['submit_vs_floor_time']:.1f}x", None),
                (
                    "validate time ÷ pyarrow read_csv time",
                    "-",
                    f"{r['validate_vs_pyarrow_read_time']:.1f}x",
                    None,
                ),
                (
                    "submit throughput ÷ frictionless",
                    "-",
                    f"{r['submit_vs_frictionless_throughput']:.1f}x",
                    None,
                ),
                (
                    "frictionless on the whole file (scaled)",
                    "-",
                    f"{r['frictionless_seconds_scaled_to_file']:.0f} s",
                    None,
                ),
            ],
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--frictionless-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    parser.add_argument(
        "--invalid-rate",
        type=float,
        default=0.0,
        help="share of rows given one planted fault (default: a valid file)",
    )
    parser.add_argument(
        "--no-cli", dest="cli", action="store_false", help="skip the CLI-process measurement"
    )
    parser.add_argument("--memory", action="store_true",
                        help="measure a submit's peak memory against the file's size instead")
    parser.add_argument("--memory-rows", default="25000,100000,200000",
                        help="file sizes for --memory, in rows (comma-separated)")
    add_output_args(parser)
    args = parser.parse_args(argv)
    if args.memory:
        report(run_memory(args), args, show_memory)
        return
    report(run(args), args, show)


if __name__ == "__main__":
    main()
