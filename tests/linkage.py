"""Building a linked haven from synthetic returns, and scoring its clusters against the truth."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import select

from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.control.models import Submission
from carehaven.haven import Haven, init_haven
from carehaven.identity.link import current_run, table_name
from carehaven.synth import synthesise
from carehaven.synth.model import SynthResult


def build(
    root: Path,
    returns: Path,
    *,
    people: int,
    seed: int,
    periods: Sequence[str] = ("2024Q4", "2025Q1", "2025Q2"),
    hold_back: str | None = None,
    **settings: object,
) -> tuple[Haven, SynthResult]:
    """A haven with every synthetic file submitted (except the ``hold_back`` period's)."""
    result = synthesise(returns, people=people, seed=seed, periods=periods)
    haven = init_haven(Settings.load(haven=root, **settings), actor="test")  # type: ignore[arg-type]
    for org in result.organisations:
        haven.add_organisation(org.code, org.kind, org.name, actor="test")
    submit_files(haven, result, returns, exclude=hold_back)
    return haven, result


def submit_files(
    haven: Haven, result: SynthResult, returns: Path, *, only: str | None = None,
    exclude: str | None = None,
) -> None:
    for f in result.files:
        if (only and f.period != only) or (exclude and f.period == exclude):
            continue
        submit(haven, returns / f.path, dataset=f.dataset, org=f.org, period=f.period,
               actor="test")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    predicted_people: int
    true_people: int

    @property
    def f1(self) -> float:
        return 2 * self.precision * self.recall / (self.precision + self.recall)


def rows_with_truth(haven: Haven, returns: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding ``linked``: every linked row with its person and the truth."""
    with haven.sessions() as s:
        run = current_run(s)
        subs = [(x.id, f"{x.dataset}/{x.file_name}") for x in s.scalars(select(Submission))]
    assert run is not None
    d = duckdb.connect()
    d.execute(f"ATTACH '{haven.paths.data_db}' AS h (READ_ONLY)")
    d.register("subs", pa.table({"sid": [a for a, _ in subs], "path": [b for _, b in subs]}))
    with (returns / "truth" / "records.csv").open() as fh:
        truth = list(csv.DictReader(fh))
    d.register("truth", pa.table({
        "path": [r["path"] for r in truth], "row": [int(r["row"]) for r in truth],
        "person": [r["person"] for r in truth],
    }))
    d.execute(f"""
        CREATE TABLE linked AS
        SELECT r.dataset, r._submission_id, r._row, p.person_id, p.linkable, p.source, p.org,
               p.local_ref, p.nhs, p.nino, t.person AS truth
        FROM h.{table_name("identity_records", run)} r
        JOIN h.{table_name("identity_profiles", run)} p USING (profile_id)
        JOIN subs ON subs.sid = r._submission_id
        JOIN truth t ON t.path = subs.path AND t.row = r._row""")
    d.execute("DETACH h")  # the haven's own connections need the file to themselves
    return d


def query(haven: Haven, sql: str) -> list[tuple[object, ...]]:
    """Run one read-only query on the haven's data file and let go of it."""
    con = duckdb.connect(str(haven.paths.data_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def score(d: duckdb.DuckDBPyConnection, unit: str, where: str) -> Score:
    """Pairwise precision and recall over ``unit`` (distinct records) matching ``where``."""
    d.execute(f"CREATE OR REPLACE TEMP TABLE u AS SELECT DISTINCT {unit}, person_id, truth "
              f"FROM linked WHERE {where}")
    def pairs(group: str) -> int:
        got = d.execute(f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM u "
                        f"GROUP BY {group})").fetchone()
        return int(got[0] or 0) if got else 0
    both, predicted, true = pairs("person_id, truth"), pairs("person_id"), pairs("truth")
    people = d.execute("SELECT count(DISTINCT person_id), count(DISTINCT truth) FROM u").fetchone()
    assert people is not None
    return Score(
        both / predicted if predicted else 1.0,
        both / true if true else 1.0,
        int(people[0]),
        int(people[1]),
    )
