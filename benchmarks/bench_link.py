"""Identity linkage: carehaven's ``link`` against the truth and two baselines, in one run.

Data: ``carehaven.synth.synthesise`` collections with their truth, loaded into havens that are
cached under ``benchmarks/.data/link/`` (linkdata.py) with every file but the last quarter's.
Each measurement works on a fresh copy of a cached haven; every ``link`` runs in a child
process, timed around the call, and the child's peak resident memory comes from ``wait4``.

NDTMS haven (only ``ndtms-episode`` returns; ``--ndtms-people``, by default 78% of
``--people``, so that 300,000 people give about 450,000 rows):

* quality per treatment episode, the distinct (provider_code, episode_id) of rows with
  consent_ndtms = Y: pairwise precision, recall and F1 (pairs of episodes in one predicted
  person against pairs of one true person, counted from group sizes in DuckDB) and the number
  of people. Episodes without consent are never linked, by design: they are counted and left
  out. A row of an episode takes its episode's most frequent person id (episodes split across
  people are counted);
* the same episodes, one record each (the values of its latest row, as submitted), grouped by
  the exact key initials + date of birth + sex, and by plain Splink: DuckDB; library
  comparisons Levenshtein <= 1 on initials, DateOfBirthComparison, exact sex and exact postcode
  district; prior from the exact key at recall 0.8, u by random sampling, m by EM blocked on
  dob and on initials + district, no labels; threshold 0.5; connected components;
* time and peak memory of a link of all four quarters with no earlier run, of a second link
  with nothing changed (which reuses the model), of a third with ``full=True`` (retrains), and
  of a link of three quarters followed by a link after the fourth is submitted (one more
  quarter), whose result is judged as well.

Full haven (every dataset, ``--people``; 300,000 people give about 1.5 million identity rows):

* CLD rows with a valid NHS number (unit: the LA's person, LA_Code +
  LA_Person_Unique_Identifier) and IPS rows with a valid NI number (unit: the placement,
  provider_code + ips_id), judged among themselves and with every record (pairs with at least
  one such unit, over all CLD persons, IPS placements and consented NDTMS episodes); NDTMS
  episodes when every source is linked together;
* time and peak memory of the same three links of all four quarters.

``--scale`` measures only the full haven (the 1M-record goal), adding the one-more-quarter
pair of links there, and leaves out the NDTMS haven and the baselines.

``--ethnicity`` adds a comparison arm to each haven: a second copy of the same data, linked
fresh right after the first with ethnicity read into the profiles and compared as it was before
issue 12 (``restore_ethnicity``; the code lives here, never in ``src/``: linkage may not use a
special-category field, IDN-5). Both arms are judged alike and printed side by side with the
ratio of their times. ``--ethnicity-only`` measures just the two fresh links of each haven
(no relinks, no quarter, no baselines).

    uv run python benchmarks/bench_link.py [--people 300000] [--ndtms-people N] [--seed S]
        [--scale] [--no-splink] [--ethnicity | --ethnicity-only] [--keep] [--settle 120]
        [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from benchlib import (
    Measure,
    add_output_args,
    console,
    goals_table,
    load_now,
    machine,
    machine_line,
    measures_table,
    report,
    settle,
    stages_table,
)
from linkdata import (
    ACTOR,
    DATA_DIR,
    SEED,
    Build,
    code_digest,
    haven_build,
    submit_files,
    working_copy,
)
from rich.table import Table

from carehaven.config import Settings

GOAL_F1 = 0.97
GOAL_PEOPLE_ERROR = 0.01
GOAL_ID_PR = 0.995
GOAL_NDTMS_S = 20.0
GOAL_NDTMS_RECORDS = 450_000
GOAL_SCALE_S = 90.0
GOAL_SCALE_RECORDS = 1_000_000
GOAL_SCALE_GB = 8.0
#: "A fraction of a full relink", read as at most half of it.
GOAL_QUARTER_SHARE = 0.5
#: Share of --people for the NDTMS haven: 300,000 x 0.78 gives about 450,000 NDTMS rows.
NDTMS_SHARE = 0.78
#: Published figures on a 300,000-person / 450,000-record synthetic NDTMS population.
PUBLIC = {"exact key": (0.915, 0.935), "plain Splink": (0.947, 0.952)}
SPLINK_THRESHOLD = 0.5
SCRIPT = Path(__file__).resolve()
#: The two readings of the NHS / NINO goal that are judged (see Evaluation.strong).
STRONG_SCOPES = ("among_themselves", "with_every_record")
#: What a link worker reports besides its time.
LINK_FIELDS = (
    "run",
    "profiles",
    "people",
    "merged_by_rule",
    "merged_by_model",
    "waiting_review",
    "merges",
    "splits",
    "model_used",
    "incremental",
    "new_profiles",
)
#: How each kind of haven is named in the measurements.
NAMES = {"ndtms": "NDTMS", "full": "full"}


# -- child processes ------------------------------------------------------------------------------


@dataclass
class Child:
    """What a child process reported, with its wall time and peak resident memory."""

    out: dict[str, Any]
    wall: float
    peak_bytes: int


def _run_child(args: list[str], workdir: Path) -> Child:
    """Run this script as a worker; its peak RSS comes from wait4 on that one process."""
    out_file = workdir / f"child-{time.monotonic_ns()}.json"
    err_file = out_file.with_suffix(".err")
    cmd = [sys.executable, str(SCRIPT), "_worker", *args, str(out_file)]
    with err_file.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=err, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed ({proc.returncode}):\n{err_file.read_text()}")
    out = json.loads(out_file.read_text())
    out_file.unlink()
    err_file.unlink()
    return Child(out, wall, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux


def restore_ethnicity() -> None:
    """The comparison arm, in this process only: ethnicity read into the identity records, kept
    in the profiles and compared by the model exactly as before issue 12 (same codes, same
    level, same starting m). carehaven itself never does this (IDN-5)."""
    import re

    import ibis
    import ibis.expr.datatypes as dt

    from carehaven.identity import model, profiles, sources
    from carehaven.identity import standardise as std
    from carehaven.specs import load_spec

    ndtms = {c: c for c in "ABCDEFGHJKLMNPRS"}
    cld: dict[str, str] = {}
    for label, meaning in (load_spec("cld-event").field("Ethnicity").codes or {}).items():
        found = re.fullmatch(r"NHS ethnic category ([A-S])", meaning)
        if found:
            cld[label] = found.group(1)
    read = {"ndtms-episode": ("ethnicity", ndtms), "ips-episode": ("ethnicity", ndtms),
            "cld-event": ("Ethnicity", cld)}

    def with_ethnicity(source: sources.Source) -> sources.Source:
        column, codes = read[source.dataset]

        def columns(t: Any) -> dict[str, Any]:
            return {**source.columns(t), "ethnicity": std.code_expr(t[column], codes)}

        return sources.Source(source.dataset, columns)

    def after_la(names: tuple[str, ...]) -> tuple[str, ...]:
        i = names.index("la") + 1
        return (*names[:i], "ethnicity", *names[i:])

    plain = model.settings

    def settings(prior: float = 1e-5) -> dict[str, Any]:
        out = plain(prior)
        out["comparisons"].append(model._simple("ethnicity", 0.95))
        return out

    schema = dict(sources.RECORD_SCHEMA.items())
    schema["ethnicity"] = dt.string
    names = after_la(tuple(sources.RECORD_SCHEMA.names))
    sources.RECORD_SCHEMA = ibis.schema({n: schema[n] for n in names})
    sources.SOURCES = tuple(with_ethnicity(s) for s in sources.SOURCES)
    profiles.PROFILE_COLUMNS = after_la(profiles.PROFILE_COLUMNS)
    model.SPLINK_COLUMNS = (*model.SPLINK_COLUMNS, "ethnicity")
    model.settings = settings  # type: ignore[assignment]


def worker_link(root: Path, out: Path, *, full: bool, ethnicity: bool = False) -> None:
    """Child: one ``link`` of the haven at ``root`` (``full``: retrain, rescore everything;
    ``ethnicity``: the comparison arm, :func:`restore_ethnicity`)."""
    from carehaven.haven import open_haven
    from carehaven.identity.link import link

    if ethnicity:
        restore_ethnicity()
    haven = open_haven(Settings.load(haven=root))
    started = time.perf_counter()
    result = link(haven, actor=ACTOR, full=full)
    seconds = time.perf_counter() - started
    haven.close()
    stages = dict(result.timings)
    stages["read and record the run"] = max(0.0, seconds - sum(stages.values()))
    report = {k: getattr(result, k) for k in LINK_FIELDS}
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "stages": stages,
                "records": result.records,
                "compared": _compared(root, result.run),
                **report,
                "peak_self_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def _compared(root: Path, run: int) -> list[str]:
    """The comparisons of the model a link run stored (read after the timed call)."""
    with sqlite3.connect(f"file:{root / 'control.sqlite'}?mode=ro", uri=True) as ctl:
        row = ctl.execute("SELECT model FROM link_runs WHERE id = ?", [run]).fetchone()
    ctl.close()
    stored = json.loads(row[0]) if row and row[0] else {}
    return [c["output_column_name"] for c in stored.get("comparisons", [])]


def worker_splink(source: Path, clusters: Path, out: Path) -> None:
    """Child: plain Splink on the episode records in ``source``; clusters to ``clusters``."""
    import logging

    import pyarrow.parquet as pq
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stages: dict[str, float] = {}
    clock = time.perf_counter()
    started = clock

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = now - clock
        clock = now

    api = DuckDBAPI(connection=duckdb.connect())
    records = api.register(pq.read_table(source), table_name="episodes")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.LevenshteinAtThresholds("initials", 1),
            cl.DateOfBirthComparison("dob", input_is_string=False),
            cl.ExactMatch("sex"),
            cl.ExactMatch("postcode_district"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("dob"),
            block_on("initials", "postcode_district"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(records, settings, log_level=logging.WARNING)
    lap("read and set up")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("initials", "dob", "sex")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("initials", "postcode_district")
    )
    lap("train")
    scored = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    lap("predict")
    found = linker.clustering.cluster_pairwise_predictions_at_threshold(
        scored, threshold_match_probability=SPLINK_THRESHOLD
    )
    table = found.as_pyarrow_table().select(["unique_id", "cluster_id"])
    lap("cluster")
    seconds = time.perf_counter() - started
    pq.write_table(table, clusters)
    trained = linker.misc.save_model_to_json()
    model = {
        c["output_column_name"]: {
            lv["label_for_charts"]: [lv.get("m_probability"), lv.get("u_probability")]
            for lv in c["comparison_levels"]
            if not lv.get("is_null_level")
        }
        for c in trained["comparisons"]
    }
    model["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "stages": stages,
                "records": table.num_rows,
                "pairs_scored": scored.as_pyarrow_table().num_rows,
                "model": model,
                "peak_self_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


# -- evaluation -----------------------------------------------------------------------------------

_NHS_DIGITS = " + ".join(f"TRY_CAST(substr(d, {i + 1}, 1) AS INT) * {10 - i}" for i in range(9))
#: HMRC's format for a National Insurance number, and prefixes it never issues.
_NINO = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]"
_NINO_NEVER = "('BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ')"


def _macros(con: duckdb.DuckDBPyConnection) -> None:
    """Validity of identifiers, written here independently of carehaven's standardiser."""
    con.execute(
        f"""CREATE MACRO nhs_check(d) AS (11 - ({_NHS_DIGITS}) % 11) % 11;
            CREATE MACRO nhs_ok(d) AS
              regexp_full_match(coalesce(d, ''), '[0-9]{{10}}')
              AND nhs_check(d) <> 10 AND nhs_check(d) = TRY_CAST(substr(d, 10, 1) AS INT);
            CREATE MACRO nhs_valid(v) AS nhs_ok(replace(v, ' ', ''));
            CREATE MACRO nino_ok(d) AS
              regexp_full_match(coalesce(d, ''), '{_NINO}')
              AND substr(d, 1, 2) NOT IN {_NINO_NEVER};
            CREATE MACRO nino_valid(v) AS nino_ok(upper(replace(v, ' ', '')));"""
    )


