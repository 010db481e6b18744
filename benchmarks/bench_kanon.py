"""k-anonymity with l-diversity on CLD-shaped rows: carehaven's search and apply, in one run.

Data: ``--rows`` rows shaped like the anonymised tier of ``cld-event`` (the columns
``carehaven.pseudonymise.derive.columns(spec, "anonymised")`` lists, 24 of them), drawn with
seeded numpy from skewed distributions: ages 18-105 from a mixture (72% aged 65+, centred on
83; the rest centred on 45); Gender mostly Female/Male; postcode districts of
``carehaven.synth.geography.LOCAL_AUTHORITIES`` weighted by ``LA_WEIGHTS`` and skewed within an
authority; Date_of_Death set on about 3% of rows (more often for the oldest); every coded field
Zipf-like over its spec enum, with the ranking depending on age for Primary_Support_Reason,
Accommodation_Status and Employment_Status; event-type fields only on their event type. The
table is loaded into an in-memory DuckDB through Ibis before anything is timed.

Quasi-identifiers (six): Gender, Age_at_Event, Postcode_District, Date_of_Death,
Accommodation_Status, Employment_Status, with the hierarchies the spec declares; sensitive
field Primary_Support_Reason; k = 10, l = 2 (distinct values), at most 5% of rows suppressed.

Timed, end to end (best of ``--repeat``):

1. ``frequency_table(rows, qis, sensitive).to_pyarrow()`` (DuckDB);
2. ``search(freq, qis, k, l, max_suppression, sensitive)`` (numpy over the frequency table);
3. ``apply(rows, qis, chosen node, k, l, sensitive)`` materialised as a DuckDB table
   (``CREATE TABLE ... AS``, every column), as a release would be written.

Floor, on the same table in the same run: one ``GROUP BY`` of the six raw quasi-identifiers and
the sensitive value with a count, fetched to Arrow, plus a copy of the table
(``CREATE TABLE ... AS SELECT *``): one pass to count, one to write. Information loss is
compared with the global-recoding baseline ``search`` computes (``result.baseline``), and
throughput with ARX's, a quoted constant (not measured here): about 42,000 rows/s for k = 5
on the 30,162-row Adult data set, on this machine.

After apply, every class of the released table (grouped by the six quasi-identifiers) must have
at least k rows and l distinct sensitive values, the rows removed must equal the suppression
``search`` reported, and the class count must match; the run aborts otherwise.

    uv run python benchmarks/bench_kanon.py [--rows 1000000] [--seed 20251122] [--repeat 1]
        [--settle 120] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from benchlib import (
    Measure,
    Stopwatch,
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
from rich.table import Table

from carehaven.pseudonymise.anonymise import Anonymisation, QuasiIdentifier, apply, search
from carehaven.pseudonymise.anonymise import frequency_table as make_frequency_table
from carehaven.pseudonymise.derive import columns
from carehaven.specs import Spec, load_spec
from carehaven.synth.geography import LA_WEIGHTS, LOCAL_AUTHORITIES

DATASET = "cld-event"
SEED = 20251122
K, L_DIVERSITY, MAX_SUPPRESSION = 10, 2, 0.05
SENSITIVE = "Primary_Support_Reason"
#: (name, hierarchy) of the six quasi-identifiers, in lattice order.
QIS = (
    ("Gender", "category"),
    ("Age_at_Event", "age"),
    ("Postcode_District", "postcode-district"),
    ("Date_of_Death", "date"),
    ("Accommodation_Status", "category"),
    ("Employment_Status", "category"),
)
GOAL_SECONDS = 10.0
GOAL_ROWS = 1_000_000
#: Quoted, not measured by this script: ARX (k = 5) on the 30,162-row Adult data set.
ARX_ROWS_PER_S = 42_000
ARX_NOTE = "ARX ~42,000 rows/s (k=5, 30,162-row Adult data set, on this machine)"
DEATHS = (np.datetime64("2024-07-01"), np.datetime64("2025-06-30"))
DEATH_SHARE = 0.03
OLDER_SHARE = 0.72

#: Most frequent first; the rest of each enum follows in spec order.
RANKED: dict[str, dict[str, tuple[str, ...]]] = {
    "older": {
        SENSITIVE: (
            "Physical Support: Personal care support",
            "Physical Support: Access and mobility only",
            "Support with Memory and Cognition",
            "Sensory Support: Support for visual impairment",
            "Social Support: Support for Social Isolation/Other",
            "Sensory Support: Support for hearing impairment",
            "Mental Health Support",
        ),
        "Accommodation_Status": (
            "Owner occupier or shared ownership scheme",
            "Tenant",
            "Registered care home",
            "Registered nursing home",
            "Sheltered housing / extra care housing / other sheltered housing",
            "Settled mainstream housing with family / friends",
            "Unknown",
        ),
        "Employment_Status": (
            "Not in paid employment (not actively seeking work / retired)",
            "Unknown",
        ),
    },
    "younger": {
        SENSITIVE: (
            "Learning Disability Support",
            "Mental Health Support",
            "Physical Support: Personal care support",
            "Physical Support: Access and mobility only",
            "Social Support: Substance misuse support",
        ),
        "Accommodation_Status": (
            "Settled mainstream housing with family / friends",
            "Tenant",
            "Supported accommodation / supported lodgings / supported group home",
            "Owner occupier or shared ownership scheme",
            "Shared Lives scheme",
            "Unknown",
        ),
        "Employment_Status": (
            "Not in paid employment (not actively seeking work / retired)",
            "Unknown",
            "Not in paid employment (seeking work)",
            "Not in paid employment (voluntary work only)",
            "Paid: Less than 16 hours a week",
        ),
    },
}
#: Zipf exponent per field for the older and the younger group (1.0 unless named).
SKEW: dict[str, tuple[float, float]] = {
    SENSITIVE: (1.2, 1.0),
    "Accommodation_Status": (1.3, 1.1),
    "Employment_Status": (3.0, 1.2),
    "Ethnicity": (1.8, 1.8),
    "Client_Type": (3.0, 3.0),
    "Event_Outcome": (1.1, 1.1),
}
FIRST: dict[str, tuple[str, ...]] = {
    "Event_Type": ("Service", "Review", "Assessment", "Request"),
    "Mental_Health_Record": ("N", "Y"),
    "Has_Unpaid_Carer": ("N", "Y", "U"),
}
#: Fields only an event of that type carries.
EVENT_FIELDS = {
    "Request": ("Request_Route_of_Access",),
    "Assessment": ("Assessment_Type", "Eligible_Needs_Identified", "Method_of_Assessment"),
    "Service": (
        "Service_Type",
        "Service_Component",
        "Delivery_Mechanism",
        "Cost_Frequency_Unit_Type",
    ),
    "Review": ("Review_Reason", "Review_Outcomes_Achieved", "Method_of_Review"),
}


# --- data -----------------------------------------------------------------------------------


def zipf(count: int, s: float) -> npt.NDArray[np.float64]:
    w = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** s
    return w / w.sum()


def ranked(enum: Sequence[str], first: Sequence[str]) -> list[str]:
    unknown = set(first) - set(enum)
    assert not unknown, f"not in the spec's enum: {unknown}"
    return [*first, *(v for v in enum if v not in first)]


def draw(
    rng: np.random.Generator,
    enum: Sequence[str],
    n: int,
    *,
    s: float = 1.0,
    first: Sequence[str] = (),
    null: npt.NDArray[np.bool_] | None = None,
) -> pa.Array:
    """``n`` values of ``enum``, Zipf-like with exponent ``s`` in ranked order; null where asked."""
    order = ranked(enum, first)
    idx = rng.choice(len(order), size=n, p=zipf(len(order), s))
    return pa.array(order, pa.string()).take(pa.array(idx, mask=null))


def by_age(
    rng: np.random.Generator, spec: Spec, name: str, older: npt.NDArray[np.bool_]
) -> pa.Array:
    enum, n = spec.field(name).enum, len(older)
    s_old, s_young = SKEW.get(name, (1.0, 1.0))
    old = draw(rng, enum, n, s=s_old, first=RANKED["older"][name])
    young = draw(rng, enum, n, s=s_young, first=RANKED["younger"][name])
    return pc.if_else(pa.array(older), old, young)


def districts() -> tuple[list[str], npt.NDArray[np.float64]]:
    """Every district with its share: the authority's weight, then skewed within it."""
    rng = np.random.default_rng(1)
    names: list[str] = []
    weights: list[float] = []
    total = sum(LA_WEIGHTS)
    for la, w in zip(LOCAL_AUTHORITIES, LA_WEIGHTS, strict=True):
        order = list(la.districts)
        rng.shuffle(order)
        names.extend(order)
        weights.extend(w / total * zipf(len(order), 0.7))
    return names, np.array(weights) / sum(weights)


