"""A chart per published table: a PNG, and an accessible HTML page with the same data.

Horizontal bars, because category names (local authorities, substances) are long and read
best down the side. The first dimension gives the bars and the second, if any, groups them;
further dimensions are held at Total. Bars are grouped, never stacked: a suppressed segment in
a stack would either need a length (imputing the hidden number) or shift every segment after
it. A suppressed cell gets no bar, only a small hatched placeholder of fixed size and a
``[c]`` label, and the caption says the placeholder's length means nothing.

At most about 40 categories fit on one chart; a longer dimension is shown at its first level
below Total (regions rather than authorities), or as its largest codes, and the caption says
what was left out. The HTML page is self-contained (inline SVG, no scripts, no web fonts:
matplotlib draws text as paths) and carries the chart's data as a table for screen readers.
"""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import dataclass, field

import jinja2
import numpy as np
from markupsafe import Markup, escape
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from carehaven.disclosure.table import TOTAL, Hierarchy
from carehaven.publish import atomic
from carehaven.publish.model import (
    MARKER_MEANING,
    NOT_AVAILABLE,
    SHOWN,
    SUPPRESSED,
    Published,
    format_number,
)

MAX_CATEGORIES = 40
MAX_SERIES = 6
MAX_BARS = 120  # categories x series; beyond this a chart stops being readable
MAX_LABEL = 40

#: Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


@dataclass
class _Pick:
    """The codes of one dimension shown on the chart, and a sentence on what was left out."""

    codes: list[str]
    what: str  # e.g. "each substance", "each region (first level below Total)"
    left_out: str = ""


@dataclass
class _ChartData:
    categories: _Pick
    series: _Pick | None
    cells: list[list[int]]  # cells[s][c]: the cell of series s, category c
    fixed: list[str] = field(default_factory=list)  # dimensions held at Total

    def markers(self, pub: Published) -> list[str]:
        return [pub.marker[i] for row in self.cells for i in row]


def write_chart(
    pub: Published, png_path: str | os.PathLike[str], html_path: str | os.PathLike[str]
) -> None:
    """Draw ``pub`` as a bar chart to ``png_path`` and an accessible page to ``html_path``."""
    data = _chart_data(pub)
    caption = _caption(pub, data)
    with rc_context({"text.parse_math": False, "svg.fonttype": "path", "svg.hashsalt": "ch"}):
        fig = _draw(pub, data, caption)
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
        fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    atomic.write_bytes(png_path, png.getvalue())
    atomic.write_text(html_path, _html(pub, data, caption, svg.getvalue().decode("utf-8")))


def _ranked(pub: Published, d: int, codes: tuple[str, ...], cap: int) -> list[str]:
    """The ``cap`` codes with the largest shown margin; hidden margins rank last."""
    index = pub.index()
    total = [TOTAL] * len(pub.dims)

    def margin(code: str) -> float:
        key = (*total[:d], code, *total[d + 1 :])
        value = pub.shown[index[key]]
        return float("-inf") if np.isnan(value) else float(value)

    return sorted(codes, key=margin, reverse=True)[:cap]


def _pick(pub: Published, d: int, cap: int) -> _Pick:
    dim: Hierarchy = pub.dims[d]
    leaves = dim.leaves
    if len(leaves) <= cap:
        return _Pick(list(leaves), f"each {dim.name}")
    top = dim.children[TOTAL]
    if len(top) <= cap:
        return _Pick(list(top), f"each {dim.name} group (first level below Total)",
                     f"The {len(leaves)} {dim.name} codes are too many to show one by one, "
                     f"so their {len(top)} groups are shown instead.")
    best = _ranked(pub, d, top, cap)
    return _Pick(best, f"the {cap} largest {dim.name} codes",
                 f"{len(top) - cap} of {len(top)} {dim.name} codes are left out: only the "
                 f"{cap} with the largest shown totals are drawn (hidden totals rank last).")


