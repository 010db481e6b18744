"""The tier derivations give the same answer on either engine: DuckDB and Spark (PSE-2 to PSE-4).

``derive.depersonalised`` (ages at an event, year-month of birth, postcode districts) and the
anonymiser's frequency table and ``apply`` are Ibis expressions. The same small, hand-made
personal tier of ``cld-event`` goes through them on both engines, and the results must be equal
as Python values; the ages, districts and generalised values are also checked against answers
worked out by hand, so both engines being wrong in the same way fails too. The rows hold the
awkward cases: a birthday on the event day and the day after it, 29 February births in leap and
other years, a missing date of birth and postcode, postcodes in lower case and without a space,
ages of 90 and over, a birth after the event, and a row that may not be shared.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pytest

from carehaven.identity.engine import Engine, duckdb_engine, spark_engine
from carehaven.pseudonymise import anonymise, derive
from carehaven.pseudonymise.anonymise import QuasiIdentifier
from carehaven.specs import FieldClass, Spec, load_spec

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DATASET = "cld-event"
SUBMISSION = "S-0001"
#: One level per quasi-identifier, in spec order: Age_at_Event 5-year bands, Gender exact,
#: Postcode_District area, Date_of_Death quarter, Accommodation_Status exact,
#: Employment_Status group.
NODE = (1, 0, 1, 1, 0, 1)

_ARROW = {"string": pa.string(), "date": pa.date32(), "number": pa.float64(), "integer": pa.int64()}

# (person, linkable, date of birth, postcode, event start, expected age, expected district,
#  profile). The profile chooses the other quasi-identifiers (gender, date of death,
#  accommodation, employment), so that rows of one profile, age band and area share a class.
CASES: list[tuple[str, bool, str | None, str | None, date, int | None, str | None, int]] = [
    ("PN-A", True, "1980-03-15", "B12 9QT", date(2025, 3, 15), 45, "B12", 5),  # birthday today
    ("PN-B", True, "1980-03-16", "b129qt", date(2025, 3, 15), 44, "B12", 0),  # birthday tomorrow
    ("PN-C", True, "2000-02-29", "SW1A 1AA", date(2025, 2, 28), 24, "SW1A", 1),  # 29 Feb
    ("PN-C", True, "2000-02-29", "sw1a1aa", date(2025, 3, 1), 25, "SW1A", 2),
    ("PN-C", True, "2000-02-29", "SW1A 1AA", date(2024, 2, 29), 24, "SW1A", 1),  # leap year
    ("PN-D", True, None, "LS6 2AA", date(2025, 1, 10), None, "LS6", 3),  # no date of birth
    ("PN-E", True, "1930-01-01", None, date(2025, 6, 30), 95, None, 4),  # no postcode, 90+
    ("PN-F", True, "1935-06-30", " n1  9gu ", date(2025, 6, 30), 90, "N1", 6),  # exactly 90
    ("PN-G", True, "1935-07-01", "EC1A 1BB", date(2025, 6, 30), 89, "EC1A", 7),
    ("PN-H", True, "2025-07-01", "W1A 0AX", date(2025, 6, 30), None, "W1A", 8),  # born after
    ("PN-I", True, "1990-12-31", "B1", date(2025, 1, 1), 34, "B1", 9),  # only an outward code
    ("PN-J", True, "1990-01-01", "B15 2TT", date(2025, 1, 1), 35, "B15", 10),  # 1 January
    ("PN-K", True, "1984-05-20", "B12 0AB", date(2025, 5, 19), 40, "B12", 0),
    ("PN-L", True, "1983-05-20", "B12 0AB", date(2025, 5, 20), 42, "B12", 0),
    ("PN-M", True, "1982-11-02", "M1 1AE", date(2025, 4, 1), 42, "M1", 0),
    ("PN-N", True, "1981-08-08", "m11ae", date(2025, 4, 1), 43, "M1", 0),
    ("PN-O", True, "1979-08-08", "M2 3BB", date(2025, 4, 1), 45, "M2", 1),
    ("PN-P", True, "1976-02-01", "M2 3BB", date(2025, 4, 1), 49, "M2", 1),
    ("PN-Q", False, "1970-01-01", "B12 9QT", date(2025, 4, 1), None, None, 0),  # not shared
    ("PN-R", True, "1950-09-09", "LS6 2AA", date(2025, 4, 1), 74, "LS6", 11),
]
SHARED = [c for c in CASES if c[1]]

GENDERS = ["Male", "Female", "Other", "Unknown"]
DEATHS = [None, date(2025, 2, 14), None, date(2024, 12, 31), None]
ACCOMMODATION = ["Tenant", "Registered care home", "Owner occupier or shared ownership scheme"]
EMPLOYMENT = [
    "Paid: 16 or more hours a week",
    "Paid: Less than 16 hours a week",
    "Not in paid employment (seeking work)",
    None,
]
SUPPORT = ["Mental Health Support", "Learning Disability Support", None]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(DATASET)


@pytest.fixture(scope="module")
def spark_tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Spark, on the one local session of the process (``spark_engine`` shares it)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    engine = spark_engine(tmp_path_factory.mktemp("spark-tiers"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def duck() -> Iterator[Engine]:
    engine = duckdb_engine()
    yield engine
    engine.close()


def _value(field: str, i: int, start: date, p: int) -> Any:
    """A plausible value of a non-D field of cld-event for row ``i`` of profile ``p``."""
    fixed: dict[str, Any] = {
        "LA_Code": "E08000025" if i % 3 else "E09000001",
        "Reporting_Period_Start_Date": date(2024, 4, 1),
        "Reporting_Period_End_Date": date(2025, 6, 30),
        "Gender": GENDERS[p % len(GENDERS)],
        "Ethnicity": "White: British" if i % 2 else "Asian or Asian British: Indian",
        "Date_of_Death": DEATHS[p % len(DEATHS)],
        "Client_Type": "Service User",
        "Primary_Support_Reason": SUPPORT[i % len(SUPPORT)],
        "Accommodation_Status": ACCOMMODATION[p % len(ACCOMMODATION)],
        "Employment_Status": EMPLOYMENT[p % len(EMPLOYMENT)],
        "Has_Unpaid_Carer": "YNU"[i % 3],
        "Mental_Health_Record": "YN"[i % 2],
        "Event_Type": "Service",
        "Event_Reference": f"EV{i:04d}",
        "Event_Start_Date": start,
        "Event_End_Date": None if i % 2 else date(2025, 6, 30),
        "Event_Outcome": "Provision of service",
        "Service_Type": "Long Term Support: Community",
        "Unit_Cost": 21.5 + i if i % 4 else None,
        "Cost_Frequency_Unit_Type": "Hourly",
        "Planned_units_per_week": float(i % 7) if i % 5 else None,
    }
    return fixed.get(field)


def events_table(spec: Spec) -> pa.Table:
    """The personal tier's rows of cld-event: row key, person, linkable, every non-D field."""
    cols: dict[str, pa.Array] = {
        "_submission_id": pa.array([SUBMISSION] * len(CASES), pa.string()),
        "_row": pa.array(list(range(1, len(CASES) + 1)), pa.int64()),
        "person_id": pa.array([c[0] for c in CASES], pa.string()),
        "linkable": pa.array([c[1] for c in CASES], pa.bool_()),
    }
    for f in spec.fields:
        if f.field_class == FieldClass.DIRECT:
            continue
        values = [_value(f.name, i, c[4], c[7]) for i, c in enumerate(CASES)]
        cols[f.name] = pa.array(values, _ARROW[f.type])
    return pa.table(cols)