def cld_rows(n: int, seed: int) -> pa.Table:
    spec = load_spec(DATASET)
    rng = np.random.default_rng(seed)
    older = rng.random(n) < OLDER_SHARE
    age = np.where(
        older,
        np.clip(np.rint(rng.normal(83.0, 7.5, n)), 65, 105),
        np.clip(np.rint(rng.normal(45.0, 13.0, n)), 18, 64),
    ).astype(np.int64)
    risk = np.where(age >= 85, 3.0, np.where(age >= 65, 1.5, 0.3))
    dead = rng.random(n) < DEATH_SHARE * risk / risk.mean()
    span = int((DEATHS[1] - DEATHS[0]).astype(int)) + 1
    death = DEATHS[0] + rng.integers(0, span, n).astype("timedelta64[D]")
    names, weights = districts()
    event = draw(rng, spec.field("Event_Type").enum, n, s=0.7, first=FIRST["Event_Type"])
    values: dict[str, pa.Array] = {
        "Age_at_Event": pa.array(age),
        "Gender": pa.array(["Female", "Male", "Other", "Unknown"], pa.string()).take(
            pa.array(rng.choice(4, size=n, p=[0.57, 0.41, 0.004, 0.016]))
        ),
        "Postcode_District": pa.array(names, pa.string()).take(
            pa.array(rng.choice(len(names), size=n, p=weights))
        ),
        "Date_of_Death": pa.array(death.astype("datetime64[D]"), pa.date32(), mask=~dead),
        "Event_Type": event,
    }
    for name in (SENSITIVE, "Accommodation_Status", "Employment_Status"):
        values[name] = by_age(rng, spec, name, older)
    event_np = event.to_numpy(zero_copy_only=False)
    only_on = {f: t for t, fields in EVENT_FIELDS.items() for f in fields}
    out: dict[str, pa.Array] = {}
    for col in columns(spec, "anonymised"):
        if col.name not in values:
            null = event_np != only_on[col.name] if col.name in only_on else None
            values[col.name] = draw(
                rng,
                spec.field(col.name).enum,
                n,
                s=SKEW.get(col.name, (1.0, 1.0))[0],
                first=FIRST.get(col.name, ()),
                null=null,
            )
        out[col.name] = values[col.name]
    return pa.table(out)


