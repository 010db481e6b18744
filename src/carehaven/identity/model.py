"""The probabilistic model: Fellegi-Sunter in Splink, trained on the data itself (no labels).

Comparisons are plain SQL that DuckDB and Spark both accept, so one settings dictionary serves
either engine. Columns arrive prepared by :func:`splink_input` (``dob`` as ISO text, district
split into area and number, the blocking key for a swapped day and month).

The model compares only the identifiers the notices name for linkage (IDN-1: initials, date of
birth, sex, postcode district). Special-category fields (S-class: ethnicity, religion, sexual
orientation, disability) are collected to find and prevent disadvantage, not to identify
anyone (IDN-5, notice 000 section 2.3), so none is ever a comparison or a blocking key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

#: Columns Splink sees for each profile.
SPLINK_COLUMNS = (
    "profile_id",
    "initials",
    "dob",
    "dob_swap",
    "sex",
    "district",
    "area",
    "dnum",
    "sector",
    "la",
)


def splink_input(profiles: ir.Table) -> ir.Table:
    """Linkable profiles with the derived columns the comparisons and blocking rules use."""
    p = profiles.filter(profiles.linkable & profiles.initials.notnull() & profiles.dob.notnull())
    dob = p.dob.strftime("%Y-%m-%d")
    month, day = dob.substr(5, 2), dob.substr(8, 2)
    lo = ibis.cases((month <= day, month), else_=day)
    hi = ibis.cases((month <= day, day), else_=month)
    area = p.district.re_extract(r"^([A-Z]+)", 1)
    num = p.district.re_extract(r"^[A-Z]+([0-9]+)", 1)
    derived = p.mutate(
        dob=dob,
        dob_swap=dob.substr(0, 4).concat(lo, hi),
        area=ibis.cases((area != "", area), else_=ibis.null("string")),
        dnum=ibis.cases((num != "", num.cast("int64")), else_=ibis.null("int64")),
    )
    # Exactly SPLINK_COLUMNS: what Splink is given is what the model may compare.
    return derived.select(*SPLINK_COLUMNS)


def _null(col: str) -> dict[str, Any]:
    return {
        "sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL",
        "label_for_charts": "missing",
        "is_null_level": True,
    }


def _level(sql: str, label: str, m: float, tf: str | None = None) -> dict[str, Any]:
    """A level with EM's starting m: how often the same person's two records land here.

    Starting EM near the truth matters: from a neutral start it can settle on "same area"
    rather than "same person", because district and the other fields are not independent.
    """
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label, "m_probability": m}
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


def _else(m: float) -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "disagree", "m_probability": m}

_I1 = "substr({s}, 1, 1)"
_I2 = "substr({s}, 2, 1)"


def _initials() -> dict[str, Any]:
    l1, l2 = _I1.format(s="initials_l"), _I2.format(s="initials_l")
    r1, r2 = _I1.format(s="initials_r"), _I2.format(s="initials_r")
    return {
        "output_column_name": "initials",
        "comparison_levels": [
            _null("initials"),
            _level("initials_l = initials_r", "exact", 0.93, tf="initials"),
            _level(f"{l1} = {r2} AND {l2} = {r1}", "letters swapped", 0.005),
            _level(f"{l1} = {r1} OR {l2} = {r2}", "one letter differs", 0.05),
            _else(0.015),
        ],
    }


def _dob() -> dict[str, Any]:
    y = "substr(dob_{s}, 1, 4)"
    m = "substr(dob_{s}, 6, 2)"
    d = "substr(dob_{s}, 9, 2)"
    yl, ml, dl = (x.format(s="l") for x in (y, m, d))
    yr, mr, dr = (x.format(s="r") for x in (y, m, d))
    two_of_three = (
        f"({yl} = {yr} AND {ml} = {mr}) OR ({yl} = {yr} AND {dl} = {dr}) "
        f"OR ({ml} = {mr} AND {dl} = {dr})"
    )
    return {
        "output_column_name": "dob",
        "comparison_levels": [
            _null("dob"),
            _level("dob_l = dob_r", "exact", 0.95),
            _level(f"{yl} = {yr} AND {ml} = {dr} AND {dl} = {mr}", "day and month swapped", 0.02),
            _level(two_of_three, "one part differs", 0.02),
            _else(0.01),
        ],
    }


def _simple(col: str, m: float) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_levels": [
            _null(col),
            _level(f"{col}_l = {col}_r", "exact", m),
            _else(1.0 - m),
        ],
    }


def _district() -> dict[str, Any]:
    return {
        "output_column_name": "district",
        "comparison_levels": [
            _null("district"),
            _level("sector_l = sector_r", "same postcode sector", 0.3),
            _level("district_l = district_r", "same district", 0.55, tf="district"),
            _level("area_l = area_r AND abs(dnum_l - dnum_r) <= 2", "neighbouring district", 0.08),
            _level("area_l = area_r", "same postcode area", 0.04),
            _else(0.03),
        ],
    }


#: Candidate pairs: each rule tolerates one kind of error that another rule would miss.
BLOCKING_RULES = (
    "l.dob = r.dob AND substr(l.initials, 1, 1) = substr(r.initials, 1, 1)",
    "l.dob = r.dob AND substr(l.initials, 2, 1) = substr(r.initials, 2, 1)",
    "l.initials = r.initials AND l.dob_swap = r.dob_swap",
    "l.initials = r.initials AND l.district = r.district AND l.sex = r.sex",
)


def settings(prior: float = 1e-5) -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "profile_id",
        "probability_two_random_records_match": prior,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r} for r in BLOCKING_RULES
        ],
        "comparisons": [
            _initials(),
            _dob(),
            _simple("sex", 0.98),
            _district(),
            # The local authority is left out: it says almost nothing the district does not,
            # and counting geography twice misleads EM (the fields must be near independent).
            # Ethnicity is left out by rule, whatever it would add (IDN-5; see the docstring).
        ],
        "retain_intermediate_calculation_columns": False,
        "retain_matching_columns": True,  # gamma columns come with it: the reviewer's evidence
        "additional_columns_to_retain": [],
    }


#: Labels of each comparison's levels by gamma value, for showing evidence to a reviewer.
def level_labels() -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for comp in settings()["comparisons"]:
        levels = comp["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {len(non_null) - 1 - i: lv["label_for_charts"] for i, lv in enumerate(non_null)}
        labels[-1] = "missing"
        out[comp["output_column_name"]] = labels
    return out


def _shape(model: dict[str, Any]) -> tuple[Any, ...]:
    """What a model compares and how it blocks, without the parameters training estimates."""
    comparisons = tuple(
        (
            c["output_column_name"],
            tuple(
                (
                    lv["sql_condition"],
                    lv["label_for_charts"],
                    bool(lv.get("is_null_level", False)),
                    lv.get("tf_adjustment_column"),
                    lv.get("tf_adjustment_weight"),
                )
                for lv in c["comparison_levels"]
            ),
        )
        for c in model["comparisons"]
    )
    rules = tuple(
        r["blocking_rule"] if isinstance(r, dict) else r
        for r in model["blocking_rules_to_generate_predictions"]
    )
    return model["link_type"], model["unique_id_column_name"], comparisons, rules


def reusable(stored: dict[str, Any]) -> bool:
    """Whether a stored model compares and blocks exactly as :func:`settings` does now.

    A run reuses the last run's model. One saved by an earlier version (which compared
    ethnicity, say) would score fields the model may no longer use, on columns the input no
    longer has, and label the reviewer's evidence wrongly: such a model is trained afresh.
    """
    try:
        return _shape(stored) == _shape(settings())
    except (KeyError, TypeError):
        return False


@dataclass(frozen=True)
class Training:
    """How parameters are estimated; the figures are large enough to be stable, small enough
    to be quick at a million profiles."""

    u_pairs: float = 2e6
    seed: int = 7
    prior_recall: float = 0.8
    #: Splink counts u in chunks of pairs, split by the engine's own hash, and stops once every
    #: level has been seen often enough, so which pairs it counts differs by engine. One chunk
    #: counts the whole sample: with ``u_pairs`` covering every pair, u is then the same on
    #: every engine.
    u_chunks: int = 10


#: Columns whose term frequencies adjust the match weight of an exact agreement.
TF_COLUMNS = ("initials", "district")


def quiet() -> None:
    """Splink warns on stderr about levels EM could not observe; the run's summary says so."""
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