def pairwise(
    con: duckdb.DuckDBPyConnection,
    units: str,
    pred: str,
    truth: str = "person",
    flag: str = "true",
) -> dict[str, Any]:
    """Pairwise precision, recall and F1 of the grouping ``pred`` against ``truth`` over
    ``units`` (a table or subquery, one row per unit), counting only pairs with at least one
    unit where ``flag`` holds (every pair, by default).

    From group sizes alone: a group of n units, f of them flagged, holds
    n(n-1)/2 - (n-f)(n-f-1)/2 such pairs. A group is a predicted person (predicted pairs), a
    true person (true pairs), or both at once (true positive pairs).
    """
    row = con.execute(
        f"""WITH g AS (SELECT {pred} AS g, {truth} AS t, count(*)::HUGEINT AS n,
                              (count(*) FILTER ({flag}))::HUGEINT AS f
                       FROM {units} GROUP BY ALL),
                 pg AS (SELECT sum(n) AS n, sum(f) AS f FROM g GROUP BY g),
                 tg AS (SELECT sum(n) AS n, sum(f) AS f FROM g GROUP BY t)
            SELECT (SELECT sum(n * (n - 1) // 2 - (n - f) * (n - f - 1) // 2) FROM g),
                   (SELECT sum(n * (n - 1) // 2 - (n - f) * (n - f - 1) // 2) FROM pg),
                   (SELECT sum(n * (n - 1) // 2 - (n - f) * (n - f - 1) // 2) FROM tg),
                   (SELECT sum(f) FROM g),
                   (SELECT count(*) FILTER (f > 0) FROM pg),
                   (SELECT count(*) FILTER (f > 0) FROM tg)"""
    ).fetchone()
    assert row is not None
    tp, pp, tt, n, predicted, true = (int(v or 0) for v in row)
    precision = tp / pp if pp else None
    recall = tp / tt if tt else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "units": n,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_positive_pairs": tp,
        "predicted_pairs": pp,
        "true_pairs": tt,
        "people_predicted": predicted,
        "people_true": true,
        "people_error": (predicted - true) / true if true else None,
    }