def _chart_data(pub: Published) -> _ChartData:
    index = pub.index()
    rest = [TOTAL] * max(len(pub.dims) - 2, 0)
    fixed = [d.name for d in pub.dims[2:]]
    if len(pub.dims) == 1:
        cats = _pick(pub, 0, MAX_CATEGORIES)
        return _ChartData(cats, None, [[index[(c,)] for c in cats.codes]])
    series = _pick(pub, 1, MAX_SERIES)
    cap = max(5, min(MAX_CATEGORIES, MAX_BARS // len(series.codes)))
    cats = _pick(pub, 0, cap)
    cells = [[index[(c, s, *rest)] for c in cats.codes] for s in series.codes]
    return _ChartData(cats, series, cells, fixed)


def _caption(pub: Published, data: _ChartData) -> str:
    what = pub.counts_phrase.lower() if pub.counts != "value" else "the value"
    parts = [f"Bars show {what} for {data.categories.what}"]
    if data.series is not None:
        parts[0] += f", grouped by {data.series.what.removeprefix('each ')}"
    parts[0] += f", {pub.period}."
    if data.fixed:
        parts.append(f"{', '.join(data.fixed)}: all (Total).")
    marks = data.markers(pub)
    c, x = marks.count(SUPPRESSED), marks.count(NOT_AVAILABLE)
    parts.append(
        f"{c} of the {len(marks)} cells drawn {'is' if c == 1 else 'are'} suppressed "
        f"({SUPPRESSED}, "
        f"{MARKER_MEANING[SUPPRESSED]}): they have no bar, only a hatched placeholder whose "
        "length means nothing."
    )
    if x:
        parts.append(f"{x} {'cell is' if x == 1 else 'cells are'} {NOT_AVAILABLE} "
                     f"({MARKER_MEANING[NOT_AVAILABLE]}).")
    parts += [p.left_out for p in (data.categories, data.series) if p is not None and p.left_out]
    parts.append(f"Source: {pub.dataset}.")
    return " ".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "\u2026"


def _draw(pub: Published, data: _ChartData, caption: str) -> Figure:
    n_cat, n_ser = len(data.categories.codes), len(data.cells)
    per_category = max(0.3, 0.15 * n_ser + 0.1)
    fig = Figure(figsize=(10, 2.4 + n_cat * per_category), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [pub.shown[i] for row in data.cells for i in row if pub.marker[i] == SHOWN]
    low = min(0.0, *values) if values else 0.0
    high = max(0.0, *values) if values else 1.0
    span = (high - low) or 1.0
    stub = span * 0.025  # placeholder width: fixed, so it cannot be read as a number
    height = 0.8 / n_ser
    for s, row in enumerate(data.cells):
        colour = PALETTE[s % len(PALETTE)]
        for c, i in enumerate(row):
            y = c + (s - (n_ser - 1) / 2) * height
            mark = pub.marker[i]
            if mark == SHOWN:
                value = float(pub.shown[i])
                ax.barh(y, value, height=height * 0.9, color=colour)
                ax.text(value + (stub * 0.3 if value >= 0 else -stub * 0.3), y,
                        format_number(value, grouping=True), va="center",
                        ha="left" if value >= 0 else "right", fontsize=7)
            else:
                ax.add_patch(Rectangle(
                    (0, y - height * 0.45), stub, height * 0.9, facecolor="white",
                    edgecolor=colour, hatch="////" if mark == SUPPRESSED else "..",
                    linestyle="-" if mark == SUPPRESSED else ":",
                ))
                ax.text(stub * 1.3, y, mark, va="center", ha="left", fontsize=7,
                        fontweight="bold")
    ax.set_yticks(range(n_cat))
    ax.set_yticklabels([_short(pub.label(0, c)) for c in data.categories.codes], fontsize=8)
    ax.set_ylim(n_cat - 0.5, -0.5)  # first category at the top
    ax.set_xlim(low - (span * 0.12 if low < 0 else 0), high + span * 0.12)
    ax.set_xlabel(pub.counts_phrase)
    ax.set_ylabel(pub.dims[0].name)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    ax.set_title("\n".join(textwrap.wrap(pub.title, 80)), loc="left", fontsize=11)
    handles = _legend(pub, data)
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=8)
    # Below the figure's edge: savefig(bbox_inches="tight") grows the image to include it.
    fig.text(0.01, -0.01, "\n".join(textwrap.wrap(caption, 130)), fontsize=7, va="top",
             ha="left")
    return fig


def _legend(pub: Published, data: _ChartData) -> list[Patch]:
    handles: list[Patch] = []
    if data.series is not None:
        handles += [Patch(color=PALETTE[s % len(PALETTE)], label=_short(pub.label(1, code)))
                    for s, code in enumerate(data.series.codes)]
    marks = data.markers(pub)
    if SUPPRESSED in marks or not handles:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="////",
                             label=f"{SUPPRESSED} suppressed: no bar, value hidden"))
    if NOT_AVAILABLE in marks:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="..", linestyle=":",
                             label=f"{NOT_AVAILABLE} not available"))
    return handles


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_PAGE = _ENV.from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ pub.title }}</title>
<style>
body { font-family: Arial, Helvetica, sans-serif; max-width: 60rem; margin: 1rem auto;
       padding: 0 1rem; color: #0b0c0c; line-height: 1.4; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; }
table { border-collapse: collapse; margin: 1rem 0; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
th, td { border: 1px solid #b1b4b6; padding: 0.25rem 0.5rem; }
th { text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<main>
<h1>{{ pub.title }}</h1>
{% if pub.description %}<p>{{ pub.description }}</p>{% endif %}
<figure>
{{ svg }}
<figcaption>{{ caption }}</figcaption>
</figure>
<table>
<caption>Data for the chart: {{ pub.title }}. {{ marker_text }}</caption>
<thead>
<tr><th scope="col">{{ row_head }}</th>
{%- for head in column_heads %}<th scope="col">{{ head }}</th>{% endfor %}</tr>
</thead>
<tbody>
{% for row in rows -%}
<tr><th scope="row">{{ row.label }}</th>
{%- for cell in row.cells %}<td>
{%- if cell.marker %}<abbr title="{{ cell.meaning }}">{{ cell.marker }}</abbr>
{%- else %}{{ cell.text }}{% endif %}</td>{% endfor %}</tr>
{% endfor -%}
</tbody>
</table>
{% if pub.notes %}
<h2>Notes</h2>
<ol>
{% for note in pub.notes %}<li>{{ note }}</li>
{% endfor %}</ol>
{% endif %}
<p>Source: {{ pub.dataset }}, {{ pub.period }}.</p>
</main>
</body>
</html>
""")


def _html(pub: Published, data: _ChartData, caption: str, svg: str) -> str:
    summary = f"Horizontal bar chart: {pub.title}. {caption}"
    rows = []
    for c, code in enumerate(data.categories.codes):
        cells = []
        for row in data.cells:
            i = row[c]
            mark = pub.marker[i]
            cells.append({
                "marker": mark,
                "meaning": MARKER_MEANING.get(mark, ""),
                "text": "" if mark else format_number(float(pub.shown[i]), grouping=True),
            })
        rows.append({"label": pub.label(0, code), "cells": cells})
    if data.series is None:
        heads = [pub.counts_phrase]
    else:
        heads = [pub.label(1, code) for code in data.series.codes]
    marker_text = (f"{SUPPRESSED} means {MARKER_MEANING[SUPPRESSED]}; "
                   f"{NOT_AVAILABLE} means {MARKER_MEANING[NOT_AVAILABLE]}.")
    return _PAGE.render(
        pub=pub, svg=_accessible_svg(svg, summary), caption=caption, rows=rows,
        column_heads=heads, row_head=pub.dims[0].name, marker_text=marker_text,
    )


def _accessible_svg(svg: str, summary: str) -> Markup:
    """matplotlib's SVG, trimmed to the element and labelled for assistive technology."""
    start = svg.index("<svg")
    body = svg[start:]
    close = body.index(">")
    label = escape(summary)
    opening = f'<svg role="img" aria-label="{label}"{body[4:close]}>'
    return Markup(f"{opening}<title>{label}</title>{body[close + 1 :]}")  # noqa: S704
