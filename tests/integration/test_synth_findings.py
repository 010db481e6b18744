"""Synthetic returns are valid by construction, and every planted error is found exactly.

Each file is judged as ``submit`` would judge it once every file before it in the manifest is
in: the submitter's kind as the haven registers it, and the episodes a review or an IPS
episode may name taken from the synthetic episode returns, minus the rows planted with an
error (which the haven rejects), each episode as its latest return states it (issue 13 item 6).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from carehaven.collection import references
from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import Context
from carehaven.collection.validate import validate
from carehaven.consent.notices import published_versions
from carehaven.specs import load_spec
from carehaven.synth import synthesise
from carehaven.synth.organisations import kind_of

pytestmark = pytest.mark.slow

Planted = set[tuple[str, int, str, str]]


@functools.cache
def _con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _named(out: Path, result, f, planted: Planted) -> dict[str, pa.Table]:
    """The rows ``f``'s reference rules may name: the accepted rows of its organisation's
    returns of the named dataset, one per key, from the latest period holding it."""
    spec = load_spec(f.dataset)
    rejected = {(path, row) for path, row, _, _ in planted}
    tables = {}
    for field, (dataset, key, _) in spec.referenced().items():
        latest: dict[str, tuple[object, dict[str, str]]] = {}
        for g in result.files:
            if g.dataset != dataset or g.org != f.org:
                continue
            end = parse_period(g.period).end
            for n, row in enumerate(_rows(out / g.path), start=2):
                held = latest.get(row[key])
                if (g.path, n) not in rejected and (held is None or held[0] < end):
                    latest[row[key]] = (end, row)
        tables[field] = references.from_rows(spec, field, (r for _, r in latest.values()))
    return tables


def _findings(out: Path, result, f, planted: Planted = frozenset()) -> Planted:
    spec = load_spec(f.dataset)
    con = _con()
    con.con.register("raw", read_table((out / f.path).read_bytes(), spec, f.path))
    ctx = Context(f.org, parse_period(f.period), published_versions(), org_kind=kind_of(f.org),
                  references=_named(out, result, f, planted))
    v = validate(con, "raw", spec, ctx)
    return {(f.path, r["row"], r["field"], r["rule"]) for r in v.findings.to_pylist()}


def test_planted_errors_are_found_exactly(tmp_path):
    result = synthesise(tmp_path, people=600, seed=11, invalid_rate=0.03)
    with (tmp_path / "truth" / "invalid.csv").open() as fh:
        planted = {(r["path"], int(r["row"]), r["field"], r["rule"]) for r in csv.DictReader(fh)}
    assert len(planted) == result.planted_invalid > 0
    found: Planted = set()
    for f in result.files:
        found |= _findings(tmp_path, result, f, planted)
    assert found == planted
    # Errors are still planted in episodes (those no review or IPS episode names).
    assert any(path.startswith("ndtms-episode/") for path, _, _, _ in planted)


def test_clean_synthetic_returns_have_no_findings(tmp_path):
    result = synthesise(tmp_path, people=400, seed=3)
    assert {ds.dataset for ds in result.files} == {"ndtms-episode", "ndtms-review", "ips-episode",
                                                   "cld-event", "hmrc-return"}
    named = 0
    for f in result.files:
        assert _findings(tmp_path, result, f) == set(), f.path
        if f.dataset in ("ndtms-review", "ips-episode"):
            named += sum(1 for r in _rows(tmp_path / f.path) if r["episode_id"])
    assert named > 0  # the reference rules had rows to judge
    # Every episode a review or IPS episode names is returned before it in the manifest.
    order = [f.dataset for f in result.files]
    assert max(i for i, d in enumerate(order) if d == "ndtms-episode") < min(
        i for i, d in enumerate(order) if d in ("ndtms-review", "ips-episode"))
