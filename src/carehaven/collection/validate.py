"""Running the compiled checks: every finding with its row, field, rule and message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from carehaven.collection import references
from carehaven.collection.masking import shown
from carehaven.collection.reading import ROW_COLUMN
from carehaven.collection.rules import (
    Check,
    Context,
    compile_checks,
    repeated_keys,
    with_references,
    with_typed,
)
from carehaven.consent.notices import NoticeVersion
from carehaven.specs import Spec

FINDINGS_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("field", pa.string()),
        ("rule", pa.string()),
        ("message", pa.string()),
        ("value", pa.string()),
    ]
)


@dataclass(frozen=True)
class Validation:
    rows: int
    findings: pa.Table  # FINDINGS_SCHEMA, ordered by row then field
    bad_rows: pa.Array  # int64 row numbers of rejected rows

    @property
    def rejected(self) -> int:
        return len(self.bad_rows)

    @property
    def accepted(self) -> int:
        return self.rows - self.rejected


@dataclass(frozen=True)
class _Plan:
    """The compiled SQL for one spec: built once, reused for every file of that dataset."""

    spec: Spec  # pinned, so the id() in the cache key stays this spec's
    repeats_sql: str | None
    flags_sql: str  # every row's flags: cheapest to plan, for small files
    bad_flags_sql: str  # only rows with a finding: cheapest to run, for large files
    bad_sql: str
    checks: tuple[Check, ...]


_PLANS: dict[tuple[object, ...], _Plan] = {}
#: From this many rows, judging costs more than planning (see _plan).
LARGE_FILE_ROWS = 50_000


def _plan(con: DuckDBBackend, raw_name: str, spec: Spec, notices: Sequence[NoticeVersion]) -> _Plan:
    notice_key = tuple((n.notice, n.version, n.published_on) for n in notices)
    key = (raw_name, id(spec), notice_key)
    if key not in _PLANS:
        t = con.table(raw_name)
        joined = with_typed(t.cross_join(con.table(f"{raw_name}_ctx")), spec)
        # Rows of other returns that reference rules name (issue 13 item 6): registered tables.
        joined = with_references(joined, spec, raw_name, con.table)
        repeats_sql, repeats = None, None
        if spec.primary_key:
            repeats_sql = _temp_table(f"{raw_name}_repeats", repeated_keys(t, spec))
            repeats = ibis.table({ROW_COLUMN: "int64"}, name=f"{raw_name}_repeats")
        checks = compile_checks(joined, spec, notices, repeats)
        flags = {f"c{i}": ibis.coalesce(chk.violated, False) for i, chk in enumerate(checks)}
        # Every check is evaluated once, in one pass, into a temporary table of flags. Keeping
        # only the rows with a finding saves writing a flag per check per row, but DuckDB's
        # optimiser then pushes a wide OR through ~100 check expressions, which costs more to
        # plan (~0.2 s) than a small file costs to judge; so both forms are kept.
        judged = joined.select(joined[ROW_COLUMN], **flags)
        flags_sql = _temp_table(f"{raw_name}_flags", judged)
        any_flag = ibis.or_(*(judged[k] for k in flags))
        bad_flags_sql = _temp_table(f"{raw_name}_flags", judged.filter(any_flag))
        m = ibis.table(judged.schema(), name=f"{raw_name}_flags")
        bad_flags = m.filter(ibis.or_(*(m[k] for k in flags)))
        bad = (
            bad_flags.join(t, ROW_COLUMN)
            .select(bad_flags, *[t[f.name] for f in spec.fields])
            .order_by(ROW_COLUMN)
        )
        bad_sql = ibis.to_sql(bad, dialect="duckdb")
        _PLANS[key] = _Plan(spec, repeats_sql, flags_sql, bad_flags_sql, bad_sql, tuple(checks))
    return _PLANS[key]


def _temp_table(name: str, expr: ir.Table) -> str:
    return f'CREATE OR REPLACE TEMP TABLE "{name}" AS ' + str(ibis.to_sql(expr, dialect="duckdb"))


def validate(con: DuckDBBackend, raw_name: str, spec: Spec, ctx: Context) -> Validation:
    """Judge every row of the registered text table ``raw_name``."""
    raw = con.con
    raw.register(f"{raw_name}_ctx", ctx.as_table())
    referenced = references.register(raw, raw_name, spec, ctx)  # issue 13 item 6
    plan = _plan(con, raw_name, spec, ctx.notices)
    try:
        if plan.repeats_sql is not None:
            raw.execute(plan.repeats_sql)
        rows = int(con.table(raw_name).count().execute())
        raw.execute(plan.bad_flags_sql if rows >= LARGE_FILE_ROWS else plan.flags_sql)
        bad = raw.execute(plan.bad_sql).to_arrow_table()
    finally:
        raw.execute(f'DROP TABLE IF EXISTS "{raw_name}_flags"')
        raw.execute(f'DROP TABLE IF EXISTS "{raw_name}_repeats"')
        raw.unregister(f"{raw_name}_ctx")
        references.unregister(raw, referenced)

    parts: list[pa.Table] = []
    for i, chk in enumerate(plan.checks):
        hit = bad.filter(bad[f"c{i}"])
        if hit.num_rows == 0:
            continue
        identifier = spec.field(chk.field).is_identifier
        values = [shown(v, identifier=identifier) for v in hit[chk.field].to_pylist()]
        n = hit.num_rows
        parts.append(
            _findings(hit[ROW_COLUMN], [chk.field] * n, [chk.rule] * n, [chk.message] * n, values)
        )
    findings = pa.concat_tables(parts) if parts else FINDINGS_SCHEMA.empty_table()
    if findings.num_rows:
        findings = findings.sort_by([("row", "ascending"), ("field", "ascending")])
    bad_rows = bad[ROW_COLUMN].combine_chunks() if bad.num_rows else pa.array([], pa.int64())
    return Validation(rows=rows, findings=findings, bad_rows=bad_rows)


def file_finding(rule: str, message: str, line: int | None) -> pa.Table:
    """A file-level problem as a one-row findings table (field empty, row the line if known)."""
    return _findings(pa.array([line], pa.int64()), [""], [rule], [message], [""])


def _findings(
    rows: pa.Array | pa.ChunkedArray,
    fields: list[str],
    rules: list[str],
    messages: list[str],
    values: list[str],
) -> pa.Table:
    return pa.Table.from_arrays(
        [
            rows,
            pa.array(fields, pa.string()),
            pa.array(rules, pa.string()),
            pa.array(messages, pa.string()),
            pa.array(values, pa.string()),
        ],
        schema=FINDINGS_SCHEMA,
    )


def counts_by_rule(findings: pa.Table) -> list[dict[str, object]]:
    """Summary rows: rule, field and how many findings, most frequent first."""
    if findings.num_rows == 0:
        return []
    grouped = findings.group_by(["rule", "field"]).aggregate([("row", "count")])
    out = [
        {"rule": r, "field": f, "count": n}
        for r, f, n in zip(
            grouped["rule"].to_pylist(),
            grouped["field"].to_pylist(),
            grouped["row_count"].to_pylist(),
            strict=True,
        )
    ]
    return sorted(out, key=lambda d: (-int(d["count"]), str(d["rule"]), str(d["field"])))


__all__ = ["FINDINGS_SCHEMA", "Validation", "counts_by_rule", "file_finding", "validate"]