class Evaluation:
    """The haven's registry (the latest link run) beside the truth, in an in-memory DuckDB."""

    def __init__(self, root: Path, source: Path) -> None:
        self.con = duckdb.connect()
        con = self.con
        _macros(con)
        with sqlite3.connect(f"file:{root / 'control.sqlite'}?mode=ro", uri=True) as ctl:
            subs = ctl.execute(
                "SELECT id, dataset, dataset || '/' || file_name, period FROM submissions "
                "WHERE status = 'accepted' AND superseded_by IS NULL"
            ).fetchall()
            run = ctl.execute("SELECT max(id) FROM link_runs").fetchone()
        ctl.close()
        self.run = run[0] if run else None
        con.execute(
            "CREATE TABLE subs (sid VARCHAR, dataset VARCHAR, path VARCHAR, period VARCHAR)"
        )
        con.executemany("INSERT INTO subs VALUES (?, ?, ?, ?)", subs)
        con.execute(
            "CREATE TABLE truth AS SELECT t.path, t.row, t.person FROM read_csv(?, header = true, "
            "columns = {'path': 'VARCHAR', 'row': 'BIGINT', 'person': 'VARCHAR', "
            "'event': 'VARCHAR'}) t "
            "SEMI JOIN subs s ON s.path = t.path",
            [str(source / "truth" / "records.csv")],
        )
        con.execute(f"ATTACH '{root / 'data' / 'carehaven.duckdb'}' AS h (READ_ONLY)")
        if self.run is not None:
            con.execute(
                f"""CREATE TABLE pred AS SELECT r._submission_id, r._row, p.person_id AS cluster
                    FROM h.identity_records_{self.run} r
                    JOIN h.identity_profiles_{self.run} p USING (profile_id)"""
            )

    def close(self) -> None:
        self.con.close()

    def _rows(self, name: str, table: str, cols: str) -> dict[str, int]:
        """Rows of data-plane ``table`` (in force) with their true and predicted person. A row
        without either (none so far) stands alone, and is counted."""
        me = "'|' || e._submission_id || '|' || e._row"
        if self.run is not None:
            join = "LEFT JOIN pred pr ON pr._submission_id = e._submission_id AND pr._row = e._row"
            cluster, unlinked = f"coalesce(pr.cluster, 'unlinked' || {me})", "pr.cluster IS NULL"
        else:
            join, cluster, unlinked = "", f"'unlinked' || {me}", "true"
        self.con.execute(
            f"""CREATE OR REPLACE TABLE {name} AS
                SELECT {cols}, s.period, e._row,
                       coalesce(t.person, 'unknown' || {me}) AS person, t.person IS NULL AS unknown,
                       {cluster} AS cluster, {unlinked} AS unlinked
                FROM h.{table} e JOIN subs s ON s.sid = e._submission_id
                LEFT JOIN truth t ON t.path = s.path AND t.row = e._row
                {join}"""
        )
        row = self.con.execute(
            f"SELECT count(*), count(*) FILTER (unknown), count(*) FILTER (unlinked) FROM {name}"
        ).fetchone()
        assert row is not None
        return {"rows": row[0], "rows_without_truth": row[1], "rows_without_person_id": row[2]}

    def _units(self, name: str, rows: str, key: str, flag: bool = False) -> dict[str, int]:
        """One row per unit (``key``), with its most frequent predicted and true person (and,
        when the rows have one, ``flag``: true when any row of the unit has it)."""
        extra = ", bool_or(flag) AS flag" if flag else ""
        self.con.execute(
            f"""CREATE OR REPLACE TABLE {name} AS
                WITH c AS (SELECT {key}, cluster, count(*) AS n FROM {rows} GROUP BY ALL),
                     p AS (SELECT {key}, person, count(*) AS n FROM {rows} GROUP BY ALL),
                     cc AS (SELECT {key}, first(cluster ORDER BY n DESC, cluster) AS cluster,
                                   count(*) AS clusters FROM c GROUP BY ALL),
                     pp AS (SELECT {key}, first(person ORDER BY n DESC, person) AS person,
                                   count(*) AS persons FROM p GROUP BY ALL),
                     ff AS (SELECT {key}, count(*) AS rows{extra} FROM {rows} GROUP BY ALL)
                SELECT * FROM cc JOIN pp USING ({key}) JOIN ff USING ({key})"""
        )
        row = self.con.execute(
            f"SELECT count(*), count(*) FILTER (clusters > 1), count(*) FILTER (persons > 1) "
            f"FROM {name}"
        ).fetchone()
        assert row is not None
        return {
            "units": row[0],
            "units_split_across_people": row[1],
            "units_with_two_truths": row[2],
        }

    def ndtms(self) -> dict[str, Any]:
        """NDTMS treatment episodes with consent: carehaven's pairwise quality."""
        rows = self._rows(
            "nd_rows",
            "ndtms_episode",
            "e.provider_code, e.episode_id, e.consent_ndtms = 'Y' AS consented, e.initials, "
            "e.date_of_birth, e.sex, e.postcode_district",
        )
        self.con.execute("CREATE OR REPLACE TABLE nd_yes AS SELECT * FROM nd_rows WHERE consented")
        units = self._units("nd_ep", "nd_yes", "provider_code, episode_id")
        row = self.con.execute(
            """SELECT count(*) FILTER (NOT y), count(*) FILTER (y AND NOT a), count(*)
               FROM (SELECT bool_or(consented) AS y, bool_and(consented) AS a
                     FROM nd_rows GROUP BY provider_code, episode_id)"""
        ).fetchone()
        assert row is not None
        scope = {
            **rows,
            "rows_consented": self.con.execute("SELECT count(*) FROM nd_yes").fetchone()[0],  # type: ignore[index]
            "episodes_all": row[2],
            "episodes_without_consent": row[0],
            "episodes_consent_mixed": row[1],
            **units,
        }
        return {
            "scope": scope,
            "carehaven": pairwise(self.con, "nd_ep", "cluster"),
            "carehaven_by_provider": self.by_provider("nd_ep", "cluster"),
        }

    def by_provider(self, units: str, pred: str) -> dict[str, dict[str, Any]]:
        """Pairs of episodes at one provider against pairs across providers (a diagnostic:
        where the errors are)."""
        row = self.con.execute(
            f"""WITH g AS (SELECT provider_code AS o, {pred} AS g, person AS t,
                                  count(*)::HUGEINT AS n FROM {units} GROUP BY ALL)
                SELECT (SELECT sum(n * (n - 1) // 2) FROM g),
                       (SELECT sum(n * (n - 1) // 2) FROM (SELECT sum(n) n FROM g GROUP BY o, g)),
                       (SELECT sum(n * (n - 1) // 2) FROM (SELECT sum(n) n FROM g GROUP BY o, t)),
                       (SELECT sum(n * (n - 1) // 2) FROM (SELECT sum(n) n FROM g GROUP BY g, t)),
                       (SELECT sum(n * (n - 1) // 2) FROM (SELECT sum(n) n FROM g GROUP BY g)),
                       (SELECT sum(n * (n - 1) // 2) FROM (SELECT sum(n) n FROM g GROUP BY t))"""
        ).fetchone()
        assert row is not None
        tp_in, pp_in, tt_in, tp, pp, tt = (int(v or 0) for v in row)
        out = {}
        for name, (a, b, c) in (
            ("within_provider", (tp_in, pp_in, tt_in)),
            ("across_providers", (tp - tp_in, pp - pp_in, tt - tt_in)),
        ):
            out[name] = {
                "true_positive_pairs": a,
                "predicted_pairs": b,
                "true_pairs": c,
                "precision": a / b if b else None,
                "recall": a / c if c else None,
            }
        return out

    def strong(self) -> dict[str, Any]:
        """Records with a valid NHS number (CLD) or NI number (IPS), after :meth:`ndtms`.

        Units: the LA's person (LA_Code + LA_Person_Unique_Identifier) in CLD, the placement
        (provider_code + ips_id) in IPS, flagged when a row of theirs carries a valid number.
        Scored among themselves (pairs of two flagged units), per row, and with every record
        (pairs with at least one flagged unit, over all CLD persons, IPS placements and
        consented NDTMS episodes).
        """
        out: dict[str, Any] = {}
        for key, table, unit, valid in (
            ("nhs", "cld_event", "LA_Code, LA_Person_Unique_Identifier", "nhs_valid(e.NHS_Number)"),
            ("nino", "ips_episode", "provider_code, ips_id", "nino_valid(e.nino)"),
        ):
            cols = ", ".join(f"e.{c}" for c in unit.split(", "))
            rows = self._rows(f"{key}_rows", table, f"{cols}, {valid} AS flag")
            units = self._units(f"{key}_units", f"{key}_rows", unit, flag=True)
            flagged = self.con.execute(
                f"SELECT (SELECT count(*) FROM {key}_rows WHERE flag), "
                f"(SELECT count(*) FROM {key}_units WHERE flag)"
            ).fetchone()
            assert flagged is not None
            out[key] = {
                "scope": {
                    **rows,
                    **units,
                    "rows_with_valid_number": flagged[0],
                    "units_with_valid_number": flagged[1],
                },
                "among_themselves": pairwise(
                    self.con, f"(SELECT * FROM {key}_units WHERE flag)", "cluster"
                ),
                "rows_among_themselves": pairwise(
                    self.con, f"(SELECT * FROM {key}_rows WHERE flag)", "cluster"
                ),
            }
        self.con.execute(
            """CREATE OR REPLACE TABLE all_units AS
               SELECT cluster, person, false AS nhs, false AS nino FROM nd_ep
               UNION ALL SELECT cluster, person, flag, false FROM nhs_units
               UNION ALL SELECT cluster, person, false, flag FROM nino_units"""
        )
        for key in ("nhs", "nino"):
            out[key]["with_every_record"] = pairwise(self.con, "all_units", "cluster", flag=key)
        return out

    def baseline_input(self, path: Path) -> int:
        """The consented episodes, one record each (the values of its latest row), to Parquet.

        Values are as submitted (validated, not standardised); empty text counts as missing.
        """
        self.con.execute(
            """CREATE OR REPLACE TABLE base_in AS
               SELECT provider_code || '|' || episode_id AS unique_id, provider_code, episode_id,
                      nullif(trim(initials), '') AS initials, date_of_birth AS dob,
                      nullif(trim(sex), '') AS sex,
                      nullif(trim(postcode_district), '') AS postcode_district
               FROM nd_yes
               QUALIFY row_number() OVER (PARTITION BY provider_code, episode_id
                                          ORDER BY period DESC, _row DESC) = 1"""
        )
        self.con.execute(
            "COPY (SELECT unique_id, initials, dob, sex, postcode_district FROM base_in) "
            "TO ? (FORMAT parquet)",
            [str(path)],
        )
        row = self.con.execute("SELECT count(*) FROM base_in").fetchone()
        return int(row[0]) if row else 0

    def exact_key(self, m: Measure) -> dict[str, Any]:
        """Episodes grouped by initials + date of birth + sex (a missing part: on its own)."""
        started = time.perf_counter()
        self.con.execute(
            """CREATE OR REPLACE TABLE exact AS
               SELECT unique_id, CASE WHEN initials IS NULL OR dob IS NULL OR sex IS NULL
                                      THEN 'alone|' || unique_id
                                      ELSE initials || '|' || dob::VARCHAR || '|' || sex END AS g
               FROM base_in"""
        )
        self.con.execute(
            "CREATE OR REPLACE TABLE exact_groups AS SELECT g, dense_rank() OVER (ORDER BY g) AS "
            "cluster_id FROM (SELECT DISTINCT g FROM exact)"
        )
        m.runs.append(time.perf_counter() - started)
        return self._baseline("exact", "exact JOIN exact_groups USING (g)")

    def splink(self, clusters: Path) -> dict[str, Any]:
        self.con.execute(
            "CREATE OR REPLACE TABLE splink_out AS "
            "SELECT unique_id, cluster_id FROM read_parquet(?)",
            [str(clusters)],
        )
        return self._baseline("splink", "splink_out")

    def _baseline(self, name: str, grouping: str) -> dict[str, Any]:
        self.con.execute(
            f"""CREATE OR REPLACE TABLE {name}_ep AS
                SELECT e.*, b.cluster_id::VARCHAR AS baseline
                FROM nd_ep e JOIN base_in i USING (provider_code, episode_id)
                LEFT JOIN (SELECT unique_id, cluster_id FROM {grouping}) b USING (unique_id)"""
        )
        row = self.con.execute(
            f"SELECT count(*), count(*) FILTER (baseline IS NULL) FROM {name}_ep"
        ).fetchone()
        assert row is not None
        assert row[1] == 0, f"{row[1]} episodes without a {name} cluster"
        return pairwise(self.con, f"{name}_ep", "baseline")


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """The measurements and findings for one kind of haven."""

    kind: str
    build: Build
    measures: list[Measure] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)  # after the fresh link
    quality_more: dict[str, Any] = field(default_factory=dict)  # after one more quarter
    quality_ethnicity: dict[str, Any] = field(default_factory=dict)  # the comparison arm
    data: dict[str, Any] = field(default_factory=dict)