def quasi_identifiers(spec: Spec) -> list[QuasiIdentifier]:
    out = []
    for name, hierarchy in QIS:
        enum = spec.field(name).enum if hierarchy == "category" else None
        out.append(QuasiIdentifier(name, hierarchy, tuple(enum) if enum else None))
    return out


def level_names(q: QuasiIdentifier, height: int) -> list[str]:
    named = {
        "age": ["years (90+ top-coded)", "5-year bands", "10-year bands", "20-year bands"],
        "postcode-district": ["district", "postcode area"],
        "local-authority": ["authority", "region"],
        "date": ["month", "quarter", "year"],
        "category": ["code", "group"],
    }[q.hierarchy]
    return [*named[:height], "*"]


# --- measurements -------------------------------------------------------------------------------
# Tables are made with CREATE TABLE AS, as carehaven does (identity/engine.py): Ibis's own
# create_table and drop_table break with the sqlglot this project resolves.


def load(con: Any, table: pa.Table) -> ir.Table:
    con.con.register("cld_arrow", table)
    try:
        con.raw_sql('CREATE TABLE "cld" AS SELECT * FROM "cld_arrow"')
    finally:
        con.con.unregister("cld_arrow")
    return con.table("cld")


def materialise(con: Any, expr: ir.Table, name: str) -> ir.Table:
    con.raw_sql(f'CREATE OR REPLACE TABLE "{name}" AS {ibis.to_sql(expr, dialect="duckdb")}')
    return con.table(name)


