"""What identity may use to decide a match: the identifiers the notices name (IDN-1) and the
strong keys, never a special-category field (IDN-5: ethnicity, religion, sexual orientation,
disability are collected to prevent disadvantage, not to identify anyone). A stored model that
compares anything else is not reused."""

from __future__ import annotations

import copy
import functools
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from carehaven.data.tables import dataset_schema
from carehaven.identity import model
from carehaven.identity.profiles import PROFILE_COLUMNS
from carehaven.identity.sources import RECORD_SCHEMA, SOURCES
from carehaven.specs import load_spec
from carehaven.specs.model import FieldClass
from carehaven.specs.registry import available


@functools.cache
def _special() -> frozenset[str]:
    """Every S-class field of every dataset, lower case (CLD writes ``Ethnicity``)."""
    return frozenset(
        f.name.lower()
        for name in available()
        for f in load_spec(name).fields
        if f.field_class == FieldClass.SPECIAL
    )


def _columns(sql: str) -> set[str]:
    """Columns a comparison level or blocking rule reads, without Splink's l./r. and _l/_r."""
    if sql.strip().upper() == "ELSE":
        return set()
    tree = sqlglot.parse_one(sql, read="duckdb")
    return {c.name.removesuffix("_l").removesuffix("_r").lower() for c in tree.find_all(exp.Column)}


def _settings_columns() -> dict[str, set[str]]:
    s = model.settings()
    levels = [lv["sql_condition"] for c in s["comparisons"] for lv in c["comparison_levels"]]
    rules = [r["blocking_rule"] for r in s["blocking_rules_to_generate_predictions"]]
    tf = {
        lv["tf_adjustment_column"]
        for c in s["comparisons"]
        for lv in c["comparison_levels"]
        if lv.get("tf_adjustment_column")
    }
    return {
        "comparisons": {c["output_column_name"] for c in s["comparisons"]},
        "comparison levels": set().union(*map(_columns, levels)),
        "blocking rules": set().union(*map(_columns, rules)),
        "training rules": set().union(*map(_columns, [model.PRIOR_RULE, *model.EM_RULES])),
        "term frequencies": tf | set(model.TF_COLUMNS),
        "Splink input": set(model.SPLINK_COLUMNS),
        "profiles": set(PROFILE_COLUMNS),
        "identity records": set(RECORD_SCHEMA.names),
    }


def test_the_special_categories_are_known() -> None:
    assert {"ethnicity", "religion", "sexual_orientation", "disability"} <= _special()


@pytest.mark.parametrize("part", list(_settings_columns()))
def test_no_special_category_field_is_compared_blocked_on_or_kept(part: str) -> None:
    """IDN-5: nothing identity decides a match with, or keeps in a profile, is S-class."""
    assert not _settings_columns()[part] & _special(), part


def test_the_model_compares_the_identifiers_idn1_names() -> None:
    """IDN-1: initials, date of birth, sex and postcode district; nothing else, so that a new
    comparison is a deliberate change here too."""
    used = _settings_columns()
    assert used["comparisons"] == {"initials", "dob", "sex", "district"}
    assert used["comparison levels"] | used["blocking rules"] <= set(model.SPLINK_COLUMNS)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.dataset)
def test_no_source_reads_a_special_category_field(source: Any) -> None:
    """The identity records of a dataset build from its rows with every S-class field gone:
    an expression that read one would fail here (IDN-5)."""
    spec = load_spec(source.dataset)
    schema = dataset_schema(spec)
    kept = {n: t for n, t in schema.items() if n.lower() not in _special()}
    assert len(kept) < len(schema)  # every identity source carries a special category
    records = source.records(ibis.table(kept, name=spec.table_name))
    assert tuple(records.columns) == tuple(RECORD_SCHEMA.names)


@functools.cache
def _stored() -> dict[str, Any]:
    """A model as Splink saves it (and ``link_runs.model`` stores it), from today's settings."""
    from splink import DuckDBAPI, Linker

    rows: dict[str, Any] = {c: ["x", "y"] for c in model.SPLINK_COLUMNS}
    rows["profile_id"], rows["dnum"] = ["a", "b"], [1, 2]
    api = DuckDBAPI(connection=duckdb.connect())
    linker = Linker(api.register(pa.table(rows), table_name="p"), model.settings(), log_level=None)
    return model.saved(linker)


def test_a_model_saved_from_the_current_settings_is_reused() -> None:
    assert model.reusable(_stored())


def _with_ethnicity(stored: dict[str, Any]) -> dict[str, Any]:
    """The model an earlier version stored: the same comparisons and ethnicity (IDN-5)."""
    old = copy.deepcopy(stored)
    comparison = model._simple("ethnicity", 0.95)
    for level in comparison["comparison_levels"]:
        if not level.get("is_null_level"):
            level["u_probability"] = 0.3
    old["comparisons"].append(comparison)
    return old


def _changed_level(stored: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(stored)
    old["comparisons"][0]["comparison_levels"][2]["sql_condition"] = "initials_l < initials_r"
    return old


def _blocked_on_ethnicity(stored: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(stored)
    old["blocking_rules_to_generate_predictions"].append(
        {"blocking_rule": "l.ethnicity = r.ethnicity AND l.dob = r.dob", "sql_dialect": "duckdb"}
    )
    return old


@pytest.mark.parametrize(
    "stale",
    [_with_ethnicity, _changed_level, _blocked_on_ethnicity, lambda s: {}, lambda s: {"x": 1}],
    ids=["compares ethnicity", "a level changed", "blocks on ethnicity", "empty", "not a model"],
)
def test_a_model_that_compares_or_blocks_otherwise_is_not_reused(stale: Any) -> None:
    assert not model.reusable(stale(_stored()))


def test_the_reviewers_evidence_names_no_special_category() -> None:
    assert not set(model.level_labels()) & _special()