def _link(
    root: Path,
    name: str,
    note: str,
    work: Path,
    args: argparse.Namespace,
    *,
    full: bool = False,
    ethnicity: bool = False,
) -> Measure:
    gc.collect()
    idle = settle(args.settle)
    flags = [*(["--full"] if full else []), *(["--ethnicity"] if ethnicity else [])]
    child = _run_child(["link", str(root), *flags], work)
    out = child.out
    m = Measure(name, out["records"], note=note)
    m.runs.append(out["seconds"])
    m.stages.append(out["stages"])
    m.idle.append(idle)
    m.extra.update(
        process_seconds=round(child.wall, 3),
        peak_rss_gb=round(child.peak_bytes / 1e9, 3),
        compared=out["compared"],
        **{k: out[k] for k in LINK_FIELDS},
    )
    return m


def _submit_last(build: Build, root: Path) -> Measure:
    m = Measure(f"submit {build.last_period} ({len(build.last)} files)", build.rows_last())
    m.note = "context: makes the fourth quarter"
    started = time.perf_counter()
    accepted = submit_files(root, build.source, build.last)
    m.runs.append(time.perf_counter() - started)
    m.extra["rows_accepted"] = accepted
    return m


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    if args.json:
        return lambda msg: print(msg, file=sys.stderr, flush=True)
    return lambda msg: print(msg, flush=True)