def floor(con: Any, rows: ir.Table, m: Measure) -> None:
    """One GROUP BY of the raw quasi-identifiers + sensitive value to Arrow; one table copy."""
    keys = [name for name, _ in QIS] + [SENSITIVE]
    watch = Stopwatch()
    watch.lap("group by raw values, to Arrow")
    counts = rows.group_by(keys).aggregate(__n=rows.count()).to_pyarrow()
    watch.lap("copy the table (CREATE TABLE AS)")
    copy = materialise(con, rows, "cld_copy")
    m.runs.append(watch.stop())
    m.stages.append(watch.stages)
    assert pc.sum(counts["__n"]).as_py() == m.units
    assert copy.count().execute() == m.units
    m.extra.update(raw_combinations=counts.num_rows)
    con.raw_sql('DROP TABLE "cld_copy"')


def pipeline(con: Any, rows: ir.Table, qis: list[QuasiIdentifier], m: Measure) -> Anonymisation:
    watch = Stopwatch()
    watch.lap("frequency table (DuckDB, to Arrow)")
    freq = make_frequency_table(rows, qis, SENSITIVE).to_pyarrow()
    watch.lap("search (numpy)")
    result = search(
        freq, qis, k=K, l_div=L_DIVERSITY, max_suppression=MAX_SUPPRESSION, sensitive=SENSITIVE
    )
    watch.lap("apply (DuckDB, CREATE TABLE AS)")
    released = apply(rows, qis, result.chosen.node, k=K, l_div=L_DIVERSITY, sensitive=SENSITIVE)
    materialise(con, released, "cld_released")
    m.runs.append(watch.stop())
    m.stages.append(watch.stages)
    m.extra.update(frequency_rows=freq.num_rows)
    return result


