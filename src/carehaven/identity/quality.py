"""The linkage quality report: Splink's own charts, cluster sizes, and the false-match estimate.

The estimated false-match rate is the model's own: each accepted pair is a false match with
probability 1 - p, so the expected share of false matches among accepted pairs is the mean of
1 - p. It is an estimate from a model trained without labels, not a measurement; the benchmarks
measure against known truth.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from carehaven.identity.link import LinkResult

CHARTS = {
    "match_weights.html": "match_weights_chart",
    "m_u_parameters.html": "m_u_parameters_chart",
}


def cluster_sizes(labels: np.ndarray[Any, Any]) -> dict[int, int]:
    """How many people have 1, 2, 3, ... profiles."""
    _, sizes = np.unique(labels, return_counts=True)
    values, counts = np.unique(sizes, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def summary(result: LinkResult) -> dict[str, Any]:
    res = result.resolution
    assert res is not None
    accepted = res.accepted
    weights = res.weights
    hist, edges = (
        np.histogram(weights, bins=40) if len(weights) else (np.empty(0), np.empty(0))
    )
    return {
        "run": result.run,
        "records": result.records,
        "profiles": result.profiles,
        "people": result.people,
        "merged_by_rule": result.merged_by_rule,
        "merged_by_model": result.merged_by_model,
        "merged_by_decision": result.merged_by_decision,
        "waiting_review": result.waiting_review,
        "model_used": result.model_used,
        "accepted_pairs": len(accepted),
        "estimated_false_matches": round(float(np.sum(1.0 - accepted)), 2),
        "estimated_false_match_rate": round(float(np.mean(1.0 - accepted)), 6)
        if len(accepted)
        else 0.0,
        "refused_model_matches": res.clusters.refused,
        "cluster_sizes": cluster_sizes(res.clusters.labels),
        "match_weight_histogram": {
            "edges": [round(float(e), 3) for e in edges],
            "counts": [int(c) for c in hist],
        },
        "timings_s": result.timings,
    }


def write_report(result: LinkResult, folder: Path) -> list[Path]:
    """Write ``quality.json``, ``index.html`` and Splink's charts into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    facts = summary(result)
    written: list[Path] = []
    res = result.resolution
    if res is not None and res.linker is not None:
        for name, method in CHARTS.items():
            chart = getattr(res.linker.visualisations, method)()
            chart.save(str(folder / name))
            written.append(folder / name)
    written.append(_histogram(facts, folder / "match_weight_histogram.html"))
    written.append(_sizes_chart(facts, folder / "cluster_sizes.html"))
    (folder / "quality.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    written.append(folder / "quality.json")
    (folder / "index.html").write_text(_index(facts, written), encoding="utf-8")
    written.append(folder / "index.html")
    return written


def _vega_page(title: str, spec: dict[str, Any]) -> str:
    import altair as alt

    spec = {**spec, "description": title}
    return str(alt.Chart.from_dict(spec).to_html())


def _histogram(facts: dict[str, Any], path: Path) -> Path:
    edges = facts["match_weight_histogram"]["edges"]
    counts = facts["match_weight_histogram"]["counts"]
    values = [
        {"weight_from": edges[i], "weight_to": edges[i + 1], "pairs": c}
        for i, c in enumerate(counts)
    ]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Match weight of every scored candidate pair",
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": "weight_from", "type": "quantitative", "bin": {"binned": True},
                  "title": "match weight"},
            "x2": {"field": "weight_to"},
            "y": {"field": "pairs", "type": "quantitative", "scale": {"type": "symlog"}},
        },
        "width": 600,
    }
    path.write_text(_vega_page("Match weights", spec), encoding="utf-8")
    return path


def _sizes_chart(facts: dict[str, Any], path: Path) -> Path:
    values = [{"profiles": int(k), "people": v} for k, v in facts["cluster_sizes"].items()]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "People by number of profiles (cluster size)",
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": "profiles", "type": "ordinal"},
            "y": {"field": "people", "type": "quantitative", "scale": {"type": "symlog"}},
        },
        "width": 600,
    }
    path.write_text(_vega_page("Cluster sizes", spec), encoding="utf-8")
    return path


def _index(facts: dict[str, Any], files: list[Path]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
        if k not in ("match_weight_histogram", "cluster_sizes", "timings_s")
    )
    sizes = "".join(
        f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in facts["cluster_sizes"].items()
    )
    links = "".join(
        f'<li><a href="{html.escape(f.name)}">{html.escape(f.name)}</a></li>'
        for f in files
        if f.suffix == ".html"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Linkage quality, run {facts['run']}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;}}
th{{text-align:left;padding-right:2rem}}td{{text-align:right}}</style></head>
<body><h1>Linkage quality, run {facts['run']}</h1>
<p>The estimated false-match rate is the model's own estimate (mean of 1 - p over the pairs it
accepted), not a measurement against truth.</p>
<table>{rows}</table>
<h2>Cluster sizes</h2><table><tr><th>profiles per person</th><th>people</th></tr>{sizes}</table>
<h2>Charts</h2><ul>{links}</ul></body></html>
"""