def identifiers_table() -> pa.Table:
    """Date_of_Birth and Postcode of each row (none where missing), plus values the derivation
    must not pick up: another field of the same rows, and another dataset's same row key."""
    rows: list[tuple[str, str, str, int, str, str]] = []
    for i, (person, _, dob, postcode, *_rest) in enumerate(CASES, start=1):
        if dob is not None:
            rows.append((person, DATASET, SUBMISSION, i, "Date_of_Birth", dob))
        if postcode is not None:
            rows.append((person, DATASET, SUBMISSION, i, "Postcode", postcode))
        rows.append((person, DATASET, SUBMISSION, i, "NHS_Number", f"94345{i:05d}"))
        rows.append((person, "ndtms-episode", SUBMISSION, i, "Date_of_Birth", "1901-01-01"))
        rows.append((person, "ndtms-episode", SUBMISSION, i, "Postcode", "ZZ99 9ZZ"))
    names = ("person_id", "dataset", "_submission_id", "_row", "field", "value")
    types = (pa.string(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string())
    columns = zip(names, types, strict=True)
    return pa.table({n: pa.array([r[j] for r in rows], t) for j, (n, t) in enumerate(columns)})


def _sorted(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as tuples of Python values, in a fixed order whatever the engine's."""
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def _on_both(
    duck: Engine, spark: Engine, build: Callable[[Engine, ir.Table, ir.Table], ir.Table]
) -> tuple[pa.Table, pa.Table]:
    out = []
    for engine in (duck, spark):
        events = engine.load(events_table(load_spec(DATASET)), prefix="tier_events")
        ids = engine.load(identifiers_table(), prefix="tier_ids")
        out.append(build(engine, events, ids).to_pyarrow())
    return out[0], out[1]


def _same(a: pa.Table, b: pa.Table) -> list[tuple[Any, ...]]:
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    rows = _sorted(a)
    assert rows == _sorted(b)
    return rows


def _by_row(table: pa.Table, key: str = "Event_Reference") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in table.to_pylist()}


def _reference(i: int) -> str:
    """The Event_Reference of CASES[i] (a unique key of the derived rows)."""
    return f"EV{i:04d}"


def _qis(spec: Spec) -> list[QuasiIdentifier]:
    """The quasi-identifiers as ``extract`` builds them, in spec order."""
    out = []
    for c in derive.columns(spec, "anonymised"):
        if c.hierarchy is None:
            continue
        enum = spec.field(c.name).enum if c.name in spec.field_names else None
        out.append(QuasiIdentifier(c.name, c.hierarchy, enum))
    return out


@pytest.mark.parametrize("tier", ["de-personalised", "anonymised"])
def test_depersonalised_rows_are_the_same_on_duckdb_and_spark(
    spec: Spec, duck: Engine, spark_tiers: Engine, tier: str
) -> None:
    def build(_e: Engine, events: ir.Table, ids: ir.Table) -> ir.Table:
        return derive.depersonalised(spec, events, ids, tier)

    a, b = _on_both(duck, spark_tiers, build)
    _same(a, b)
    assert a.column_names == ["person_id", *(c.name for c in derive.columns(spec, tier))]
    assert not {f.name for f in spec.fields if f.field_class == FieldClass.DIRECT} & set(
        a.column_names
    )
    if tier == "anonymised":
        assert "Birth_Year_Month" not in a.column_names
        assert "Event_Reference" not in a.column_names
        return
    assert a.num_rows == len(SHARED)  # the row that may not be shared is left out
    for got in (a, b):
        rows = _by_row(got)
        assert len(rows) == len(SHARED)
        assert not {r["person_id"] for r in rows.values()} & {c[0] for c in CASES if not c[1]}
        for i, (person, linkable, dob, _pc, _at, age, district, _p) in enumerate(CASES):
            if not linkable:
                continue
            row = rows[_reference(i)]
            assert row["person_id"] == person
            assert row["Age_at_Event"] == age, (i, dob)
            assert row["Postcode_District"] == district, i
            assert row["Birth_Year_Month"] == (dob[:7] if dob else None)


def test_generalised_values_on_duckdb_and_spark(
    spec: Spec, duck: Engine, spark_tiers: Engine
) -> None:
    """Every level of every hierarchy, worked out by hand for the rows' ages and districts."""
    qis = _qis(spec)
    assert [q.name for q in qis] == [
        "Age_at_Event", "Gender", "Postcode_District", "Date_of_Death",
        "Accommodation_Status", "Employment_Status",
    ]  # fmt: skip

    def build(_e: Engine, events: ir.Table, ids: ir.Table) -> ir.Table:
        rows = derive.depersonalised(spec, events, ids, "de-personalised")
        cols: dict[str, ir.Value] = {"ref": rows.Event_Reference}
        for q in qis:
            for lvl, expr in enumerate(q.levels(rows)):
                cols[f"{q.name}_{lvl}"] = expr
        return rows.select(**cols)

    a, b = _on_both(duck, spark_tiers, build)
    _same(a, b)
    ages = {
        45: ["45", "45-49", "40-49", "40-59"],
        44: ["44", "40-44", "40-49", "40-59"],
        24: ["24", "20-24", "20-29", "20-39"],
        25: ["25", "25-29", "20-29", "20-39"],
        95: ["90+", "90+", "90+", "90+"],
        90: ["90+", "90+", "90+", "90+"],
        89: ["89", "85-89", "80-89", "80-89"],
        34: ["34", "30-34", "30-39", "20-39"],
        35: ["35", "35-39", "30-39", "20-39"],
        40: ["40", "40-44", "40-49", "40-59"],
        42: ["42", "40-44", "40-49", "40-59"],
        43: ["43", "40-44", "40-49", "40-59"],
        49: ["49", "45-49", "40-49", "40-59"],
        74: ["74", "70-74", "70-79", "60-79"],
        None: ["(blank)"] * 4,
    }
    areas = {"B12": "B", "B1": "B", "B15": "B", "SW1A": "SW", "LS6": "LS", "N1": "N",
             "EC1A": "EC", "W1A": "W", "M1": "M", "M2": "M", None: "(blank)"}  # fmt: skip
    deaths = {
        None: ["(blank)"] * 3,
        date(2025, 2, 14): ["2025-02", "2025Q1", "2025"],
        date(2024, 12, 31): ["2024-12", "2024Q4", "2024"],
    }
    employment = {
        "Paid: 16 or more hours a week": "Paid",
        "Paid: Less than 16 hours a week": "Paid",
        "Not in paid employment (seeking work)": "Not in paid employment (seeking work)",
        None: "(blank)",
    }
    for got in (a, b):
        rows = _by_row(got, "ref")
        for i, (_who, linkable, _dob, _pc, _at, age, district, p) in enumerate(CASES):
            if not linkable:
                continue
            row = rows[_reference(i)]
            assert [row[f"Age_at_Event_{lvl}"] for lvl in range(4)] == ages[age], i
            assert row["Age_at_Event_4"] == "*"
            assert row["Postcode_District_0"] == (district or "(blank)")
            assert row["Postcode_District_1"] == areas[district]
            assert row["Postcode_District_2"] == "*"
            death = DEATHS[p % len(DEATHS)]
            assert [row[f"Date_of_Death_{lvl}"] for lvl in range(4)] == [*deaths[death], "*"]
            assert row["Gender_0"] == GENDERS[p % len(GENDERS)]
            assert row["Gender_1"] == "*"
            assert row["Accommodation_Status_0"] == ACCOMMODATION[p % len(ACCOMMODATION)]
            assert row["Accommodation_Status_1"] == "*"
            job = EMPLOYMENT[p % len(EMPLOYMENT)]
            assert row["Employment_Status_0"] == (job or "(blank)")
            assert row["Employment_Status_1"] == employment[job]
            assert row["Employment_Status_2"] == "*"


def test_frequency_table_is_the_same_on_duckdb_and_spark(
    spec: Spec, duck: Engine, spark_tiers: Engine
) -> None:
    qis = _qis(spec)
    sensitive = spec.sensitive
    assert sensitive == "Primary_Support_Reason"

    def build(_e: Engine, events: ir.Table, ids: ir.Table) -> ir.Table:
        rows = derive.depersonalised(spec, events, ids, "anonymised")
        return anonymise.frequency_table(rows, qis, sensitive)

    a, b = _on_both(duck, spark_tiers, build)
    rows = _same(a, b)
    assert sum(r[-1] for r in rows) == len(SHARED)
    # Age at level 1 (5-year bands) and the postcode area (district level 1), by hand.
    names = a.column_names
    age1, area = names.index("__q0_1"), names.index("__q2_1")
    bands: dict[str, int] = {}
    areas: dict[str, int] = {}
    for r in rows:
        bands[r[age1]] = bands.get(r[age1], 0) + r[-1]
        areas[r[area]] = areas.get(r[area], 0) + r[-1]
    assert bands == {"40-44": 5, "45-49": 3, "20-24": 2, "25-29": 1, "90+": 2, "85-89": 1,
                     "30-34": 1, "35-39": 1, "70-74": 1, "(blank)": 2}  # fmt: skip
    assert areas == {"B": 6, "SW": 3, "LS": 2, "(blank)": 1, "N": 1, "EC": 1, "W": 1, "M": 4}
    # The search on either table chooses the same node.
    chosen = [
        anonymise.search(t, qis, k=2, l_div=2, max_suppression=0.3, sensitive=sensitive).chosen
        for t in (a, b)
    ]
    assert chosen[0] == chosen[1]


@pytest.mark.parametrize(
    ("l_div", "sensitive", "people", "kept"),
    [
        # Classes of NODE with two rows or more: PN-B, K, L (40-44, B, profile 0); PN-M, N
        # (40-44, M, profile 0); PN-O, P (45-49, M, profile 1); PN-C twice (20-24, SW, 1).
        (1, None, None, ["PN-B", "PN-C", "PN-C", "PN-K", "PN-L", "PN-M", "PN-N", "PN-O", "PN-P"]),
        # Counting people, PN-C's two rows are one person, and so suppressed; each other class
        # holds two support reasons (a blank one counting as a value).
        (2, "Primary_Support_Reason", "person_id",
         ["PN-B", "PN-K", "PN-L", "PN-M", "PN-N", "PN-O", "PN-P"]),
    ],
)
def test_apply_is_the_same_on_duckdb_and_spark(
    spec: Spec,
    duck: Engine,
    spark_tiers: Engine,
    l_div: int,
    sensitive: str | None,
    people: str | None,
    kept: list[str],
) -> None:
    qis = _qis(spec)

    def build(_e: Engine, events: ir.Table, ids: ir.Table) -> ir.Table:
        rows = derive.depersonalised(spec, events, ids, "anonymised")
        return anonymise.apply(rows, qis, NODE, k=2, l_div=l_div, sensitive=sensitive,
                               people=people)  # fmt: skip

    a, b = _on_both(duck, spark_tiers, build)
    rows = _same(a, b)
    names = a.column_names
    assert sorted(r[names.index("person_id")] for r in rows) == kept
    # Every class kept holds at least k rows (or people), and l distinct sensitive values.
    qi_at = [names.index(q.name) for q in qis]
    classes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for r in rows:
        classes.setdefault(tuple(r[j] for j in qi_at), []).append(r)
    for members in classes.values():
        who = {m[names.index(people)] for m in members} if people else members
        assert len(who) >= 2
        if sensitive:
            assert len({m[names.index(sensitive)] for m in members}) >= l_div
    # The values are the node's levels, worked out by hand.
    generalised = {tuple(r[j] for j in qi_at) for r in rows}
    want = {
        ("40-44", "Male", "B", "(blank)", "Tenant", "Paid"),
        ("40-44", "Male", "M", "(blank)", "Tenant", "Paid"),
        ("45-49", "Female", "M", "2025Q1", "Registered care home", "Paid"),
    }
    if people is None:
        want.add(("20-24", "Female", "SW", "2025Q1", "Registered care home", "Paid"))
    assert generalised == want
