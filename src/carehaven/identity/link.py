"""``link``: resolve every accepted row to a person, and keep person ids stable.

The registry lives in the data plane as four tables numbered by run (``identity_records_N``,
``identity_profiles_N``, ``identity_persons_N``, and the scored pairs ``identity_edges_N`` the
next run reuses); the control plane's latest ``link_runs`` row
says which number is in force. A run writes its tables first and commits its control-plane row,
audit entries and review queue in one transaction afterwards, so a run that dies part-way
leaves the previous registry in force and only orphan tables, which the next run removes
(ADR 0004).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import LinkRunCompleted, PersonMerged, PersonSplit
from carehaven.control.kinds import LinkDecision, LinkPairStatus, SubmissionStatus
from carehaven.control.models import LinkPair, LinkRun, Submission
from carehaven.data import connect, in_force_rows
from carehaven.errors import CarehavenError, ExitCode
from carehaven.faults import checkpoint
from carehaven.haven import Haven
from carehaven.identity import model
from carehaven.identity.engine import Engine, engine
from carehaven.identity.registry import Assignment, assign
from carehaven.identity.resolve import (
    Decision,
    Previous,
    Resolution,
    Thresholds,
    no_pairs,
    resolve,
)
from carehaven.identity.sources import SOURCES
from carehaven.specs import load_spec

Progress = Callable[[str], None]
TABLES = ("identity_records", "identity_profiles", "identity_persons", "identity_edges")
#: Above this share of new profiles a run retrains the model rather than reusing it.
RETRAIN_SHARE = 0.3


class NothingToLinkError(CarehavenError):
    exit_code = ExitCode.NOT_FOUND


def table_name(kind: str, run: int) -> str:
    return f"{kind}_{run}"


@dataclass
class LinkResult:
    run: int
    records: int
    profiles: int
    people: int
    merged_by_rule: int
    merged_by_model: int
    merged_by_decision: int
    waiting_review: int
    merges: int
    splits: int
    model_used: bool
    incremental: bool = False
    new_profiles: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    resolution: Resolution | None = None



def current_run(session: Session) -> int | None:
    return session.scalar(select(func.max(LinkRun.id)))


def in_force(session: Session, dataset: str) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission).where(
                Submission.dataset == dataset,
                Submission.status == SubmissionStatus.ACCEPTED,
                Submission.superseded_by.is_(None),
            )
        )
    )


def pair_id(left: str, right: str) -> str:
    a, b = sorted((left, right))
    return "LP-" + hashlib.sha256(f"{a}|{b}".encode()).hexdigest()[:12]


def _evidence(row: dict[str, Any], labels: dict[str, dict[int, str]]) -> dict[str, str]:
    return {
        name: levels.get(int(row[f"gamma_{name}"]), "missing")
        for name, levels in labels.items()
        if f"gamma_{name}" in row
    }


def link(
    haven: Haven,
    *,
    actor: str,
    progress: Progress | None = None,
    keep_resolution: bool = False,
    thresholds: Thresholds | None = None,
    full: bool = False,
) -> LinkResult:
    """Link every in-force row with identifiers, on the engine the settings choose.

    ``thresholds`` default to the settings' ``link_accept`` and ``link_review``. A run reuses
    the previous run's model and scored pairs, scoring only new profiles, unless ``full`` is set,
    the review threshold was lowered, or more than ``RETRAIN_SHARE`` of the profiles are new.
    """
    settings = haven.settings
    say = progress or (lambda _: None)
    thresholds = thresholds or Thresholds(settings.link_accept, settings.link_review)
    started = clock.now()
    with haven.writer():
        with haven.sessions() as session:
            previous = current_run(session)
            last = session.get(LinkRun, previous) if previous is not None else None
            reusable = (
                not full
                and last is not None
                and last.model is not None
                and float(last.summary.get("review", 1.0)) <= thresholds.review  # type: ignore[arg-type]
            )
            last_model = dict(last.model) if reusable and last and last.model else None
            subs = {s.dataset: [x.id for x in in_force(session, s.dataset)] for s in SOURCES}
            decisions = [
                Decision(p.left_profile, p.right_profile, p.decision == LinkDecision.SAME)
                for p in session.scalars(
                    select(LinkPair).where(LinkPair.status == LinkPairStatus.DECIDED)
                )
            ]
        run = (previous or 0) + 1
        con = connect(haven.paths.data_db)
        work: Engine | None = None
        try:
            work = _engine(haven, con)
            # A dataset nobody has submitted has no table yet, and nothing to link.
            tables = {
                s.dataset: _rows(work, con, s.dataset, subs[s.dataset])
                for s in SOURCES
                if subs[s.dataset]
            }
            if not tables:
                raise NothingToLinkError(
                    "No accepted submission of ndtms-episode, ips-episode or cld-event is in "
                    "force; submit returns before linking."
                )
            key_hex = haven.master_key.derive("identity/profile/v1").hex()
            earlier = _previous(con.con, previous, last_model) if last_model else None
            res = resolve(
                work,
                tables,
                previous=earlier,
                retrain_share=RETRAIN_SHARE,
                key_hex=key_hex,
                decisions=decisions,
                thresholds=thresholds,
                progress=say,
                keep_linker=keep_resolution,
            )
            say("carrying person ids over")
            t0 = time.perf_counter()
            raw = con.con
            assignment, persons, profiles = _assign(raw, res, previous)
            _drop_run(raw, run)  # an orphan of a run that died before committing
            raw.register("_ch_p", profiles)
            raw.register("_ch_r", res.record_profiles)
            raw.register("_ch_n", persons)
            raw.register("_ch_e", res.edges if res.edges is not None else no_pairs())
            # Table names are built from a run number, never from input.
            for kind, source in (
                ("identity_profiles", "_ch_p"),
                ("identity_records", "_ch_r"),
                ("identity_persons", "_ch_n"),
                ("identity_edges", "_ch_e"),
            ):
                sql = f'CREATE TABLE "{table_name(kind, run)}" AS SELECT * FROM {source}'  # noqa: S608
                raw.execute(sql)
            for name in ("_ch_p", "_ch_r", "_ch_n", "_ch_e"):
                raw.unregister(name)
            res.timings["registry"] = round(time.perf_counter() - t0, 3)

            checkpoint(settings, "link.tables-written")
            say("recording the run")
            waiting = _commit(
                haven, res, run, started, actor, assignment, thresholds, settings.data_engine
            )
            # Every match new at this run is held for the data team now, while the previous
            # run's registry still shows which matches were already there (IDN-2).
            from carehaven.identity.feedback import refresh_holds

            refresh_holds(haven, con, actor=actor, previous=previous)
            for old in range(1, run):
                _drop_run(raw, old)
        finally:
            if work is not None and work.name == "spark":
                work.close()  # its views and Splink's tables; the session itself is shared
            con.disconnect()
    return LinkResult(
        run=run,
        records=res.record_profiles.num_rows,
        profiles=res.profiles.num_rows,
        people=res.people,
        merged_by_rule=res.clusters.merged_by_rule,
        merged_by_model=res.clusters.merged_by_model,
        merged_by_decision=res.clusters.merged_by_decision,
        waiting_review=waiting,
        merges=len(assignment.merges),
        splits=len(assignment.splits),
        model_used=res.model_used,
        incremental=res.incremental,
        new_profiles=res.new_profiles,
        timings=res.timings,
        resolution=res if keep_resolution else None,
    )


def _previous(
    raw: duckdb.DuckDBPyConnection, run: int | None, model_dict: dict[str, Any]
) -> Previous | None:
    """The earlier run's model and scored pairs, when few enough profiles are new."""
    if run is None:
        return None
    names = {r[0] for r in raw.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    edges_name = table_name("identity_edges", run)
    profiles_name = table_name("identity_profiles", run)
    if edges_name not in names or profiles_name not in names:
        return None
    edges = _arrow(raw, f'SELECT * FROM "{edges_name}"')  # noqa: S608 (a run number)
    ids = _arrow(raw, f'SELECT profile_id FROM "{profiles_name}"')  # noqa: S608
    return Previous(model_dict, edges, ids["profile_id"].combine_chunks())


def _arrow(raw: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A query's whole result, read before the connection runs anything else."""
    result = raw.execute(sql).arrow()
    return result.read_all() if hasattr(result, "read_all") else result


def _engine(haven: Haven, con: Any) -> Engine:
    name = haven.settings.data_engine
    if name == "duckdb":
        return Engine("duckdb", con)
    return engine("spark", work=haven.paths.root / "work" / "spark")


def _rows(work: Engine, con: Any, dataset: str, ids: list[str]) -> Any:
    rows = in_force_rows(con, load_spec(dataset), ids)
    if work.name == "duckdb":
        return rows
    return work.load(rows.to_pyarrow(), prefix=dataset.replace("-", "_"))


def _drop_run(raw: duckdb.DuckDBPyConnection, run: int) -> None:
    for kind in TABLES:
        raw.execute(f'DROP TABLE IF EXISTS "{table_name(kind, run)}"')


def _overlap_by_records(
    raw: duckdb.DuckDBPyConnection, res: Resolution, previous: int, known: set[int]
) -> list[tuple[int, str, int]]:
    """For clusters sharing no profile with the previous run, what they share with it by the
    rows they hold: ``(cluster, earlier person_id, profiles holding such rows)``.

    A profile's id is a keyed hash of its content, so when what a profile holds changes (a
    field no longer compared, as ethnicity stopped being in issue 12) every id changes; the
    rows do not, so people keep their ids across such a change instead of all getting new
    ones unaudited."""
    raw.register("_ch_rec", res.record_profiles)
    try:
        rows = raw.execute(
            f"""SELECT c.cluster, p.person_id, count(DISTINCT c.profile_id)::INT
                FROM _ch_cur c
                JOIN _ch_rec r USING (profile_id)
                JOIN "{table_name("identity_records", previous)}" t
                  ON t.dataset = r.dataset AND t._submission_id = r._submission_id
                 AND t._row = r._row
                JOIN "{table_name("identity_profiles", previous)}" p
                  ON p.profile_id = t.profile_id
                WHERE NOT list_contains($known::INT[], c.cluster)
                GROUP BY ALL""",  # noqa: S608 (run numbers, not input)
            {"known": sorted(known)},
        ).fetchall()
    finally:
        raw.unregister("_ch_rec")
    return [(int(c), str(pid), int(n)) for c, pid, n in rows]


def _assign(
    raw: duckdb.DuckDBPyConnection, res: Resolution, previous: int | None
) -> tuple[Assignment, pa.Table, pa.Table]:
    """Person ids for this run's clusters, from the previous run's registry."""
    current = res.profiles.select(["profile_id", "cluster"])
    overlap: list[tuple[int, str, int]] = []
    carried = _persons([], "", [])
    active: list[str] = []
    if previous is not None:
        raw.register("_ch_cur", current)
        profiles_then = table_name("identity_profiles", previous)
        overlap = raw.execute(
            f"""SELECT c.cluster, p.person_id, count(*)::INT
                FROM _ch_cur c JOIN "{profiles_then}" p
                USING (profile_id) GROUP BY ALL"""  # noqa: S608 (a run number, not input)
        ).fetchall()
        overlap += _overlap_by_records(raw, res, previous, {o[0] for o in overlap})
        raw.unregister("_ch_cur")
        persons_then = table_name("identity_persons", previous)
        persons = _arrow(
            raw, f'SELECT person_id, status, superseded_by FROM "{persons_then}"'  # noqa: S608
        )
        is_active = pc.equal(persons["status"], "active")
        active = persons.filter(is_active)["person_id"].to_pylist()
        carried = persons.filter(pc.invert(is_active))

    labels = res.clusters.labels
    strong, joined = res.strong_labels, res.clusters.joined
    clusters, inverse = np.unique(labels, return_inverse=True)
    # Profiles grouped by cluster, so a merge's reason reads only its own cluster's members.
    by_cluster = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(inverse))]

    def merge_reason(c: int, merged: str, into: str) -> str:
        k = int(np.searchsorted(clusters, c))
        members = by_cluster[bounds[k] : bounds[k + 1]]
        if len(np.unique(strong[members])) == 1:
            return "strong key"
        if len(np.unique(joined[members])) == 1:
            return "decided by a person"
        return "model match"

    def split_reason(person: str, kept: int, new: int) -> str:
        return "the evidence that joined them is no longer accepted or was withdrawn"

    assignment = assign(
        overlap,
        clusters.tolist(),
        active,
        merge_reason=merge_reason,
        split_reason=split_reason,
    )
    person_of = np.array([assignment.person_of_cluster[c] for c in clusters.tolist()], object)
    profiles = res.profiles.append_column(
        "person_id", pa.array(person_of[inverse], pa.string())
    )
    active_now = person_of.tolist()
    persons_table = pa.concat_tables(
        [
            _persons(active_now, "active", [None] * len(active_now)),
            _persons(
                [m.person_id for m in assignment.merges],
                "merged",
                [m.into for m in assignment.merges],
            ),
            _persons(assignment.retired, "retired", [None] * len(assignment.retired)),
            carried.select(PERSONS_SCHEMA.names).cast(PERSONS_SCHEMA),
        ]
    )
    return assignment, persons_table, profiles