def verify(
    con: Any, qis: list[QuasiIdentifier], result: Anonymisation, rows_in: int
) -> dict[str, Any]:
    """Every released class has >= k rows and >= l sensitive values; counts agree with search."""
    out = con.table("cld_released")
    names = [q.name for q in qis]
    classes = out.group_by(names).aggregate(
        n=out.count(), l_values=out[SENSITIVE].cast("string").fill_null("(blank)").nunique()
    )
    got = (
        classes.aggregate(
            classes=classes.count(),
            rows=classes.n.sum(),
            min_size=classes.n.min(),
            min_l=classes.l_values.min(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    rows_out = got["rows"] or 0
    facts = {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "suppressed": rows_in - rows_out,
        "suppressed_by_search": result.chosen.suppressed,
        "classes": got["classes"],
        "classes_by_search": result.chosen.classes,
        "smallest_class": got["min_size"],
        "fewest_sensitive_values": got["min_l"],
    }
    problems = []
    if rows_out and (got["min_size"] < K or got["min_l"] < L_DIVERSITY):
        problems.append(f"a class has {got['min_size']} rows / {got['min_l']} sensitive values")
    if rows_in - rows_out != result.chosen.suppressed:
        problems.append(
            f"{rows_in - rows_out:,} rows removed but search reported {result.chosen.suppressed:,}"
        )
    if got["classes"] != result.chosen.classes:
        problems.append(f"{got['classes']:,} classes but search reported {result.chosen.classes:,}")
    if result.chosen.suppressed > math.floor(MAX_SUPPRESSION * rows_in):
        problems.append(f"suppressed {result.chosen.suppressed:,} is over the limit")
    if problems:
        raise SystemExit("ABORT: the released table is not as promised: " + "; ".join(problems))
    return facts


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    spec = load_spec(DATASET)
    qis = quasi_identifiers(spec)
    started = time.perf_counter()
    table = cld_rows(args.rows, args.seed)
    gen_s = time.perf_counter() - started
    con = ibis.duckdb.connect()
    started = time.perf_counter()
    rows = load(con, table)
    load_s = time.perf_counter() - started
    n = table.num_rows
    data = {
        "rows": n,
        "columns": table.num_columns,
        "seed": args.seed,
        "generate_seconds": round(gen_s, 2),
        "load_seconds": round(load_s, 2),
        "deaths": n - table["Date_of_Death"].null_count,
        "distinct": {
            name: pc.count_distinct(table[name]).as_py() for name, _ in (*QIS, (SENSITIVE, ""))
        },
        "age_65_plus_share": round(pc.mean(pc.greater_equal(table["Age_at_Event"], 65)).as_py(), 3),
    }
    del table

    m_floor = Measure("floor: raw GROUP BY to Arrow + table copy", n, note="same table")
    m_run = Measure("carehaven k-anonymise (frequency, search, apply)", n, note="end to end")
    result: Anonymisation | None = None
    try:
        for _ in range(args.repeat):
            gc.collect()
            m_floor.idle.append(settle(args.settle))
            floor(con, rows, m_floor)
            gc.collect()
            m_run.idle.append(settle(args.settle))
            result = pipeline(con, rows, qis, m_run)
        assert result is not None
        checked = verify(con, qis, result, n)
    finally:
        con.disconnect()

    rep = result.report()
    chosen, base = rep["chosen"], rep["baseline_global_recoding"]
    assert isinstance(chosen, dict) and isinstance(base, dict)
    heights = dict(zip([q.name for q in qis], result.heights, strict=True))
    level_labels = {
        q.name: level_names(q, heights[q.name])[lvl]
        for q, lvl in zip(qis, result.chosen.node, strict=True)
    }
    base_labels = (
        {
            q.name: level_names(q, heights[q.name])[lvl]
            for q, lvl in zip(qis, result.baseline.node, strict=True)
        }
        if result.baseline
        else {}
    )
    measures = [m_floor, m_run]
    ratios = {
        "seconds": m_run.best,
        "rows_per_s": m_run.rate,
        "time_vs_floor": m_run.best / m_floor.best,
        "throughput_vs_arx_quoted": m_run.rate / ARX_ROWS_PER_S,
        "information_loss_vs_global_recoding": (
            chosen["information_loss"] / base["information_loss"]
            if base["information_loss"]
            else math.nan
        ),
    }
    goals = {
        # The goal is for a million rows; judged only at that size.
        "1m_rows_under_10s": m_run.best < GOAL_SECONDS if n == GOAL_ROWS else None,
    }
    info["at_end"] = load_now()
    return {
        "machine": info,
        "data": data,
        "parameters": {
            "k": K,
            "l": L_DIVERSITY,
            "max_suppression": MAX_SUPPRESSION,
            "sensitive": SENSITIVE,
            "quasi_identifiers": [f"{q.name} ({q.hierarchy})" for q in qis],
        },
        "repeat": args.repeat,
        "measures": [m.as_json() for m in measures],
        "anonymisation": rep,
        "lattice_nodes": math.prod(h + 1 for h in result.heights),
        "chosen_level_names": level_labels,
        "baseline_level_names": base_labels,
        "verified": checked,
        "arx_reference": ARX_NOTE + " (quoted constant, not measured by this script)",
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "goals": goals,
        "_measures": measures,
    }


def _outcome_table(out: dict[str, Any]) -> Table:
    rep = out["anonymisation"]
    chosen, base = rep["chosen"], rep["baseline_global_recoding"] or {}
    t = Table(title="Node chosen vs global recoding (baseline)", title_justify="left")
    t.add_column("")
    t.add_column("chosen", justify="right")
    t.add_column("global recoding", justify="right")
    for name in chosen["levels"]:
        t.add_row(
            name,
            f"{chosen['levels'][name]}: {out['chosen_level_names'][name]}",
            f"{base['levels'][name]}: {out['baseline_level_names'][name]}" if base else "-",
        )
    for key, fmt in (
        ("suppressed_rows", "{:,}"),
        ("suppressed_share", "{:.2%}"),
        ("classes", "{:,}"),
        ("generalisation_loss", "{:.4f}"),
        ("information_loss", "{:.4f}"),
    ):
        t.add_row(
            key.replace("_", " "), fmt.format(chosen[key]), fmt.format(base[key]) if base else "-"
        )
    return t


def show(out: dict[str, Any]) -> None:
    c = console()
    d, p, r, g, v = out["data"], out["parameters"], out["ratios"], out["goals"], out["verified"]
    rep = out["anonymisation"]
    measures: list[Measure] = out["_measures"]
    c.print(machine_line(out["machine"]))
    c.print(
        f"data: {d['rows']:,} CLD-shaped rows x {d['columns']} columns (seed {d['seed']}), "
        f"generated in {d['generate_seconds']:.1f} s, loaded into DuckDB in "
        f"{d['load_seconds']:.1f} s; {d['age_65_plus_share']:.0%} aged 65+, "
        f"{d['deaths']:,} with a date of death; distinct values: "
        + ", ".join(f"{k} {v:,}" for k, v in d["distinct"].items())
    )
    c.print(
        f"k={p['k']}, l={p['l']} on {p['sensitive']}, max suppression {p['max_suppression']:.0%}; "
        f"QIs: {', '.join(p['quasi_identifiers'])}; lattice {out['lattice_nodes']:,} nodes, "
        f"{rep['method']}, {rep['nodes_tried']} tried; best of {out['repeat']}"
    )
    c.print(measures_table("k-anonymity", measures, "rows"))
    for m in measures:
        c.print(stages_table(f"Stages of {m.name.split(' (')[0]} (best run)", m.best_stages()))
    c.print(
        f"frequency table: {measures[1].extra['frequency_rows']:,} rows "
        f"(raw combinations of QIs + sensitive: {measures[0].extra['raw_combinations']:,})"
    )
    c.print(_outcome_table(out))
    c.print(
        f"verified: {v['rows_out']:,} rows released in {v['classes']:,} classes, smallest "
        f"{v['smallest_class']}, fewest sensitive values {v['fewest_sensitive_values']}; "
        f"{v['suppressed']:,} suppressed = search's {v['suppressed_by_search']:,}"
    )
    c.print(
        goals_table(
            "Ratios and goals",
            [
                (
                    f"k-anonymise {GOAL_ROWS:,} rows",
                    f"< {GOAL_SECONDS:g} s",
                    f"{r['seconds']:.2f} s",
                    g["1m_rows_under_10s"],
                ),
                ("rows per second", "-", f"{r['rows_per_s']:,.0f}", None),
                ("time ÷ floor time", "-", f"{r['time_vs_floor']:.1f}x", None),
                (
                    "throughput ÷ ARX (quoted 42,000 rows/s)",
                    "-",
                    f"{r['throughput_vs_arx_quoted']:.1f}x",
                    None,
                ),
                (
                    "information loss ÷ global recoding",
                    "-",
                    f"{r['information_loss_vs_global_recoding']:.2f}x",
                    None,
                ),
            ],
        )
    )
    c.print(f"ARX reference: {out['arx_reference']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    add_output_args(parser)
    args = parser.parse_args(argv)
    report(run(args), args, show)


if __name__ == "__main__":
    main()
