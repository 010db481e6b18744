"""Generalisation hierarchies for quasi-identifiers, declared per field in the dataset specs.

Each hierarchy turns a column into a list of levels, from the value itself (level 0) to ``*``
(the value withheld). Every level is an Ibis string expression of the column, and a missing
value is ``(blank)`` at every level below ``*``, so generalised values compare and group like
any other string on every engine.

- ``age``: years, 5-year bands, 10-year bands, 20-year bands; 90 and over is always ``90+``
  (top-coded, as the ONS publishes ages).
- ``postcode-district``: district (``B12``), postcode area (``B``).
- ``local-authority``: ONS authority code, its region (``regions.json``; ``Other`` if unknown).
- ``date``: month (``2025-03``), quarter (``2025Q1``), year. Never the day.
- ``category``: the code, then its group (the text before ``:`` in the descriptor's labels,
  e.g. ``Paid``) where the codes have groups.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import ibis
import ibis.expr.types as ir

BLANK = "(blank)"
TOP = "*"
TOP_AGE = 90


@cache
def regions() -> dict[str, str]:
    """ONS local authority code to ONS region code."""
    text = resources.files("carehaven.pseudonymise").joinpath("regions.json").read_text()
    return dict(json.loads(text)["authorities"])


@cache
def region_names() -> dict[str, str]:
    """ONS region code to its name."""
    text = resources.files("carehaven.pseudonymise").joinpath("regions.json").read_text()
    return dict(json.loads(text)["regions"])


def _blank(value: ir.StringValue, raw: ir.Value) -> ir.StringValue:
    return ibis.ifelse(raw.isnull(), BLANK, value)


def _band(age: ir.IntegerValue, width: int) -> ir.StringValue:
    lo = (age // width) * width
    hi = ibis.least(lo + width - 1, TOP_AGE - 1)  # 80-89, not 80-99: 90 and over is 90+
    band = lo.cast("string").concat("-", hi.cast("string"))
    return ibis.ifelse(age >= TOP_AGE, f"{TOP_AGE}+", band)


def levels(kind: str, col: ir.Value, enum: tuple[str, ...] | None = None) -> list[ir.StringValue]:
    """The generalisation levels of ``col`` under hierarchy ``kind``, the last being ``*``."""
    out: list[ir.StringValue]
    if kind == "age":
        age = col.cast("int64")
        exact = ibis.ifelse(age >= TOP_AGE, f"{TOP_AGE}+", age.cast("string"))
        out = [_blank(v, col) for v in (exact, _band(age, 5), _band(age, 10), _band(age, 20))]
    elif kind == "postcode-district":
        s = col.cast("string").upper()
        out = [_blank(s, col), _blank(s.re_extract(r"^([A-Z]+)", 1), col)]
    elif kind == "local-authority":
        s = col.cast("string")
        region = s.substitute(regions(), else_="Other")
        out = [_blank(s, col), _blank(region, col)]
    elif kind == "date":
        d = col.cast("date")
        quarter = d.year().cast("string").concat("Q", d.quarter().cast("string"))
        out = [
            _blank(d.strftime("%Y-%m"), col),
            _blank(quarter, col),
            _blank(d.year().cast("string"), col),
        ]
    elif kind == "category":
        s = col.cast("string")
        out = [_blank(s, col)]
        groups = {v: v.split(":", 1)[0].strip() for v in enum or () if ":" in v}
        if groups:
            out.append(_blank(s.substitute(groups, else_=s), col))
    else:
        raise ValueError(f"unknown hierarchy {kind!r}")
    return [*out, ibis.literal(TOP)]