def _judge_quality(kind: str, ev: Evaluation) -> dict[str, Any]:
    if kind == "ndtms":
        return ev.ndtms()
    return {"ndtms": ev.ndtms(), **ev.strong()}


def scenario(
    kind: str, people: int, args: argparse.Namespace, work: Path, say: Callable[[str], None]
) -> Scenario:
    """Link the whole collection (fresh, again unchanged, again in full), judge it, run the
    baselines (NDTMS haven), and when asked, three quarters and then one more."""
    build = haven_build(kind, people, args.seed, say)
    sc = Scenario(kind, build)
    name = NAMES[kind]
    label = f"{name} haven ({people:,} people)"

    say(f"{label}: link of all four quarters, no earlier run")
    a = working_copy(build, work / f"{kind}-a")
    sc.measures.append(_submit_last(build, a))
    fresh = f"carehaven link: {name}, fresh"
    sc.measures.append(_link(a, fresh, "all 4 quarters, no earlier run", work, args))

    say(f"{label}: judging against the truth")
    ev = Evaluation(a, build.source)
    try:
        sc.quality = _judge_quality(kind, ev)
        if kind == "ndtms" and not args.ethnicity_only:
            sc.measures += _baselines(sc.quality, ev, work, args, label, say)
        sc.data = _data(ev, build)
    finally:
        ev.close()
    if args.ethnicity_only:
        _remove(a, args)  # only the comparison arm is left to measure

    if args.ethnicity:
        say(f"{label}: the same data linked with ethnicity compared (the comparison arm)")
        e = working_copy(build, work / f"{kind}-ethnicity")
        submit_files(e, build.source, build.last)
        sc.measures.append(
            _link(e, f"{fresh}, with ethnicity", "comparison arm: ethnicity compared", work,
                  args, ethnicity=True)
        )
        ev = Evaluation(e, build.source)
        try:
            sc.quality_ethnicity = _judge_quality(kind, ev)
        finally:
            ev.close()
        _remove(e, args)
    if args.ethnicity_only:
        return sc

    say(f"{label}: link again, nothing changed; then again in full (retrained)")
    sc.measures.append(
        _link(a, f"carehaven relink: {name}, unchanged", "reuses the model", work, args)
    )
    sc.measures.append(
        _link(a, f"carehaven relink: {name}, retrained", "link --full", work, args, full=True)
    )
    _remove(a, args)

    if kind == "ndtms" or args.scale:
        say(f"{label}: three quarters, then one more")
        b = working_copy(build, work / f"{kind}-b")
        sc.measures.append(
            _link(b, f"carehaven link: {name}, 3 quarters", "no earlier run", work, args)
        )
        sc.measures.append(_submit_last(build, b))
        sc.measures.append(
            _link(
                b,
                f"carehaven relink: {name}, +1 quarter",
                f"after {build.last_period} was submitted",
                work,
                args,
            )
        )
        ev = Evaluation(b, build.source)
        try:
            sc.quality_more = _judge_quality(kind, ev)
        finally:
            ev.close()
        _remove(b, args)
    return sc


def _baselines(
    quality: dict[str, Any],
    ev: Evaluation,
    work: Path,
    args: argparse.Namespace,
    label: str,
    say: Callable[[str], None],
) -> list[Measure]:
    """The exact key and plain Splink on the consented episodes ``ev`` has just judged."""
    episodes = quality["scope"]["units"]
    m_exact = Measure("exact key: initials+dob+sex", episodes, note="same episodes, in DuckDB")
    base_in = work / "episodes.parquet"
    assert ev.baseline_input(base_in) == episodes
    quality["exact_key"] = ev.exact_key(m_exact)
    quality["exact_key_by_provider"] = ev.by_provider("exact_ep", "baseline")
    if not args.splink:
        return [m_exact]
    say(f"{label}: plain Splink baseline on {episodes:,} episodes")
    gc.collect()
    idle = settle(args.settle)
    clusters = work / "splink-clusters.parquet"
    child = _run_child(["splink", str(base_in), str(clusters)], work)
    m_sp = Measure("plain Splink (DuckDB)", episodes, note="same episodes; train+predict+cluster")
    m_sp.runs.append(child.out["seconds"])
    m_sp.stages.append(child.out["stages"])
    m_sp.idle.append(idle)
    m_sp.extra.update(
        process_seconds=round(child.wall, 3),
        peak_rss_gb=round(child.peak_bytes / 1e9, 3),
        pairs_scored=child.out["pairs_scored"],
        model=child.out["model"],
    )
    quality["splink"] = ev.splink(clusters)
    quality["splink_by_provider"] = ev.by_provider("splink_ep", "baseline")
    return [m_exact, m_sp]


