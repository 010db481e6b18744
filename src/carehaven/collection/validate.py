"""Running the compiled checks: every finding with its row, field, rule and message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from carehaven.collection import references
from carehaven.collection.context import Context
from carehaven.collection.masking import shown
from carehaven.collection.plan import Plan, plan_for
from carehaven.collection.reading import ROW_COLUMN
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


#: From this many rows, judging costs more than planning (see plan.compile_plan).
LARGE_FILE_ROWS = 50_000


def validate(
    con: Any,
    raw_name: str,
    spec: Spec,
    ctx: Context,
    *,
    plan: Plan | None = None,
) -> Validation:
    """Judge every row of the registered text table ``raw_name`` (``_row`` and each field).

    ``con`` is DuckDB's connection or an Ibis DuckDB backend over one. ``plan`` is the one
    ``plan_for`` gives for this spec, context and name (compiled here when not given).
    """
    raw = getattr(con, "con", con)
    context = ctx.as_table()
    if plan is None:
        plan = plan_for(raw_name, spec, ctx.notices, context.schema)
    raw.register(f"{raw_name}_ctx", context)
    referenced = references.register(raw, raw_name, spec, ctx)  # issue 13 item 6
    try:
        if plan.repeats_sql is not None:
            raw.execute(plan.repeats_sql)
        counted = raw.execute(f'SELECT count(*) FROM "{raw_name}"').fetchone()  # noqa: S608
        rows = int(counted[0]) if counted else 0
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
    bad_rows = bad[ROW_COLUMN].combine_chunks() if bad.num_rows else _no_rows()
    return Validation(rows=rows, findings=findings, bad_rows=bad_rows)


def _no_rows() -> pa.Array:
    return pa.nulls(0, pa.int64())


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
