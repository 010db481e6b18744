"""Linkage gives the same answer on either engine: DuckDB (the default) and Spark.

The same in-force rows go through :func:`resolve` on both engines, with a training that counts
every pair for u (so nothing depends on an engine's sampling or hashing); the profiles, the
model's weights and the clusters must be the same. Then ``link`` runs end to end on two copies
of one haven, one per engine, and must find the same people.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select

from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.control.models import LinkRun
from carehaven.data import connect, in_force_rows
from carehaven.haven import Haven, init_haven, open_haven
from carehaven.identity import model
from carehaven.identity.engine import Engine, duckdb_engine, spark_engine
from carehaven.identity.link import in_force, link
from carehaven.identity.resolve import MIN_PROFILES_FOR_MODEL, Resolution, resolve
from carehaven.identity.sources import SOURCES
from carehaven.specs import load_spec
from carehaven.synth import synthesise

pytestmark = [pytest.mark.spark, pytest.mark.slow]

#: u from every pair, counted in one pass: the same pairs on every engine, so the same model.
EXACT = model.Training(u_pairs=1e7, u_chunks=1)
KEY_HEX = "5a" * 32
DATASETS = tuple(s.dataset for s in SOURCES)  # ndtms-episode, ips-episode, cld-event


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The one local Spark session of the test run (link() reuses it: one per process)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    engine = spark_engine(tmp_path_factory.mktemp("spark"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def havens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Haven, Haven]]:
    """Two identical havens (one a copy of the other, key included): DuckDB's and Spark's."""
    root = tmp_path_factory.mktemp("engines")
    result = synthesise(root / "returns", people=400, seed=3)
    haven = init_haven(Settings.load(haven=root / "duckdb"), actor="test")
    for org in result.organisations:
        haven.add_organisation(org.code, org.kind, org.name, actor="test")
    for f in result.files:
        if f.dataset in DATASETS:
            submit(haven, root / "returns" / f.path, dataset=f.dataset, org=f.org,
                   period=f.period, actor="test")
    haven.close()
    shutil.copytree(root / "duckdb", root / "spark")
    duck = open_haven(Settings.load(haven=root / "duckdb", data_engine="duckdb"))
    spark = open_haven(Settings.load(haven=root / "spark", data_engine="spark"))
    yield duck, spark
    duck.close()
    spark.close()


def _in_force(haven: Haven) -> dict[str, pa.Table]:
    with haven.sessions() as session:
        subs = {d: [s.id for s in in_force(session, d)] for d in DATASETS}
    con = connect(haven.paths.data_db)
    try:
        return {d: in_force_rows(con, load_spec(d), ids).to_pyarrow() for d, ids in subs.items()}
    finally:
        con.disconnect()


def _partition(res: Resolution) -> set[frozenset[str]]:
    people: dict[int, set[str]] = {}
    ids, clusters = res.profiles["profile_id"].to_pylist(), res.profiles["cluster"].to_pylist()
    for pid, c in zip(ids, clusters, strict=True):
        people.setdefault(c, set()).add(pid)
    return {frozenset(p) for p in people.values()}


def _record_profiles(res: Resolution) -> set[tuple[str, str, int, str]]:
    t = res.record_profiles
    cols = [t[c].to_pylist() for c in ("dataset", "_submission_id", "_row", "profile_id")]
    return set(zip(*cols, strict=True))


def test_resolve_is_the_same_on_duckdb_and_spark(havens, spark: Engine) -> None:
    rows = _in_force(havens[0])
    assert all(t.num_rows for t in rows.values()), {d: t.num_rows for d, t in rows.items()}
    results: dict[str, Resolution] = {}
    for engine in (duckdb_engine(), spark):
        tables = {d: engine.load(t, prefix=d.replace("-", "_")) for d, t in rows.items()}
        results[engine.name] = resolve(engine, tables, key_hex=KEY_HEX, training=EXACT)
    duck, spk = results["duckdb"], results["spark"]

    linkable = sum(duck.profiles["linkable"].to_pylist())
    assert linkable >= MIN_PROFILES_FOR_MODEL
    assert duck.model_used and spk.model_used
    # Standardisation and profile ids (keyed hashes of the standardised values) agree...
    assert duck.profiles["profile_id"].to_pylist() == spk.profiles["profile_id"].to_pylist()
    assert _record_profiles(duck) == _record_profiles(spk)
    # ...the comparison SQL and training give the same model and scores...
    assert len(duck.weights) == len(spk.weights) > 0
    np.testing.assert_allclose(np.sort(spk.weights), np.sort(duck.weights), rtol=1e-9, atol=1e-9)
    # ...and the same people.
    assert _partition(duck) == _partition(spk)
    assert duck.people == spk.people < duck.profiles.num_rows


def test_link_on_spark_finds_the_same_people(havens, spark: Engine) -> None:
    duck_haven, spark_haven = havens
    duck = link(duck_haven, actor="test", keep_resolution=True)
    spk = link(spark_haven, actor="test", keep_resolution=True)
    assert duck.model_used and spk.model_used
    assert (spk.records, spk.profiles, spk.people) == (duck.records, duck.profiles, duck.people)
    assert duck.resolution is not None and spk.resolution is not None
    assert _partition(spk.resolution) == _partition(duck.resolution)
    with spark_haven.sessions() as session:
        assert session.scalars(select(LinkRun.engine)).all() == ["spark"]
    with duck_haven.sessions() as session:
        assert session.scalars(select(LinkRun.engine)).all() == ["duckdb"]
