"""Publication tables as data (``definitions.json``): what each counts, by what, under what policy.

A definition names its dataset, a *selection* (which rows count in a period, in
``selections.py``), what a cell counts (people, episodes, events, or a value such as cost), its
dimensions with their hierarchies, and its disclosure policy (the file's default unless the
table overrides it). The loader checks every definition against the dataset specs, so a typo is
an error when the haven starts, not an empty table at publication.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from carehaven.disclosure.policy import Dominance, Policy
from carehaven.errors import NotFoundError
from carehaven.specs import load_spec

HIERARCHIES = ("local-authority", "category")
COUNTS = ("people", "episodes", "events", "value")


@dataclass(frozen=True)
class DimensionDef:
    name: str
    field: str
    hierarchy: str
    codes: tuple[str, ...] | None = None  # fixed codes (derived fields); else the spec's enum


@dataclass(frozen=True)
class TableDef:
    name: str
    dataset: str
    selection: str
    counts: str
    flow: bool
    title: str
    description: str
    dimensions: tuple[DimensionDef, ...]
    policy: Policy



def _policy(raw: dict[str, Any]) -> Policy:
    dominance = raw.get("dominance")
    return Policy(
        threshold=raw.get("threshold"),
        round_base=raw.get("round_base"),
        dominance=Dominance(**dominance) if dominance else None,
        safety_range=float(raw.get("safety_range", 30.0)),
    )


def _parse(raw: dict[str, Any], default: dict[str, Any]) -> TableDef:
    from carehaven.publish.selections import SELECTIONS

    name = str(raw["name"])
    spec = load_spec(str(raw["dataset"]))
    if raw["selection"] not in SELECTIONS:
        raise ValueError(f"publication {name}: unknown selection {raw['selection']!r}")
    if raw["counts"] not in COUNTS:
        raise ValueError(f"publication {name}: counts must be one of {', '.join(COUNTS)}")
    dims: list[DimensionDef] = []
    for d in raw["dimensions"]:
        if d["hierarchy"] not in HIERARCHIES:
            raise ValueError(f"publication {name}: unknown hierarchy {d['hierarchy']!r}")
        codes = tuple(d["codes"]) if "codes" in d else None
        if codes is None:
            if d["field"] not in spec.field_names:
                raise ValueError(f"publication {name}: {spec.name} has no field {d['field']!r}")
            if d["hierarchy"] == "category" and not spec.field(d["field"]).enum:
                raise ValueError(f"publication {name}: {d['field']} has no codes to list")
        dims.append(DimensionDef(str(d["name"]), str(d["field"]), str(d["hierarchy"]), codes))
    return TableDef(
        name=name,
        dataset=spec.name,
        selection=str(raw["selection"]),
        counts=str(raw["counts"]),
        flow=bool(raw["flow"]),
        title=str(raw["title"]),
        description=str(raw["description"]),
        dimensions=tuple(dims),
        policy=_policy({**default, **raw.get("policy", {})}),
    )


@cache
def definitions() -> dict[str, TableDef]:
    text = resources.files("carehaven.publish").joinpath("definitions.json").read_text()
    raw = json.loads(text)
    out = [_parse(t, raw["default_policy"]) for t in raw["tables"]]
    return {t.name: t for t in out}


def definition(name: str) -> TableDef:
    try:
        return definitions()[name]
    except KeyError:
        known = ", ".join(definitions())
        raise NotFoundError(
            f"There is no publication table {name!r}; choose from {known}."
        ) from None