#: The deterministic rule the prior is estimated from.
PRIOR_RULE = "l.initials = r.initials AND l.dob = r.dob AND l.district = r.district"
#: EM's blocking passes: dob lets EM learn every other field; then initials and district, dob.
EM_RULES = ("l.dob = r.dob", "l.initials = r.initials AND l.district = r.district")


def train(linker: Any, training: Training) -> None:
    """Estimate the prior, u by random sampling, and m by EM on two blocking passes."""
    quiet()
    linker.training.estimate_probability_two_random_records_match(
        [PRIOR_RULE], recall=training.prior_recall
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_pairs, seed=training.seed, num_chunks=training.u_chunks
    )
    learned = 0
    for rule in EM_RULES:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, fix_u_probabilities=True
            )
            learned += 1
        except ValueError:
            # On very little data EM can drive a level's m to 0, which Splink refuses.
            continue
    if learned == 0:
        raise UntrainableError("EM could not estimate the model from so few records")


class UntrainableError(Exception):
    """The data are too few or too uniform for EM; the run uses strong keys only."""


#: The smallest m or u probability a saved model keeps: EM can drive a level it never saw to 0,
#: which Splink refuses to load again.
MIN_PROBABILITY = 1e-9


def saved(linker: Any) -> dict[str, Any]:
    """The trained model as a dictionary Splink will load again."""
    model: dict[str, Any] = linker.misc.save_model_to_json()
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            for key in ("m_probability", "u_probability"):
                value = level.get(key)
                if value is not None and value < MIN_PROBABILITY:
                    level[key] = MIN_PROBABILITY
    return model
