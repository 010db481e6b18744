"""Shared by the benchmarks: timing, machine facts, and printing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Measure:
    """Repeated timings of one measurement; ``best`` (the least disturbed run) is reported."""

    name: str
    units: int  # rows or entries handled per run
    runs: list[float] = field(default_factory=list)
    note: str = ""
    stages: list[dict[str, float]] = field(default_factory=list)  # per run: stage -> seconds
    extra: dict[str, Any] = field(default_factory=dict)
    idle: list[float | None] = field(default_factory=list)  # idle CPU share before each run

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def rate(self) -> float:
        return self.units / self.best

    def best_stages(self) -> dict[str, float]:
        if not self.stages:
            return {}
        return self.stages[self.runs.index(self.best)]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "units": self.units,
            "seconds_best": round(self.best, 4),
            "seconds_median": round(self.median, 4),
            "seconds_runs": [round(r, 4) for r in self.runs],
            "per_second": round(self.rate, 1),
            "stages": {k: round(v, 4) for k, v in self.best_stages().items()},
            "cpu_idle_before_runs": self.idle,
            "note": self.note,
            **self.extra,
        }


class Stopwatch:
    """Named laps: ``lap("x")`` closes the current stage and opens stage ``x``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._name: str | None = None
        self._at = time.perf_counter()
        self.started = self._at

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self._name is not None:
            self.stages[self._name] = self.stages.get(self._name, 0.0) + now - self._at
        self._name, self._at = name, now

    def stop(self) -> float:
        self.lap("")
        self.stages.pop("", None)
        return self._at - self.started


@contextmanager
def timed(into: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into.append(time.perf_counter() - start)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "-"


def _memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return 0.0


def cpu_pressure() -> float | None:
    """Share of the last 60 s in which some runnable task waited for a CPU (Linux PSI), in %."""
    try:
        with open("/proc/pressure/cpu") as fh:
            first = fh.readline().split()
    except OSError:
        return None
    return float(dict(kv.split("=") for kv in first[1:])["avg60"])


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return idle, sum(values)


def idle_share(interval: float = 1.0) -> float | None:
    """Share of all CPUs left idle by every process over the next ``interval`` seconds."""
    before = _cpu_times()
    time.sleep(interval)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def settle(max_wait: float, quiet: float = 0.9) -> float | None:
    """On a shared machine, wait (up to ``max_wait`` s) until other work leaves the CPUs idle.

    Quiet means at least ``quiet`` of all CPU time idle over a one-second sample; returns the
    idle share it last saw, which each measurement keeps beside its timings.
    """
    if max_wait <= 0:
        return None
    deadline = time.monotonic() + max_wait
    idle = idle_share()
    while idle is not None and idle < quiet and time.monotonic() < deadline:
        idle = idle_share()
    return None if idle is None else round(idle, 3)


def load_now() -> dict[str, Any]:
    return {"load_avg_1m": round(os.getloadavg()[0], 2), "cpu_pressure_avg60": cpu_pressure()}


def _git(*args: str) -> str:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def code_version() -> str:
    """The commit measured, marked ``+dirty`` when src/ differs from it."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if _git("status", "--porcelain", "--", "../src") else "")


def machine() -> dict[str, Any]:
    return {
        "commit": code_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": round(_memory_gb(), 1),
        "at_start": load_now(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "duckdb": _version("duckdb"),
        "ibis": _version("ibis-framework"),
        "pyarrow": _version("pyarrow"),
        "numpy": _version("numpy"),
        "frictionless": _version("frictionless"),
        "sqlalchemy": _version("sqlalchemy"),
        "sqlite": sqlite3.sqlite_version,
        "carehaven": _version("carehaven"),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['date']} · commit {m['commit']} · "
        f"{m['nproc']} cores ({m['cpu']}) · {m['memory_gb']} GB · "
        f"{_busy(m)} · Python {m['python']} · "
        f"DuckDB {m['duckdb']} · Ibis {m['ibis']} · pyarrow {m['pyarrow']} · "
        f"frictionless {m['frictionless']} · SQLite {m['sqlite']}"
    )


def _busy(m: dict[str, Any]) -> str:
    parts = []
    for when in ("at_start", "at_end"):
        if when in m:
            load = m[when]
            parts.append(
                f"load {load['load_avg_1m']}, CPU pressure {load['cpu_pressure_avg60']}% "
                + when.replace("_", " ")
            )
    return " / ".join(parts)


def measures_table(title: str, measures: list[Measure], unit: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("measurement")
    t.add_column(unit, justify="right")
    t.add_column("seconds (best)", justify="right")
    t.add_column("median", justify="right")
    t.add_column(f"{unit}/s", justify="right")
    t.add_column("note")
    for m in measures:
        t.add_row(
            m.name,
            f"{m.units:,}" if m.units else "-",
            f"{m.best:.2f}",
            f"{m.median:.2f}",
            f"{m.rate:,.0f}" if m.units else "-",
            m.note,
        )
    return t


def stages_table(title: str, stages: dict[str, float]) -> Table:
    total = sum(stages.values()) or 1.0
    t = Table(title=title, title_justify="left")
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    t.add_column("share", justify="right")
    for name, secs in stages.items():
        t.add_row(name, f"{secs:.2f}", f"{secs / total:.0%}")
    return t


def goals_table(title: str, rows: list[tuple[str, str, str, bool | None]]) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("ratio / goal")
    t.add_column("target", justify="right")
    t.add_column("measured", justify="right")
    t.add_column("met")
    for name, target, measured, met in rows:
        shown = "-" if met is None else ("[green]yes[/]" if met else "[red]NO[/]")
        t.add_row(name, target, measured, shown)
    return t


def console() -> Console:
    return Console(width=120)


Step = Callable[[str], None]


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: waiting for idle CPUs, JSON, saving."""
    parser.add_argument(
        "--settle",
        type=float,
        default=120.0,
        help="before each run wait up to this many seconds for idle CPUs (0: don't wait)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save", type=Path, help="also write the JSON to this file")


def report(
    out: dict[str, Any], args: argparse.Namespace, show: Callable[[dict[str, Any]], None]
) -> None:
    """Print the tables (or JSON), and save the JSON when asked."""
    if not args.json:
        show(out)
    out.pop("_measures")
    if args.save:
        args.save.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
