"""Synthetic returns are valid by construction, and every planted error is found exactly."""

from __future__ import annotations

import csv
import functools

import ibis
import pytest

from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import Context
from carehaven.collection.validate import validate
from carehaven.consent.notices import published_versions
from carehaven.specs import load_spec
from carehaven.synth import synthesise
from carehaven.synth.organisations import kind_of

pytestmark = pytest.mark.slow


@functools.cache
def _con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def _findings(out, f) -> set[tuple[str, int, str, str]]:
    spec = load_spec(f.dataset)
    con = _con()
    con.con.register("raw", read_table((out / f.path).read_bytes(), spec, f.path))
    # The submitter's kind as the haven registers it, so the rules on it are judged.
    ctx = Context(f.org, parse_period(f.period), published_versions(), org_kind=kind_of(f.org))
    v = validate(con, "raw", spec, ctx)
    return {(f.path, r["row"], r["field"], r["rule"]) for r in v.findings.to_pylist()}


def test_planted_errors_are_found_exactly(tmp_path):
    result = synthesise(tmp_path, people=600, seed=11, invalid_rate=0.03)
    with (tmp_path / "truth" / "invalid.csv").open() as fh:
        planted = {(r["path"], int(r["row"]), r["field"], r["rule"]) for r in csv.DictReader(fh)}
    assert len(planted) == result.planted_invalid > 0
    found: set[tuple[str, int, str, str]] = set()
    for f in result.files:
        found |= _findings(tmp_path, f)
    assert found == planted


def test_clean_synthetic_returns_have_no_findings(tmp_path):
    result = synthesise(tmp_path, people=400, seed=3)
    assert {ds.dataset for ds in result.files} == {"ndtms-episode", "ndtms-review", "ips-episode",
                                                   "cld-event", "hmrc-return"}
    for f in result.files:
        assert _findings(tmp_path, f) == set(), f.path
