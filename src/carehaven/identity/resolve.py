"""Resolution: from identity records to clusters of profiles, on any engine.

standardise → profiles → strong keys → Splink on the linkable profiles → guarded clusters.
The result is Arrow tables in memory; :mod:`carehaven.identity.link` turns them into person ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carehaven.identity import model
from carehaven.identity.cluster import Clusters, cluster
from carehaven.identity.engine import Engine
from carehaven.identity.profiles import (
    profiles as profile_table,
)
from carehaven.identity.profiles import (
    strong_key_members,
    transfer_pairs,
    with_profile_id,
)
from carehaven.identity.sources import identity_records

log = logging.getLogger(__name__)

#: Fewer linkable profiles than this and there is nothing for EM to learn from.
MIN_PROFILES_FOR_MODEL = 200

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities: at or above ``accept`` the model joins a pair; from ``review`` up to
    ``accept`` a person decides."""

    accept: float = 0.90
    review: float = 0.60

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.accept <= 1.0:
            raise ValueError("thresholds must satisfy 0 < review <= accept <= 1")


@dataclass(frozen=True)
class Decision:
    left: str
    right: str
    same: bool


@dataclass(frozen=True)
class Previous:
    """What a later run reuses: the trained model, and the scored pairs of the earlier run."""

    model: dict[str, Any]  # Splink's saved settings and parameters: no record values
    edges: pa.Table  # profile_id_l, profile_id_r, match_probability, match_weight, gamma_*
    profile_ids: pa.Array


@dataclass
class Resolution:
    profiles: pa.Table  # profile_id, profile columns, records, cluster
    record_profiles: pa.Table  # dataset, _submission_id, _row, profile_id
    clusters: Clusters
    strong_labels: npt.NDArray[np.int64]
    band: pa.Table  # profile_id_l, profile_id_r, match_probability, gamma_*: for review
    weights: npt.NDArray[np.float64]  # match weight of every scored pair (for the report)
    accepted: npt.NDArray[np.float64]  # match probability of each pair the model accepted
    model_used: bool
    edges: pa.Table | None = None  # every scored pair at or above the review threshold
    model: dict[str, Any] | None = None
    incremental: bool = False
    new_profiles: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    linker: Any = None

    @property
    def people(self) -> int:
        return len(np.unique(self.clusters.labels))


def _index(ids: pa.Array, values: pa.Array) -> npt.NDArray[np.int64]:
    return np.asarray(pc.index_in(values, value_set=ids).to_numpy(zero_copy_only=False), np.int64)


def _strong_edges(members: pa.Table, ids: pa.Array) -> tuple[npt.NDArray[np.int64], ...]:
    """Edges from each key's members to the key's first member (a star, not all pairs)."""
    if members.num_rows == 0:
        empty = np.empty(0, np.int64)
        return empty, empty
    idx = _index(ids, members["profile_id"])
    keys = pc.binary_join_element_wise(members["kind"], members["key"], "\x1f")
    codes = np.asarray(pc.dictionary_encode(keys).combine_chunks().indices, np.int64)
    order = np.argsort(codes, kind="stable")
    codes, idx = codes[order], idx[order]
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    head = np.repeat(idx[starts], np.diff(np.r_[starts, len(codes)]))
    keep = head != idx
    return head[keep], idx[keep]


