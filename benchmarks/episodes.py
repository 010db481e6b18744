"""Synthetic ``ndtms-episode`` returns for the benchmarks: seeded, vectorised, valid, cached.

Every code list, pattern, bound and rule comes from ``load_spec("ndtms-episode")``; codes with a
meaning (the consent answers, criminal justice referral routes, "no fixed abode") are found by
their label in the spec's ``carehaven:codes``, never written here. The generator refuses a spec
that carries a rule it does not know how to respect, so a new rule cannot silently make the
"valid" file invalid.

A million rows take a few seconds: columns are built as numpy index arrays and turned into text
with pyarrow compute, and the CSV is written by ``pyarrow.csv.write_csv``.

``invalid_rate`` plants one fault in about that share of rows (a bad code, a malformed date, a
date out of order, a missing required value, a broken pattern, an out-of-range number, a repeated
key, the wrong provider, a list too long, a consent answer that contradicts the identifiers, a
discharge after the period end), so rejected rows are about ``invalid_rate`` of the file.

    uv run python benchmarks/episodes.py --rows 1000000 --check
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from carehaven.collection.period import Period, parse_period
from carehaven.specs import Field, Rule, Spec, load_spec

DATASET = "ndtms-episode"
ORG = "P001"
PERIOD = "2025Q2"
SEED = 20251121
#: Bump when the generator's output changes, so cached files are rebuilt.
GENERATOR_VERSION = 2
DATA_DIR = Path(__file__).resolve().parent / ".data"

_EPOCH = date(1970, 1, 1)
NULL = pa.scalar(None, pa.string())
#: Rule ids this generator knows how to respect (checked against the spec on every run).
_KNOWN_RULES = {
    "provider-is-submitter",
    "consent-identifiers-required",
    "consent-identifiers-present",
    "triage-before-referral",
    "start-before-referral",
    "discharge-before-start",
    "discharge-after-period",
    "referral-after-period",
    "start-after-period",
    "discharge-reason-required",
    "children-support-without-children",
    # the provider's kind (``kind`` below): fields only some kinds of service return
    "vulnerability-only-young-peoples-services",
    "prison-details-only-prisons",
    "release-date-only-prisons-secure-settings",
}
#: The fields only some kinds of provider return (issue 13 item 6), and those kinds.
_KIND_FIELDS = {
    "young_person_vulnerability": ("young-peoples-service",),
    "prison_number": ("prison",),
    "sentenced": ("prison",),
    "release_date": ("prison", "secure-setting"),
}
#: Rough frequency of first letters of English given names and surnames (A..Z).
_LETTER_WEIGHTS = np.array(
    [6, 6, 6, 5, 3, 2, 4, 5, 1, 6, 3, 5, 7, 2, 1, 4, 0.2, 5, 7, 3, 0.5, 1, 4, 0.1, 0.5, 0.3]
)
#: Postcode areas served by a Birmingham provider and its neighbours (area, districts 1..n).
_POSTCODE_AREAS = (("B", 98), ("WS", 15), ("WV", 14), ("DY", 14), ("CV", 12), ("WR", 15))
_LA_HOME = "E08000025"  # Birmingham: a metropolitan district, like the provider's home authority


def days(d: date) -> int:
    return (d - _EPOCH).days


def dates_text(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """Days since 1970 as ISO text; absent where ``present`` is false."""
    arr = pa.array(values.astype(np.int32), pa.date32(), mask=None if present is None else ~present)
    return pc.cast(arr, pa.string())


class _Maker:
    """Spec-driven pieces: weighted codes, codes by label, list fields, and pattern checks."""

    def __init__(self, spec: Spec, rng: np.random.Generator, n: int) -> None:
        self.spec, self.rng, self.n = spec, rng, n

    def f(self, name: str) -> Field:
        return self.spec.field(name)

    def enum(self, name: str) -> tuple[str, ...]:
        codes = self.f(name).enum
        assert codes, f"{name} has no code list"
        return codes

    def code(self, name: str, *words: str) -> str:
        """The one code of ``name`` whose label holds every word in ``words``."""
        found = self.codes(name, *words)
        assert len(found) == 1, f"{name}: {words} label {len(found)} codes"
        return found[0]

    def codes(self, name: str, *words: str) -> list[str]:
        labels = self.f(name).codes or {}
        return [c for c, label in labels.items() if all(w in label.lower() for w in words)]

    def weights(self, k: int, decay: float) -> np.ndarray:
        w = decay ** np.arange(k, dtype=float)
        return w / w.sum()

    def pick(
        self,
        name: str,
        *,
        decay: float = 0.8,
        weights: Sequence[float] | None = None,
        present: np.ndarray | None = None,
        missing: float = 0.0,
        size: int | None = None,
    ) -> pa.Array:
        """Codes of ``name`` drawn with falling weights in spec order (or ``weights``)."""
        codes = self.enum(name)
        n = self.n if size is None else size
        p = self.weights(len(codes), decay) if weights is None else np.asarray(weights, float)
        assert len(p) == len(codes), f"{name}: {len(p)} weights for {len(codes)} codes"
        idx = self.rng.choice(len(codes), size=n, p=p / p.sum())
        keep = np.ones(n, bool) if present is None else present.copy()
        if missing:
            keep &= self.rng.random(n) >= missing
        return pc.take(pa.array(codes), pa.array(idx.astype(np.int32), mask=~keep))

    def from_pool(self, pool: Sequence[str], p: np.ndarray, present: np.ndarray) -> pa.Array:
        idx = self.rng.choice(len(pool), size=self.n, p=p / p.sum())
        return pc.take(pa.array(pool), pa.array(idx.astype(np.int32), mask=~present))

    def list_pool(self, name: str, lengths: Sequence[float], size: int = 4096) -> list[str]:
        """Distinct-code lists of ``name`` (sorted in code-list order), up to its max items."""
        spec = self.f(name).list
        assert spec is not None, f"{name} is not a list field"
        lengths = list(lengths)[: spec.max_items]
        k = self.rng.choice(len(lengths), size=size, p=np.array(lengths) / sum(lengths)) + 1
        w = self.weights(len(spec.enum), 0.85)
        out = []
        for items in k:
            chosen = np.sort(self.rng.choice(len(spec.enum), size=items, replace=False, p=w))
            out.append(spec.separator.join(spec.enum[i] for i in chosen))
        return out

    def prefixed(self, prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
        digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
        return pc.binary_join_element_wise(prefix, digits, "")

    def letters(self, k: int, size: int) -> pa.Array:
        alphabet = pa.array([chr(ord("A") + i) for i in range(26)])
        p = _LETTER_WEIGHTS / _LETTER_WEIGHTS.sum()
        parts = [pc.take(alphabet, self.rng.choice(26, size=size, p=p)) for _ in range(k)]
        return pc.binary_join_element_wise(*parts, "")

    def assert_pattern(self, name: str, values: Sequence[str] | pa.Array) -> None:
        pattern = self.f(name).constraints.pattern
        assert pattern is not None
        arr = pa.array(values) if not isinstance(values, pa.Array) else values
        ok = pc.match_substring_regex(arr.drop_null(), f"^(?:{pattern})$")
        assert pc.all(ok).as_py() in (True, None), f"generated {name} breaks its pattern"


def _check_rules(spec: Spec) -> None:
    unknown = [r.id for r in spec.rules if r.id not in _KNOWN_RULES]
    if unknown:
        raise NotImplementedError(
            f"{spec.name} has rules the benchmark generator does not respect: {unknown}"
        )


def _rule(spec: Spec, rule_id: str) -> Rule:
    return next(r for r in spec.rules if r.id == rule_id)


def episodes_table(
    rows: int,
    *,
    seed: int = SEED,
    org: str = ORG,
    period: str = PERIOD,
    invalid_rate: float = 0.0,
    kind: str = "treatment-service",
) -> pa.Table:
    """``rows`` episodes of provider ``org`` for ``period``, every column as text in spec order.

    ``org`` is a provider of ``kind``: the fields only other kinds return are left empty (they
    are drawn all the same, so every other column is the same whatever the kind)."""
    spec = load_spec(DATASET)
    _check_rules(spec)
    when = parse_period(period)
    rng = np.random.default_rng(seed)
    m = _Maker(spec, rng, rows)
    n = rows
    cols: dict[str, pa.Array] = {}
    day: dict[str, np.ndarray] = {}

    # -- who: clients (some have several episodes), with person-level attributes -------------
    n_clients = max(1, int(n / 1.3))
    client = rng.integers(0, n_clients, n)
    end = days(when.end)
    age_at_end = np.clip(rng.gamma(4.0, 5.0, n_clients) + 18, 16, 85)
    dob_min = days(date.fromisoformat(str(m.f("date_of_birth").constraints.minimum)))
    dob_c = np.maximum(end - (age_at_end * 365.25).astype(np.int64), dob_min)
    initials_c = m.letters(2, n_clients)
    sex_c = m.pick("sex", weights=[0.67, 0.32, 0.01], size=n_clients)
    ethnicity_c = m.pick("ethnicity", decay=0.55, missing=0.03, size=n_clients)
    religion_c = m.pick("religion", decay=0.7, missing=0.1, size=n_clients)
    orientation_c = m.pick("sexual_orientation", decay=0.35, missing=0.1, size=n_clients)

    cols[spec.submitter_field or "provider_code"] = pc.take(pa.array([org]), np.zeros(n, np.int32))
    cols["client_ref"] = pc.take(m.prefixed("C", np.arange(1, n_clients + 1), 8), client)
    cols["episode_id"] = m.prefixed("EP", np.arange(100_001, 100_001 + n), max(8, len(str(n))))

    # -- consent: the "yes" rows carry initials and date of birth, the "no" rows no identifiers
    required_if = _rule(spec, "consent-identifiers-required")
    empty_if = _rule(spec, "consent-identifiers-present")
    consent_field = required_if.when.field
    yes, no = required_if.when.equals, empty_if.when.equals
    assert {yes, no} <= set(m.enum(consent_field))
    consented = rng.random(n) >= 0.04
    cols[consent_field] = pc.if_else(pa.array(consented), yes, no)
    cols["initials"] = pc.if_else(pa.array(consented), pc.take(initials_c, client), NULL)
    day["date_of_birth"] = dob_c[client]
    cols["date_of_birth"] = dates_text(day["date_of_birth"], consented)
    cols["sex"] = pc.take(sex_c, client)

    # -- where: a home authority and its neighbours; ZZ99-style "no fixed abode" districts -----
    accommodation = m.pick("accommodation_need", decay=0.5, missing=0.05)
    nfa = m.code("accommodation_need", "no fixed abode")
    no_abode = pc.fill_null(pc.equal(accommodation, nfa), False).to_numpy(zero_copy_only=False)
    districts = [f"{a}{i}" for a, top in _POSTCODE_AREAS for i in range(1, top + 1)]
    district_w = np.array(
        [20.0 if d.startswith("B") and d[1:].isdigit() else 1.0 for d in districts]
    )
    m.assert_pattern("postcode_district", [*districts, "ZZ99"])
    district_c = m.from_pool(districts, district_w, np.ones(n, bool))
    district = pc.if_else(pa.array(no_abode & (rng.random(n) < 0.6)), "ZZ99", district_c)
    has_district = consented & (rng.random(n) >= 0.04)
    cols["postcode_district"] = pc.if_else(pa.array(has_district), district, NULL)
    la_pool = [_LA_HOME]
    la_pool += [f"E06{k:06d}" for k in rng.choice(np.arange(1, 67), 8, replace=False)]
    la_pool += [f"E07{k:06d}" for k in rng.choice(np.arange(4, 247), 12, replace=False)]
    la_pool += [f"E08{k:06d}" for k in rng.choice(np.arange(1, 38), 8, replace=False) if k != 25]
    la_pool += [f"E09{k:06d}" for k in rng.choice(np.arange(1, 34), 6, replace=False)]
    m.assert_pattern("la_of_residence", la_pool)
    la_w = np.array([60.0] + [1.0] * (len(la_pool) - 1))
    cols["la_of_residence"] = m.from_pool(la_pool, la_w, rng.random(n) >= 0.03)

    cols["ethnicity"] = pc.take(ethnicity_c, client)
    cols["religion"] = pc.take(religion_c, client)
    cols["sexual_orientation"] = pc.take(orientation_c, client)
    disability_pool = m.list_pool("disability", [0.85, 0.11, 0.04])
    cols["disability"] = m.from_pool(
        disability_pool, np.ones(len(disability_pool)), rng.random(n) >= 0.2
    )

    # -- referral and dates: referral <= triage <= start <= discharge <= period end ----------
    source = m.pick("referral_source", decay=0.82)
    cols["referral_source"] = source
    cj_codes = m.codes("referral_source", "criminal justice")
    prison_code = m.code("referral_source", "criminal justice", "prison")
    transfer_code = m.code("referral_source", "treatment provider")
    source_np = source.to_numpy(zero_copy_only=False)
    cj = np.isin(source_np, cj_codes)
    prison = source_np == prison_code
    transfer = source_np == transfer_code

    referral = end - np.minimum(rng.exponential(260, n).astype(np.int64), 4 * 365)
    start = np.minimum(referral + rng.exponential(12, n).astype(np.int64), end)
    triage = referral + (rng.random(n) * (start - referral + 1)).astype(np.int64)
    discharge = start + rng.exponential(210, n).astype(np.int64)
    discharged = discharge <= end
    day.update(referral_date=referral, treatment_start_date=start, discharge_date=discharge)
    cols["referral_date"] = dates_text(referral)
    cols["triage_date"] = dates_text(triage, rng.random(n) >= 0.08)
    cols["treatment_start_date"] = dates_text(start)
    cols["discharge_date"] = dates_text(discharge, discharged)
    cols["discharge_reason"] = m.pick("discharge_reason", decay=0.75, present=discharged)

    # -- what: substances, modality and health ----------------------------------------------
    substances = m.enum("substance_1")
    k = len(substances)
    s1 = rng.choice(k, n, p=m.weights(k, 0.8))
    s2 = (s1 + 1 + rng.integers(0, k - 1, n)) % k
    s3 = (s1 + 1 + rng.integers(0, k - 1, n)) % k
    clash = s3 == s2
    s3[clash] = (s3[clash] + 1 + (((s3[clash] + 1) % k) == s1[clash])) % k
    has2 = rng.random(n) < 0.45
    has3 = has2 & (rng.random(n) < 0.35)
    codes = pa.array(substances)
    cols["substance_1"] = pc.take(codes, s1)
    cols["substance_2"] = pc.take(codes, pa.array(s2, mask=~has2))
    cols["substance_3"] = pc.take(codes, pa.array(s3, mask=~has3))
    for name in ("substance_2", "substance_3"):
        assert m.enum(name) == substances
    cols["injecting_status"] = m.pick("injecting_status", weights=[1, 2, 6, 0.3], missing=0.05)
    cols["treatment_modality"] = m.pick("treatment_modality", decay=0.5)
    mh = m.pick("mental_health_need", weights=[6, 3, 1], missing=0.05)
    mh_yes = pc.fill_null(pc.equal(mh, m.enum("mental_health_need")[0]), False)
    cols["mental_health_need"] = mh
    cols["receiving_mh_treatment"] = m.pick(
        "receiving_mh_treatment",
        decay=0.7,
        present=mh_yes.to_numpy(zero_copy_only=False) & (rng.random(n) < 0.85),
    )
    for name in ("hep_c_tested", "hep_b_vaccinated", "hiv_tested"):
        cols[name] = m.pick(name, decay=0.6, missing=0.1)

    # -- family: children_receiving_support only where children live with the person -----------
    support_rule = _rule(spec, "children-support-without-children")
    # empty-if not(children_living_with > N): support is given only where more than N live there
    only_where = support_rule.when.negated
    more_than = only_where.greater_than
    kids_name = only_where.field
    kids_field = m.f(kids_name)
    low, high = int(kids_field.constraints.minimum), int(kids_field.constraints.maximum)
    kids = np.clip(rng.choice(6, n, p=[0.7, 0.12, 0.09, 0.05, 0.03, 0.01]), low, high)
    kids_known = rng.random(n) >= 0.05
    cols[kids_name] = pc.cast(pa.array(kids, mask=~kids_known), pa.string())
    with_kids = kids_known & (kids > more_than)
    cols["parental_responsibility"] = pc.if_else(
        pa.array(with_kids),
        m.pick("parental_responsibility", weights=[8, 1, 1]),
        m.pick("parental_responsibility", weights=[2, 6, 1], missing=0.1),
    )
    (target,) = support_rule.fields
    cols[target] = m.pick(target, decay=0.6, present=with_kids & (rng.random(n) < 0.7))
    cols["employment_status"] = m.pick("employment_status", decay=0.75, missing=0.05)
    cols["accommodation_need"] = accommodation

    young = age_at_end[client] < 22
    vulnerability_pool = m.list_pool("young_person_vulnerability", [0.5, 0.25, 0.15, 0.07, 0.03])
    cols["young_person_vulnerability"] = m.from_pool(
        vulnerability_pool, np.ones(len(vulnerability_pool)), young & (rng.random(n) < 0.8)
    )
    cols["transferred_from_provider"] = pc.if_else(
        pa.array(transfer & (rng.random(n) < 0.8)),
        m.prefixed("P", rng.integers(2, 400, n), 3),
        None,
    )

    # -- criminal justice and prison routes -------------------------------------------------
    cols["cj_org_ref"] = pc.if_else(
        pa.array(cj & consented & (rng.random(n) < 0.85)),
        m.prefixed("CJ", rng.integers(0, 10**6, n), 6),
        None,
    )
    cols["cj_assessment_reason"] = m.pick(
        "cj_assessment_reason", decay=0.7, present=cj & (rng.random(n) < 0.8)
    )
    cols["cj_onward_referral"] = m.pick(
        "cj_onward_referral", weights=[3, 1], present=cj & (rng.random(n) < 0.8)
    )
    prison_number = pc.binary_join_element_wise(
        m.letters(1, n), m.prefixed("", rng.integers(0, 10**4, n), 4), m.letters(2, n), ""
    )
    cols["prison_number"] = pc.if_else(
        pa.array(prison & consented & (rng.random(n) < 0.9)), prison_number, None
    )
    m.assert_pattern("prison_number", cols["prison_number"])
    cols["sentenced"] = m.pick("sentenced", weights=[4, 1], present=prison & (rng.random(n) < 0.9))
    release = referral - rng.integers(0, 15, n)
    cols["release_date"] = dates_text(release, prison & (rng.random(n) < 0.9))

    for name, kinds in _KIND_FIELDS.items():
        if kind not in kinds:
            cols[name] = pa.nulls(n, pa.string())

    # -- identifiers stay empty where the person did not consent (whatever else we set) ------
    for name in empty_if.fields:
        cols[name] = pc.if_else(pa.array(consented), cols[name], NULL)

    missing = set(spec.field_names) ^ set(cols)
    assert not missing, f"generator and spec disagree on columns: {sorted(missing)}"
    for name in spec.field_names:
        f = spec.field(name)
        if f.constraints.pattern:
            m.assert_pattern(name, cols[name])
        if f.enum:
            ok = pc.is_in(cols[name].drop_null(), value_set=pa.array(f.enum))
            assert pc.all(ok).as_py() in (True, None), f"generated {name} breaks its code list"

    table = pa.table({name: cols[name] for name in spec.field_names})
    if invalid_rate > 0:
        table = plant_faults(table, spec, when, day, rng, invalid_rate)
    return table


# -- planted faults -----------------------------------------------------------------------------

Fault = Callable[[pa.Table, np.ndarray], tuple[str, pa.Array]]


def plant_faults(
    table: pa.Table,
    spec: Spec,
    when: Period,
    day: dict[str, np.ndarray],
    rng: np.random.Generator,
    rate: float,
) -> pa.Table:
    """One fault in each of about ``rate`` of the rows; each fault replaces one column's cells."""
    n = table.num_rows
    end = days(when.end)
    enum_fields = [f.name for f in spec.fields if f.enum and f.name != "consent_ndtms"]
    consent = _rule(spec, "consent-identifiers-required").when
    no = _rule(spec, "consent-identifiers-present").when.equals
    kids = spec.field("children_living_with").constraints.maximum
    disability = spec.field("disability").list
    assert disability is not None

    def text(values: Sequence[object]) -> pa.Array:
        return pa.array([None if v is None else str(v) for v in values], pa.string())

    def bad_code(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        name = enum_fields[int(rng.integers(len(enum_fields)))]
        return name, pa.array(["X9"] * len(r))

    def bad_date(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        iso = pc.take(t["referral_date"], r).to_pylist()
        return "referral_date", text([f"{v[8:10]}/{v[5:7]}/{v[:4]}" for v in iso])

    def start_before_referral(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        early = day["referral_date"][r] - rng.integers(1, 30, len(r))
        return "treatment_start_date", dates_text(early)

    def required_empty(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return "substance_1", pa.nulls(len(r), pa.string())

    def lower_initials(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return "initials", pa.array(["ab"] * len(r))

    def too_many_children(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return "children_living_with", text(rng.integers(int(kids) + 1, int(kids) + 10, len(r)))

    def repeated_key(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return "episode_id", pc.take(t["episode_id"], np.maximum(r - 1, 0))

    def wrong_provider(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return spec.submitter_field or "provider_code", pa.array(["P999"] * len(r))

    def long_list(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        codes = disability.separator.join(disability.enum[: disability.max_items + 1])
        return "disability", pa.array([codes] * len(r))

    def consent_flip(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        # A consenting row claiming no consent keeps identifiers that must then be empty, and a
        # non-consenting row claiming consent lacks the identifiers consent requires.
        now = pc.take(t[consent.field], r)
        return consent.field, pc.if_else(pc.equal(now, consent.equals), no, consent.equals)

    def discharge_after_period(t: pa.Table, r: np.ndarray) -> tuple[str, pa.Array]:
        return "discharge_date", dates_text(end + rng.integers(1, 60, len(r)))

    faults: list[Fault] = [
        bad_code,
        bad_date,
        start_before_referral,
        required_empty,
        lower_initials,
        too_many_children,
        repeated_key,
        wrong_provider,
        long_list,
        consent_flip,
        discharge_after_period,
    ]
    chosen = np.sort(rng.choice(n, size=round(rate * n), replace=False))
    kind = rng.integers(0, len(faults), len(chosen))
    for i, fault in enumerate(faults):
        rows = chosen[kind == i]
        if len(rows) == 0:
            continue
        name, values = fault(table, rows)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        mask = np.zeros(n, bool)
        mask[rows] = True
        column = table[name].combine_chunks()
        replaced = pc.replace_with_mask(column, pa.array(mask), values.cast(pa.string()))
        table = table.set_column(table.schema.get_field_index(name), name, replaced)
        if fault is discharge_after_period:  # a discharge needs its reason, or two findings
            reason = table["discharge_reason"].combine_chunks()
            first = spec.field("discharge_reason").enum[0]
            filled = pc.if_else(pa.array(mask), pc.fill_null(reason, first), reason)
            table = table.set_column(
                table.schema.get_field_index("discharge_reason"), "discharge_reason", filled
            )
    return table


# -- files ----------------------------------------------------------------------------------------


def write_csv(table: pa.Table, path: Path) -> None:
    """A plain CSV as a provider's system would export it: unquoted header and cells, LF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    with part.open("wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(
            table,
            fh,
            pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536),
        )
    part.replace(path)


def episodes_file(
    rows: int,
    *,
    seed: int = SEED,
    invalid_rate: float = 0.0,
    folder: Path = DATA_DIR,
) -> Path:
    """The cached file for ``rows`` and ``seed`` (built on first use)."""
    bad = f"-invalid{invalid_rate:g}" if invalid_rate else ""
    path = folder / f"{DATASET}-{rows}-seed{seed}{bad}-v{GENERATOR_VERSION}.csv"
    if not path.exists():
        table = episodes_table(rows, seed=seed, invalid_rate=invalid_rate)
        write_csv(table, path)
    return path


def head_file(path: Path, rows: int) -> Path:
    """The header and first ``rows`` rows of ``path`` (cached beside it)."""
    out = path.with_name(f"{path.stem}-first{rows}.csv")
    if out.exists():
        return out
    lines = 0
    with path.open("rb") as src, out.with_suffix(".part").open("wb") as dst:
        for line in src:
            dst.write(line)
            lines += 1
            if lines > rows:
                break
    out.with_suffix(".part").replace(out)
    return out


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1


def check(path: Path) -> dict[str, int]:
    """carehaven's own judgement of the file: findings by rule (empty when the file is valid)."""
    import ibis

    from carehaven.collection.reading import read_table
    from carehaven.collection.rules import Context
    from carehaven.collection.validate import counts_by_rule, validate

    spec = load_spec(DATASET)
    con = ibis.duckdb.connect()
    con.con.register("raw", read_table(path.read_bytes(), spec, path.name))
    result = validate(con, "raw", spec, Context(org_code=ORG, period=parse_period(PERIOD)))
    con.disconnect()
    by_rule = {f"{c['rule']}:{c['field']}": c["count"] for c in counts_by_rule(result.findings)}
    return {"rows": result.rows, "rejected": result.rejected, **by_rule}  # type: ignore[dict-item]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--invalid-rate", type=float, default=0.0)
    parser.add_argument("--force", action="store_true", help="rebuild a cached file")
    parser.add_argument("--check", action="store_true", help="validate it with carehaven")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    bad = f"-invalid{args.invalid_rate:g}" if args.invalid_rate else ""
    target = DATA_DIR / f"{DATASET}-{args.rows}-seed{args.seed}{bad}-v{GENERATOR_VERSION}.csv"
    if args.force:
        target.unlink(missing_ok=True)
    path = episodes_file(args.rows, seed=args.seed, invalid_rate=args.invalid_rate)
    took = time.perf_counter() - started
    size = path.stat().st_size
    print(f"{path} ({size / 1e6:,.1f} MB) ready in {took:.2f} s")
    if args.check:
        print(check(path))


if __name__ == "__main__":
    main()