def _data(ev: Evaluation, build: Build) -> dict[str, Any]:
    rows = dict(
        ev.con.execute(
            "SELECT s.dataset, count(*) FROM truth t JOIN subs s USING (path) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    return {
        "people": build.people,
        "seed": build.seed,
        "collection": str(build.source),
        "haven": str(build.base),
        "periods": list(build.periods),
        "rows_by_dataset": {k: int(v) for k, v in rows.items()},
    }


def _remove(path: Path, args: argparse.Namespace) -> None:
    if not args.keep:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


# -- the run --------------------------------------------------------------------------------------


def _find(measures: list[Measure], prefix: str) -> Measure | None:
    return next((m for m in measures if m.name.startswith(prefix)), None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    code_at_start = code_digest()
    settings = Settings.load()
    say = _say(args)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    scenarios: list[Scenario] = []
    work = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="work-"))
    try:
        if not args.scale:
            scenarios.append(scenario("ndtms", args.ndtms_people, args, work, say))
        scenarios.append(scenario("full", args.people, args, work, say))
    finally:
        _remove(work, args)
    measures = [m for sc in scenarios for m in sc.measures]
    info["at_end"] = load_now()
    info["source_digest"] = code_at_start
    info["source_changed_during_run"] = code_digest() != code_at_start
    ratios, goals = _judge({sc.kind: sc for sc in scenarios})
    return {
        "machine": info,
        "settings": {
            "link_accept": settings.link_accept,
            "link_review": settings.link_review,
            "data_engine": settings.data_engine,
            "splink_baseline_threshold": SPLINK_THRESHOLD,
        },
        "mode": ("ethnicity only, " if args.ethnicity_only else "")
        + ("scale" if args.scale else "quality"),
        "data": {sc.kind: sc.data for sc in scenarios},
        "quality": {sc.kind: sc.quality for sc in scenarios},
        "quality_after_one_more_quarter": {
            sc.kind: sc.quality_more for sc in scenarios if sc.quality_more
        },
        "quality_with_ethnicity": {
            sc.kind: sc.quality_ethnicity for sc in scenarios if sc.quality_ethnicity
        },
        "measures": [m.as_json() for m in measures],
        "ratios": ratios,
        "goals": goals,
        "public_baseline": {k: {"precision": p, "recall": r} for k, (p, r) in PUBLIC.items()},
        "_measures": measures,
    }


#: Units judged in both arms of --ethnicity: (key, what is shown, where in a haven's quality).
ETHNICITY_UNITS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "ndtms": (("ndtms", "NDTMS consented episodes", ("carehaven",)),),
    "full": (
        ("ndtms", "NDTMS consented episodes", ("ndtms", "carehaven")),
        ("nhs", "CLD valid NHS no., with every record", ("nhs", "with_every_record")),
        ("nino", "IPS valid NINO, with every record", ("nino", "with_every_record")),
    ),
}