PERSONS_SCHEMA = pa.schema(
    [("person_id", pa.string()), ("status", pa.string()), ("superseded_by", pa.string())]
)


def _persons(ids: list[str], status: str, superseded_by: list[str | None]) -> pa.Table:
    """Rows of the persons table: ids with one status, and where each now points."""
    return pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array([status] * len(ids), pa.string()),
            pa.array(superseded_by, pa.string()),
        ],
        schema=PERSONS_SCHEMA,
    )


def _sides_of(profiles: pa.Table, band: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Source, organisation and row count of each profile in an uncertain pair."""
    wanted = {row[k] for row in band for k in ("profile_id_l", "profile_id_r")}
    if not wanted:
        return {}
    chosen = profiles.filter(pc.is_in(profiles["profile_id"],
                                      value_set=pa.array(sorted(wanted), pa.string())))
    return {r["profile_id"]: {"source": str(r["source"]), "org": str(r["org"]),
                              "records": int(r["records"])}
            for r in chosen.select(["profile_id", "source", "org", "records"]).to_pylist()}


def _commit(
    haven: Haven,
    res: Resolution,
    run: int,
    started: Any,
    actor: str,
    assignment: Assignment,
    thresholds: Thresholds,
    engine_name: str,
) -> int:
    labels = model.level_labels()
    band = res.band.to_pylist()
    sides = _sides_of(res.profiles, band)
    now = clock.now()
    with haven.transaction() as session:
        waiting_now: dict[str, dict[str, Any]] = {}
        for row in band:
            pid = pair_id(row["profile_id_l"], row["profile_id_r"])
            waiting_now[pid] = row
        existing = {p.id: p for p in session.scalars(select(LinkPair))}
        for pid, row in waiting_now.items():
            left_id, right_id = sorted((row["profile_id_l"], row["profile_id_r"]))
            evidence = {
                "fields": _evidence(row, labels),
                "match_probability": round(float(row["match_probability"]), 6),
                # Where each side comes from, so the review queue is read from the control
                # plane alone (the web portal never opens the data plane).
                "left": sides.get(left_id),
                "right": sides.get(right_id),
            }
            pair = existing.get(pid)
            if pair is None:
                left, right = sorted((row["profile_id_l"], row["profile_id_r"]))
                session.add(
                    LinkPair(
                        id=pid,
                        left_profile=left,
                        right_profile=right,
                        probability=float(row["match_probability"]),
                        evidence=evidence,
                        status=LinkPairStatus.WAITING,
                        first_run=run,
                        last_run=run,
                    )
                )
            elif pair.status != LinkPairStatus.DECIDED:
                pair.status = LinkPairStatus.WAITING
                pair.probability = float(row["match_probability"])
                pair.evidence = evidence
                pair.last_run = run
        for pid, pair in existing.items():
            if pair.status == LinkPairStatus.WAITING and pid not in waiting_now:
                pair.status = LinkPairStatus.WITHDRAWN  # no longer uncertain: evidence changed
        waiting = len(waiting_now)
        counts = {
            "records": res.record_profiles.num_rows,
            "profiles": res.profiles.num_rows,
            "people": res.people,
            "merged_by_rule": res.clusters.merged_by_rule,
            "merged_by_model": res.clusters.merged_by_model,
            "merged_by_decision": res.clusters.merged_by_decision,
            "waiting_review": waiting,
        }
        summary = {
            "timings_s": res.timings,
            "refused_model_matches": res.clusters.refused,
            "model_used": res.model_used,
            "accept": thresholds.accept,
            "review": thresholds.review,
            "persons_kept": assignment.kept,
            "persons_created": assignment.created,
            "persons_retired": len(assignment.retired),
            "incremental": res.incremental,
            "new_profiles": res.new_profiles,
        }
        session.add(
            LinkRun(
                id=run,
                started_at=started,
                finished_at=now,
                actor=actor,
                engine=engine_name,
                **counts,
                summary=summary,
                model=res.model,
            )
        )
        for m in assignment.merges:
            record(session, PersonMerged(m.person_id, m.into, m.reason, run), actor=actor)
        for s in assignment.splits:
            record(session, PersonSplit(s.person_id, s.new_person_id, s.reason, run), actor=actor)
        record(
            session,
            LinkRunCompleted(
                run=run,
                engine=engine_name,
                **counts,
                accept=thresholds.accept,
                review=thresholds.review,
            ),
            actor=actor,
        )
    return waiting