def resolve(
    engine: Engine,
    tables: dict[str, ir.Table],
    *,
    key_hex: str,
    decisions: Sequence[Decision] = (),
    thresholds: Thresholds | None = None,
    training: model.Training | None = None,
    progress: Progress | None = None,
    keep_linker: bool = False,
    previous: Previous | None = None,
    retrain_share: float = 0.3,
) -> Resolution:
    """Cluster the profiles of ``tables``' rows.

    With ``previous`` the model is not retrained: only pairs involving profiles new since then
    are scored (Splink's ``predict_between`` and ``predict_within``), and the earlier run's scored
    pairs are kept for the profiles that remain; unless more than ``retrain_share`` of the
    linkable profiles are new, or the earlier model does not compare and block as the current
    settings do (:func:`model.reusable`), when the model is trained afresh.
    """
    say = progress or (lambda _: None)
    thresholds = thresholds or Thresholds()
    training = training or model.Training()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    say("standardising identifiers")
    records = engine.materialise(
        with_profile_id(identity_records(tables), key_hex), "_ch_records"
    )
    profs = engine.materialise(profile_table(records), "_ch_profiles")
    prof_arrow = profs.order_by("profile_id").to_pyarrow()
    ids = prof_arrow["profile_id"].combine_chunks()
    record_profiles = records.select("dataset", "_submission_id", "_row", "profile_id").to_pyarrow()
    lap("standardise")

    say("joining on strong keys")
    members = strong_key_members(profs, records).to_pyarrow()
    transfers = transfer_pairs(records).to_pyarrow()
    s_left, s_right = _strong_edges(members, ids)
    t_left, t_right = _index(ids, transfers["left"]), _index(ids, transfers["right"])
    strong = (np.r_[s_left, t_left], np.r_[s_right, t_right])
    lap("strong keys")

    splink_in = model.splink_input(profs)
    linkable = int(splink_in.count().execute())
    predictions: pa.Table | None = None
    linker: Any = None
    kept: pa.Table | None = None
    new_profiles = 0
    trained: dict[str, Any] | None = None
    if linkable >= MIN_PROFILES_FOR_MODEL:
        from splink import Linker

        api = engine.splink_api()
        sdf = engine.to_splink(api, splink_in, "_ch_splink_input")
        if previous is not None and not model.reusable(previous.model):
            say("the last run's model compared other fields: training afresh")
            previous = None
        if previous is not None:
            earlier = engine.load(pa.table({"profile_id": previous.profile_ids}), prefix="seen")
            seen = splink_in.profile_id.isin(earlier.profile_id)
            fresh, old = splink_in.filter(~seen), splink_in.filter(seen)
            new_profiles = int(fresh.count().execute())
            if new_profiles > retrain_share * linkable:
                previous = None  # too much is new: the model should learn from it
        if previous is None:
            say(f"training the model on {linkable:,} profiles")
            linker = Linker(sdf, model.settings(), log_level=None)
            try:
                model.train(linker, training)
            except model.UntrainableError:
                linker = None
            lap("train")
            if linker is not None:
                say("scoring candidate pairs")
                scored = linker.inference.predict(threshold_match_probability=0.01)
                predictions = scored.as_pyarrow_table()
        else:
            linker = Linker(sdf, previous.model, log_level=None)
            model.quiet()
            for col in model.TF_COLUMNS:
                linker.table_management.compute_tf_table(col)
            say(f"scoring {new_profiles:,} new profiles against the model of the last run")
            parts = []
            if new_profiles:
                sdf_new = engine.to_splink(api, fresh, "_ch_splink_new")
                sdf_old = engine.to_splink(api, old, "_ch_splink_old")
                infer = linker.inference
                between = infer.predict_between(sdf_new, sdf_old, threshold_match_probability=0.01)
                parts.append(between.as_pyarrow_table())
                if new_profiles > 1:
                    within = infer.predict_within(sdf_new, threshold_match_probability=0.01)
                    parts.append(within.as_pyarrow_table())
            predictions = _concat(parts, previous.edges) if parts else previous.edges.slice(0, 0)
            alive = pc.and_(
                pc.is_in(previous.edges["profile_id_l"], ids),
                pc.is_in(previous.edges["profile_id_r"], ids),
            )
            kept = previous.edges.filter(alive)
        trained = model.saved(linker) if linker is not None else None
        lap("predict")
    weights = (
        np.asarray(predictions["match_weight"].to_numpy(), np.float64)
        if predictions is not None
        else np.empty(0)
    )
    if kept is not None and predictions is not None:
        predictions = _concat([predictions, kept], kept)

    say("clustering")
    pairs = _high(predictions, thresholds.review)
    p = np.asarray(pairs["match_probability"].to_numpy(), np.float64)
    left = _index(ids, pairs["profile_id_l"])
    right = _index(ids, pairs["profile_id_r"])
    decided: dict[tuple[int, int], bool] = {}
    index_of = {pid: i for i, pid in enumerate(ids.to_pylist())} if decisions else {}
    for d in decisions:
        if d.left in index_of and d.right in index_of:
            a, b = index_of[d.left], index_of[d.right]
            decided[(min(a, b), max(a, b))] = d.same
    accept = p >= thresholds.accept
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    undecided = (
        np.array(
            [(a, b) not in decided for a, b in zip(lo.tolist(), hi.tolist(), strict=True)], bool
        )
        if decided
        else np.ones(len(p), bool)
    )
    use = accept & undecided if len(p) else np.zeros(0, bool)
    order = np.argsort(-p[use], kind="stable")
    model_edges = (left[use][order], right[use][order])
    # Object arrays, converted in C: the guard reads only the members of touched components.
    def column(values: Any) -> Any:
        return values.combine_chunks().to_numpy(zero_copy_only=False)

    cols = {n: column(prof_arrow[n]) for n in ("nhs", "nino", "local_ref")}
    clients = column(pc.binary_join_element_wise(prof_arrow["source"], prof_arrow["org"], "|"))
    clusters = cluster(
        len(ids),
        strong=strong,
        same=[k for k, v in decided.items() if v],
        different=[k for k, v in decided.items() if not v],
        model=model_edges,
        nhs=cols["nhs"],
        nino=cols["nino"],
        client=clients,
        ref=cols["local_ref"],
    )
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(ids)
    strong_labels = connected_components(
        coo_matrix((np.ones(len(strong[0]), np.int8), strong), shape=(n, n)), directed=False
    )[1].astype(np.int64)
    labels = clusters.labels
    in_band = (~accept) & undecided if len(p) else np.zeros(0, bool)
    apart = labels[left] != labels[right] if len(p) else np.zeros(0, bool)
    band = pairs.filter(pa.array(in_band & apart))
    lap("cluster")
    for name in ("_ch_profiles", "_ch_records"):
        engine.drop(name)
    return Resolution(
        profiles=prof_arrow.append_column("cluster", pa.array(labels)),
        record_profiles=record_profiles,
        clusters=clusters,
        strong_labels=strong_labels,
        band=band,
        weights=weights,
        edges=pairs if predictions is not None else None,
        model=trained,
        incremental=previous is not None and predictions is not None,
        new_profiles=new_profiles,
        accepted=p[use] if len(p) else np.empty(0),
        model_used=predictions is not None,
        timings=timings,
        linker=linker if keep_linker else None,
    )


def _concat(parts: list[pa.Table], like: pa.Table) -> pa.Table:
    """Scored pairs from several predictions, in the columns (and types) of ``like``."""
    cols = like.column_names
    return pa.concat_tables(
        [t.select(cols).cast(like.schema) for t in parts], promote_options="none"
    )


def no_pairs() -> pa.Table:
    """An empty table of scored pairs (a run the model could not score)."""
    return pa.table(
        {
            "profile_id_l": pa.array([], pa.string()),
            "profile_id_r": pa.array([], pa.string()),
            "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()),
        }
    )


def _high(predictions: pa.Table | None, floor: float) -> pa.Table:
    if predictions is None:
        return no_pairs()
    keep = [c for c in predictions.column_names if c.startswith("gamma_")]
    t = predictions.filter(pc.greater_equal(predictions["match_probability"], floor))
    t = t.select(["profile_id_l", "profile_id_r", "match_probability", "match_weight", *keep])
    # A fixed order, so that ties between equally likely matches break the same way on every
    # engine and thread count.
    return t.sort_by([("profile_id_l", "ascending"), ("profile_id_r", "ascending")])
