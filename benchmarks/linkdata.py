"""Synthetic collections and loaded havens for the linkage benchmark, built once and cached.

``carehaven.synth.synthesise`` writes a collection (return files, ``manifest.json`` and the
truth) for a number of people and a seed; a haven is then built from it with every file of the
chosen datasets submitted except the last period's. The last period is submitted by the
benchmark itself into a working copy, so "one more quarter" can be measured as well as a full
link of the whole collection. Both are cached under ``benchmarks/.data/link/``, named by people,
seed and a digest of the code that makes them (the synthesiser, the specs, the collection
pipeline and the control-plane migrations), so a change to that code builds them afresh.

    uv run python benchmarks/linkdata.py --people 300000 [--kind full|ndtms]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.haven import init_haven, open_haven
from carehaven.synth import synthesise

ACTOR = "bench"
SEED = 20251121
DATA_DIR = Path(__file__).resolve().parent / ".data" / "link"
#: Bump when the way a cached haven is built changes.
LAYOUT = 1
#: What each kind of haven holds: the ndtms kind only NDTMS episode returns (an NDTMS-sized
#: run); the full kind every dataset the collection has.
KINDS: dict[str, tuple[str, ...] | None] = {"ndtms": ("ndtms-episode",), "full": None}

_SRC = Path(__file__).resolve().parents[1] / "src" / "carehaven"

Say = Callable[[str], None]


def _digest(folders: Iterable[Path]) -> str:
    h = hashlib.sha256(str(LAYOUT).encode())
    for folder in folders:
        for path in sorted(
            p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ):
            h.update(str(path.relative_to(_SRC)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def synth_version() -> str:
    return _digest([_SRC / "synth", _SRC / "specs"])


def haven_version() -> str:
    return _digest(
        [_SRC / "synth", _SRC / "specs", _SRC / "collection", _SRC / "control" / "migrations"]
    )


def _quiet(_: str) -> None:
    """Progress nobody watches."""


def collection(people: int, seed: int, say: Say = _quiet) -> Path:
    """The synthetic collection for ``people`` and ``seed`` (written on first use)."""
    out = DATA_DIR / f"synth-p{people}-seed{seed}-{synth_version()}"
    if (out / "manifest.json").exists():
        return out
    _prune(f"synth-p{people}-seed{seed}-*")
    part = out.with_name(out.name + ".part")
    say(f"synthesising {people:,} people (seed {seed}) into {out.name}")
    started = time.perf_counter()
    synthesise(part, people=people, seed=seed)
    part.rename(out)
    say(f"  done in {time.perf_counter() - started:.0f} s")
    return out


def _prune(pattern: str) -> None:
    """Remove what an older version of the code cached for the same people and seed."""
    for old in DATA_DIR.glob(pattern):
        shutil.rmtree(old, ignore_errors=True)


def manifest(source: Path) -> dict[str, Any]:
    return json.loads((source / "manifest.json").read_text())


@dataclass(frozen=True)
class Build:
    """A cached haven with every file but the last period's, and what is left to submit."""

    kind: str
    people: int
    seed: int
    source: Path  # the synthetic collection
    base: Path  # the cached haven (never linked, never written to by a benchmark)
    periods: tuple[str, ...]
    last: tuple[dict[str, Any], ...]  # manifest entries of the last period's files

    @property
    def last_period(self) -> str:
        return self.periods[-1]

    def rows_last(self) -> int:
        return sum(int(f["rows"]) for f in self.last)


def _files(source: Path, kind: str) -> list[dict[str, Any]]:
    datasets = KINDS[kind]
    return [f for f in manifest(source)["files"] if datasets is None or f["dataset"] in datasets]


def submit_files(root: Path, source: Path, files: Iterable[dict[str, Any]]) -> int:
    """Submit manifest ``files`` of ``source`` to the haven at ``root``; the rows accepted."""
    haven = open_haven(Settings.load(haven=root))
    accepted = 0
    try:
        for f in files:
            result = submit(
                haven,
                source / f["path"],
                dataset=f["dataset"],
                org=f["org"],
                period=f["period"],
                actor=ACTOR,
            )
            accepted += result.rows_accepted
    finally:
        haven.close()
    return accepted


def haven_build(kind: str, people: int, seed: int, say: Say = _quiet) -> Build:
    """The cached haven of ``kind`` for the collection of ``people`` and ``seed``."""
    source = collection(people, seed, say)
    m = manifest(source)
    periods = tuple(m["periods"])
    files = _files(source, kind)
    last = tuple(f for f in files if f["period"] == periods[-1])
    base = DATA_DIR / f"haven-{kind}-p{people}-seed{seed}-to{periods[-2]}-{haven_version()}"
    if not (base / "haven.json").exists():
        _prune(f"haven-{kind}-p{people}-seed{seed}-*")
        part = base.with_name(base.name + ".part")
        earlier = [f for f in files if f["period"] != periods[-1]]
        say(f"building the {kind} haven {base.name}: {len(earlier)} files")
        started = time.perf_counter()
        haven = init_haven(Settings.load(haven=part), actor=ACTOR)
        try:
            for o in m["organisations"]:
                haven.add_organisation(o["code"], o["kind"], o["name"], actor=ACTOR)
        finally:
            haven.close()
        submit_files(part, source, earlier)
        part.rename(base)
        say(f"  done in {time.perf_counter() - started:.0f} s")
    return Build(kind, people, seed, source, base, periods, last)


def working_copy(build: Build, into: Path) -> Path:
    """A private copy of the cached haven that a benchmark may link and submit to."""
    shutil.copytree(build.base, into)
    return into


def code_digest() -> str:
    """A digest of all of carehaven's source, to notice code that changed during a run."""
    return _digest([_SRC])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--kind", choices=sorted(KINDS), default="full")
    args = parser.parse_args()
    build = haven_build(args.kind, args.people, args.seed, say=print)
    print(f"{build.base} (last period {build.last_period}: {build.rows_last():,} rows to submit)")


if __name__ == "__main__":
    main()
