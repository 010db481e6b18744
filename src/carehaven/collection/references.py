"""The rows a return may name in another return, looked up before it is validated.

A ``reference`` rule (ADR 0001, "Rules") says a field names a row of another dataset by its
key: ``ndtms-review.episode_id`` an episode of the same provider. Before validation the rows
it may name are read from the data plane, the accepted rows of the submitting organisation's
returns of that dataset **in force** (status accepted and not superseded, from the control
plane), one row per key, the latest period's where an episode is in several returns; they are
registered as a small table under a fixed name beside the file (``<raw>_ref_<field>``), which
the compiled checks join. So the SQL is the same for every submission: what differs between
submissions is only the registered table (issue 13 item 6).

Plain SQL over DuckDB's own connection and the control plane's ledger, no Ibis or SQLAlchemy:
the lookup is one query, and a submit imports neither (ADR 0014).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from carehaven.collection import ledger
from carehaven.collection.context import Context, reference_column, reference_table
from carehaven.collection.period import parse_period
from carehaven.data.rawsql import columns as table_columns
from carehaven.specs import Spec, load_spec

if TYPE_CHECKING:
    from carehaven.haven import Haven

_IN_FORCE = "_references_in_force"


def schema(spec: Spec, field: str) -> pa.Schema:
    """The columns of ``field``'s reference table: the key as text, then the dates read."""
    _, _, dates = spec.referenced()[field]
    return pa.schema(
        [(reference_column(field, "key"), pa.string())]
        + [(reference_column(field, d), pa.date32()) for d in dates]
    )


def in_force(haven: Haven, org: str, dataset: str) -> pa.Table:
    """``org``'s submissions of ``dataset`` in force, latest period first (``rank`` 0)."""
    rows = ledger.in_force(haven.rows, org, dataset)
    # Periods of one dataset never overlap (cadence), so the period's end orders them.
    ordered = sorted(rows, key=lambda r: (parse_period(r.period).end, r.received_at), reverse=True)
    return pa.Table.from_arrays(
        [
            pa.array([r.id for r in ordered], pa.string()),
            pa.array(list(range(len(ordered))), pa.int64()),
        ],
        names=["submission_id", "rank"],
    )


def lookup(
    raw: duckdb.DuckDBPyConnection, spec: Spec, field: str, submissions: pa.Table
) -> pa.Table:
    """The rows ``field`` may name: of ``submissions`` (``in_force``), one per key, from the
    best-ranked submission holding it."""
    dataset, key, dates = spec.referenced()[field]
    target = load_spec(dataset)
    out = schema(spec, field)
    if submissions.num_rows == 0 or table_columns(raw, target.table_name) is None:
        return out.empty_table()
    names = [key, *dates]
    # Every name is a field of a loaded spec (checked on load), quoted; the values are bound.
    picked = ", ".join(f'r."{n}" AS "{c}"' for n, c in zip(names, out.names, strict=True))
    columns = ", ".join(f'"{c}"' for c in out.names)
    raw.register(_IN_FORCE, submissions)
    try:
        table = raw.execute(
            f"SELECT {columns} FROM ("  # noqa: S608
            f"  SELECT {picked}, row_number() OVER ("
            f'    PARTITION BY r."{key}" ORDER BY s.rank) AS n'
            f'  FROM "{target.table_name}" r JOIN {_IN_FORCE} s'
            "    ON r._submission_id = s.submission_id"
            f'  WHERE r."{key}" IS NOT NULL'
            ") WHERE n = 1"
        ).to_arrow_table()
    finally:
        raw.unregister(_IN_FORCE)
    return table.cast(out)


def for_submission(
    haven: Haven, raw: duckdb.DuckDBPyConnection, spec: Spec, org: str
) -> dict[str, pa.Table]:
    """Every reference table ``spec``'s rules read, for a return of ``org``."""
    tables: dict[str, pa.Table] = {}
    in_force_of: dict[str, pa.Table] = {}
    for field, (dataset, _, _) in spec.referenced().items():
        if dataset not in in_force_of:
            in_force_of[dataset] = in_force(haven, org, dataset)
        tables[field] = lookup(raw, spec, field, in_force_of[dataset])
    return tables


def from_rows(spec: Spec, field: str, rows: Iterable[Mapping[str, str]]) -> pa.Table:
    """A reference table from rows as text (a test's or a tool's own choice of rows)."""
    _, key, dates = spec.referenced()[field]
    out = schema(spec, field)
    listed = list(rows)
    columns = [pa.array([r[key] for r in listed], pa.string())] + [
        pa.array([r.get(d) or None for r in listed], pa.string()).cast(pa.date32())
        for d in dates
    ]
    return pa.Table.from_arrays(columns, schema=out)


def register(
    raw: duckdb.DuckDBPyConnection, raw_name: str, spec: Spec, ctx: Context
) -> Sequence[str]:
    """Register every reference table under its fixed name (empty where none was looked up:
    the rules are then not judged, ``rules.CTX_REFERENCES``); the names, to unregister."""
    names = []
    for field in spec.referenced():
        given = ctx.references.get(field) if ctx.references is not None else None
        table = given if given is not None else schema(spec, field).empty_table()
        name = reference_table(raw_name, field)
        raw.register(name, table)
        names.append(name)
    return names


def unregister(raw: duckdb.DuckDBPyConnection, names: Sequence[str]) -> None:
    for name in names:
        raw.unregister(name)