def _at(q: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        q = q[key]
    return q


def _ethnicity_arms(
    kind: str, sc: Scenario
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(unit key, quality without ethnicity, quality with it) for each unit both arms judged."""
    if not sc.quality_ethnicity:
        return []
    return [
        (key, _at(sc.quality, path), _at(sc.quality_ethnicity, path))
        for key, _, path in ETHNICITY_UNITS[kind]
    ]


def _at_least(v: float | None, goal: float) -> bool | None:
    return None if v is None else v >= goal


def _judge(by_kind: dict[str, Scenario]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ratios between measurements of this run, and each goal: true, false or None (not
    measured here, nothing to judge, or measured at a size too small to judge)."""
    ratios: dict[str, Any] = {}
    goals: dict[str, Any] = {}
    for kind, sc in by_kind.items():
        name = NAMES[kind]
        ms = {m.name.removeprefix("carehaven ").replace(f"{name}, ", ""): m for m in sc.measures}
        fresh, full = ms["link: fresh"], ms.get("relink: retrained")
        same, more = ms.get("relink: unchanged"), ms.get("relink: +1 quarter")
        if same is not None and full is not None:
            ratios[f"{kind}_relink_unchanged_vs_fresh"] = round(same.best / fresh.best, 3)
            ratios[f"{kind}_relink_full_vs_fresh"] = round(full.best / fresh.best, 3)
        arm = ms.get("link: fresh, with ethnicity")
        if arm is not None:
            ratios[f"{kind}_time_with_vs_without_ethnicity"] = round(arm.best / fresh.best, 3)
            for unit, without, with_ in _ethnicity_arms(kind, sc):
                if without["f1"] is not None and with_["f1"] is not None:
                    key = f"{kind}_{unit}_f1_without_minus_with_ethnicity"
                    ratios[key] = round(without["f1"] - with_["f1"], 4)
        if more is not None and full is not None:
            share = more.best / full.best
            ratios[f"{kind}_relink_plus_quarter_vs_full_relink"] = round(share, 3)
            ratios[f"{kind}_relink_plus_quarter_vs_fresh"] = round(more.best / fresh.best, 3)
            goals[f"{kind}_plus_quarter_fraction_of_full_relink"] = share <= GOAL_QUARTER_SHARE
        if kind == "ndtms":
            for when, q in (("", sc.quality), ("after_quarter_", sc.quality_more)):
                if not q:
                    continue
                ch = q["carehaven"]
                goals[f"ndtms_{when}f1_0.97"] = _at_least(ch["f1"], GOAL_F1)
                err = ch["people_error"]
                goals[f"ndtms_{when}people_within_1pct"] = (
                    None if err is None else abs(err) <= GOAL_PEOPLE_ERROR
                )
            big_enough = fresh.units >= 0.9 * GOAL_NDTMS_RECORDS
            goals["ndtms_450k_under_20s"] = fresh.best < GOAL_NDTMS_S if big_enough else None
            ch = sc.quality["carehaven"]
            for base in ("exact_key", "splink"):
                if base in sc.quality and ch["f1"] is not None:
                    b = sc.quality[base]["f1"]
                    ratios[f"f1_carehaven_minus_{base}"] = round(ch["f1"] - b, 4)
            if "plain Splink (DuckDB)" in ms:
                sp = ms["plain Splink (DuckDB)"]
                ratios["ndtms_link_time_vs_plain_splink"] = round(fresh.best / sp.best, 2)
            if "exact key: initials+dob+sex" in ms:
                ratios["ndtms_link_time_vs_exact_key"] = round(
                    fresh.best / ms["exact key: initials+dob+sex"].best, 1
                )
        else:
            for subset in ("nhs", "nino"):
                for scope in STRONG_SCOPES:
                    ch = sc.quality[subset][scope]
                    for what in ("precision", "recall"):
                        goals[f"{subset}_{scope}_{what}_0.995"] = _at_least(ch[what], GOAL_ID_PR)
            big_enough = fresh.units >= GOAL_SCALE_RECORDS
            goals["1m_under_90s"] = fresh.best < GOAL_SCALE_S if big_enough else None
            peak = fresh.extra["peak_rss_gb"]
            goals["1m_peak_under_8gb"] = peak < GOAL_SCALE_GB if big_enough else None
    return ratios, goals


# -- printing -------------------------------------------------------------------------------------


def _f(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _quality_table(title: str, rows: list[tuple[str, str, dict[str, Any]]]) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("method", "units"):
        t.add_column(col)
    for col in ("n", "precision", "recall", "F1", "people", "truth", "error"):
        t.add_column(col, justify="right")
    for method, unit, q in rows:
        err = q["people_error"]
        t.add_row(
            method,
            unit,
            f"{q['units']:,}",
            _f(q["precision"]),
            _f(q["recall"]),
            _f(q["f1"]),
            f"{q['people_predicted']:,}",
            f"{q['people_true']:,}",
            "-" if err is None else f"{err:+.2%}",
        )
    return t


def _provider_table(rows: list[tuple[str, dict[str, dict[str, Any]]]]) -> Table:
    t = Table(title="NDTMS episode pairs at one provider / across providers", title_justify="left")
    t.add_column("method")
    for col in ("pairs at one", "P", "R", "pairs across", "P ", "R "):
        t.add_column(col, justify="right")
    for method, b in rows:
        w, a = b["within_provider"], b["across_providers"]
        t.add_row(
            method,
            f"{w['true_pairs']:,}",
            _f(w["precision"]),
            _f(w["recall"]),
            f"{a['true_pairs']:,}",
            _f(a["precision"]),
            _f(a["recall"]),
        )
    return t


def _show_ndtms(c: Any, nd: dict[str, Any], more: dict[str, Any] | None) -> None:
    sc = nd["scope"]
    c.print(
        f"NDTMS episodes: {sc['episodes_all']:,} in {sc['rows']:,} rows; "
        f"{sc['episodes_without_consent']:,} without consent (never linked, by design: "
        f"left out of the metrics); {sc['episodes_consent_mixed']:,} with mixed consent; "
        f"{sc['units']:,} consented episodes measured ({sc['units_split_across_people']:,} "
        f"split across predicted people, {sc['units_with_two_truths']:,} with two true people); "
        f"rows without a person id {sc['rows_without_person_id']:,}, without a truth "
        f"{sc['rows_without_truth']:,}"
    )
    rows = [("carehaven link", "consented episodes", nd["carehaven"])]
    by = [("carehaven link", nd["carehaven_by_provider"])]
    if more:
        rows.append(("carehaven, +1 quarter", "after 3 quarters + 1", more["carehaven"]))
        by.append(("carehaven, +1 quarter", more["carehaven_by_provider"]))
    for key, name in (("exact_key", "exact key (initials+dob+sex)"), ("splink", "plain Splink")):
        if key in nd:
            rows.append((name, "same episodes", nd[key]))
            by.append((name, nd[f"{key}_by_provider"]))
    c.print(_quality_table("NDTMS haven: pairwise quality per episode", rows))
    c.print(
        "public baseline (other data, 300,000 people / 450,000 records): "
        + "; ".join(f"{k} P {p} / R {r}" for k, (p, r) in PUBLIC.items())
    )
    c.print(_provider_table(by))


def _show_full(c: Any, fq: dict[str, Any], more: dict[str, Any] | None) -> None:
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for prefix, q in (("", fq), ("+1 quarter: ", more)):
        if not q:
            continue
        rows.append((f"{prefix}NDTMS", "consented episodes", q["ndtms"]["carehaven"]))
        for key, name, unit in (
            ("nhs", "CLD, valid NHS no.", "LA persons"),
            ("nino", "IPS, valid NINO", "placements"),
        ):
            rows += [
                (f"{prefix}{name}", f"{unit}, among themselves", q[key]["among_themselves"]),
                (f"{prefix}{name}", "rows, among themselves", q[key]["rows_among_themselves"]),
                (f"{prefix}{name}", f"{unit}, with every record", q[key]["with_every_record"]),
            ]
    c.print(_quality_table("Full haven: carehaven link, every source together", rows))
    for key, what in (("nhs", "CLD"), ("nino", "IPS")):
        sc = fq[key]["scope"]
        c.print(
            f"{what}: {sc['rows_with_valid_number']:,} of {sc['rows']:,} rows with a valid "
            f"number; {sc['units_with_valid_number']:,} of {sc['units']:,} units "
            f"({sc['units_split_across_people']:,} split across predicted people, "
            f"{sc['units_with_two_truths']:,} with two true people)"
        )
    c.print(
        "with every record: pairs with at least one such unit, over all CLD LA persons, IPS "
        "placements and consented NDTMS episodes ('n' counts the units with a valid number)"
    )


def _runs_table(measures: list[Measure]) -> Table:
    t = Table(title="Link runs (each in a child process)", title_justify="left")
    cols = ("measurement", "peak RSS GB", "process s", "reused model", "new profiles", "people")
    cols += ("waiting review", "merges / splits", "compares", "CPU idle before")
    for col in cols:
        t.add_column(col, justify="left" if col == "measurement" else "right")
    for m in measures:
        e = m.extra
        if "peak_rss_gb" not in e:
            continue
        idle = m.idle[0] if m.idle else None

        def num(key: str, e: dict[str, Any] = e) -> str:
            return f"{e[key]:,}" if key in e else "-"

        t.add_row(
            m.name.removeprefix("carehaven "),
            f"{e['peak_rss_gb']:.2f}",
            f"{e['process_seconds']:.1f}",
            {True: "yes", False: "no"}.get(e.get("incremental"), "-"),  # type: ignore[arg-type]
            num("new_profiles"),
            num("people"),
            num("waiting_review"),
            f"{e['merges']} / {e['splits']}" if "merges" in e else "-",
            ", ".join(e.get("compared", [])) or "-",
            "-" if idle is None else f"{idle:.0%}",
        )
    return t


def _ethnicity_table(out: dict[str, Any]) -> Table:
    """Both arms of --ethnicity side by side: the same data, linked in the same run."""
    t = Table(
        title="Without ethnicity (carehaven) and with it (the model before issue 12), same data",
        title_justify="left",
    )
    for col in ("haven", "units", "arm"):
        t.add_column(col)
    for col in ("n", "precision", "recall", "F1", "people", "truth", "error", "link s", "GB"):
        t.add_column(col, justify="right")
    by_name = {m.name: m for m in out["_measures"]}
    for kind, with_q in out["quality_with_ethnicity"].items():
        name = NAMES[kind]
        fresh = f"carehaven link: {name}, fresh"
        arms = (
            ("without", out["quality"][kind], by_name[fresh]),
            ("with", with_q, by_name[f"{fresh}, with ethnicity"]),
        )
        for _, unit, path in ETHNICITY_UNITS[kind]:
            for arm, q, m in arms:
                u = _at(q, path)
                err = u["people_error"]
                t.add_row(
                    name,
                    unit,
                    arm,
                    f"{u['units']:,}",
                    _f(u["precision"]),
                    _f(u["recall"]),
                    _f(u["f1"]),
                    f"{u['people_predicted']:,}",
                    f"{u['people_true']:,}",
                    "-" if err is None else f"{err:+.2%}",
                    f"{m.best:.1f}",
                    f"{m.extra['peak_rss_gb']:.2f}",
                )
        ratio = out["ratios"][f"{kind}_time_with_vs_without_ethnicity"]
        t.add_row(name, "link time, with ÷ without", "", "", "", "", "", "", "", "",
                  f"{ratio:.3f}", "")
    return t


def show(out: dict[str, Any]) -> None:
    c = console()
    measures: list[Measure] = out["_measures"]
    s = out["settings"]
    c.print(machine_line(out["machine"]))
    if out["machine"]["source_changed_during_run"]:
        c.print("[red]carehaven's source changed during this run: its figures mix versions[/]")
    c.print(
        f"thresholds: accept {s['link_accept']}, review {s['link_review']} (pairs between them "
        f"wait for a person and are not joined); engine {s['data_engine']}; mode {out['mode']}"
    )
    for kind, d in out["data"].items():
        rows = ", ".join(f"{k} {v:,}" for k, v in d["rows_by_dataset"].items())
        c.print(f"{kind} haven: {d['people']:,} people, seed {d['seed']}, rows: {rows}")
    q, more = out["quality"], out["quality_after_one_more_quarter"]
    if "ndtms" in q:
        _show_ndtms(c, q["ndtms"], more.get("ndtms"))
    if "full" in q:
        _show_full(c, q["full"], more.get("full"))
    if out["quality_with_ethnicity"]:
        c.print(_ethnicity_table(out))
    c.print(measures_table("Timings", measures, "records"))
    c.print(_runs_table(measures))
    for m in measures:
        if m.stages and m.name.endswith(("fresh", "(DuckDB)", "+1 quarter", "with ethnicity")):
            c.print(stages_table(f"Stages of {m.name}", m.best_stages()))
    c.print(goals_table("Goals and ratios", _goal_rows(out)))


def _goal_rows(out: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    g, r, q = out["goals"], out["ratios"], out["quality"]
    more = out["quality_after_one_more_quarter"]
    by_name = {m.name: m for m in out["_measures"]}
    rows: list[tuple[str, str, str, bool | None]] = []
    if "ndtms" in q:
        for when, label, qq in (
            ("", "", q["ndtms"]),
            ("after_quarter_", ", +1 quarter", more.get("ndtms")),
        ):
            if not qq:
                continue
            ch = qq["carehaven"]
            rows.append(
                (
                    f"NDTMS pairwise F1 (episodes){label}",
                    f"≥ {GOAL_F1}",
                    f"{_f(ch['f1'])} (P {_f(ch['precision'])}, R {_f(ch['recall'])})",
                    g[f"ndtms_{when}f1_0.97"],
                )
            )
            err = ch["people_error"]
            rows.append(
                (
                    f"NDTMS people count vs truth{label}",
                    f"within {GOAL_PEOPLE_ERROR:.0%}",
                    "-" if err is None else f"{err:+.2%}",
                    g[f"ndtms_{when}people_within_1pct"],
                )
            )
        link = by_name["carehaven link: NDTMS, fresh"]
        rows.append(
            (
                "NDTMS-sized link (no earlier run)",
                f"< {GOAL_NDTMS_S:g} s at {GOAL_NDTMS_RECORDS:,}",
                f"{link.best:.1f} s at {link.units:,}",
                g["ndtms_450k_under_20s"],
            )
        )
        for key, name in (("exact_key", "exact key"), ("splink", "plain Splink")):
            if f"f1_carehaven_minus_{key}" in r:
                b = q["ndtms"][key]
                rows.append(
                    (
                        f"F1 carehaven minus {name}",
                        "-",
                        f"{r[f'f1_carehaven_minus_{key}']:+.4f} ({name} P {_f(b['precision'])}, "
                        f"R {_f(b['recall'])})",
                        None,
                    )
                )
        if "ndtms_link_time_vs_plain_splink" in r:
            rows.append(
                (
                    "NDTMS link time ÷ plain Splink time",
                    "-",
                    f"{r['ndtms_link_time_vs_plain_splink']:.2f}x",
                    None,
                )
            )
    if "full" in q:
        for subset, name in (("nhs", "valid NHS number (CLD)"), ("nino", "valid NINO (IPS)")):
            for scope in STRONG_SCOPES:
                ch = q["full"][subset][scope]
                for what in ("precision", "recall"):
                    rows.append(
                        (
                            f"{name}, {scope.replace('_', ' ')}: {what}",
                            f"≥ {GOAL_ID_PR}",
                            _f(ch[what]),
                            g[f"{subset}_{scope}_{what}_0.995"],
                        )
                    )
        link = by_name["carehaven link: full, fresh"]
        rows.append(
            (
                "full link (train, predict, cluster)",
                f"< {GOAL_SCALE_S:g} s at ≥ {GOAL_SCALE_RECORDS:,}",
                f"{link.best:.1f} s at {link.units:,}",
                g["1m_under_90s"],
            )
        )
        rows.append(
            (
                "full link peak memory",
                f"< {GOAL_SCALE_GB:g} GB",
                f"{link.extra['peak_rss_gb']:.2f} GB",
                g["1m_peak_under_8gb"],
            )
        )
    for key in ("ndtms", "full"):
        if f"{key}_relink_unchanged_vs_fresh" not in r:
            continue
        name = NAMES[key]
        rows.append(
            (
                f"{name}: relink, nothing changed ÷ fresh link",
                "-",
                f"{r[f'{key}_relink_unchanged_vs_fresh']:.2f}",
                None,
            )
        )
        rows.append(
            (
                f"{name}: full relink (retrain) ÷ fresh link",
                "-",
                f"{r[f'{key}_relink_full_vs_fresh']:.2f}",
                None,
            )
        )
        if f"{key}_relink_plus_quarter_vs_full_relink" in r:
            rows.append(
                (
                    f"{name}: relink after one more quarter ÷ full relink",
                    f"≤ {GOAL_QUARTER_SHARE} (a fraction)",
                    f"{r[f'{key}_relink_plus_quarter_vs_full_relink']:.3f}",
                    g[f"{key}_plus_quarter_fraction_of_full_relink"],
                )
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        kind, *paths = argv[1:]
        if kind == "link":
            flags = {"--full", "--ethnicity"}
            root, out = (Path(x) for x in paths if x not in flags)
            worker_link(root, out, full="--full" in paths, ethnicity="--ethnicity" in paths)
        elif kind == "splink":
            worker_splink(Path(paths[0]), Path(paths[1]), Path(paths[2]))
        else:
            raise SystemExit(f"unknown worker {kind}")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300_000, help="people of the full haven")
    parser.add_argument(
        "--ndtms-people",
        type=int,
        help=f"people of the NDTMS haven (default: {NDTMS_SHARE:g} x --people)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the full haven's timings (the 1M-record goal), with one more quarter",
    )
    parser.add_argument("--no-splink", dest="splink", action="store_false")
    parser.add_argument(
        "--ethnicity",
        action="store_true",
        help="also link each haven's data with ethnicity compared (the pre-issue-12 model)",
    )
    parser.add_argument(
        "--ethnicity-only",
        action="store_true",
        help="only the fresh link of each haven, without and with ethnicity compared",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working havens")
    add_output_args(parser)
    args = parser.parse_args(argv)
    args.ethnicity = args.ethnicity or args.ethnicity_only
    if args.ndtms_people is None:
        args.ndtms_people = round(args.people * NDTMS_SHARE / 1000) * 1000 or args.people
    report(run(args), args, show)


if __name__ == "__main__":
    main()
