"""Running the compiled checks: every finding with its row, field, rule and message."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from carehaven.collection.masking import shown
from carehaven.collection.reading import ROW_COLUMN
from carehaven.collection.rules import Context, compile_checks
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


def validate(con: DuckDBBackend, raw_name: str, spec: Spec, ctx: Context) -> Validation:
    """Judge every row of the registered text table ``raw_name``."""
    t = con.table(raw_name)
    checks = compile_checks(t, spec, ctx)
    flags = {f"c{i}": ibis.coalesce(chk.violated, False) for i, chk in enumerate(checks)}
    judged = t.select(t[ROW_COLUMN], *[t[f.name] for f in spec.fields], **flags)
    any_bad = ibis.or_(*(judged[k] for k in flags))
    bad = judged.filter(any_bad).order_by(ROW_COLUMN).to_pyarrow()
    rows = int(con.table(raw_name).count().execute())

    parts: list[pa.Table] = []
    for key, chk in zip(flags, checks, strict=True):
        hit = bad.filter(bad[key])
        if hit.num_rows == 0:
            continue
        identifier = spec.field(chk.field).is_identifier
        values = [shown(v, identifier=identifier) for v in hit[chk.field].to_pylist()]
        n = hit.num_rows
        parts.append(
            pa.table(
                {
                    "row": hit[ROW_COLUMN],
                    "field": pa.array([chk.field] * n, pa.string()),
                    "rule": pa.array([chk.rule] * n, pa.string()),
                    "message": pa.array([chk.message] * n, pa.string()),
                    "value": pa.array(values, pa.string()),
                },
                schema=FINDINGS_SCHEMA,
            )
        )
    findings = pa.concat_tables(parts) if parts else FINDINGS_SCHEMA.empty_table()
    if findings.num_rows:
        findings = findings.sort_by([("row", "ascending"), ("field", "ascending")])
    return Validation(
        rows=rows,
        findings=findings,
        bad_rows=bad[ROW_COLUMN].combine_chunks() if bad.num_rows else pa.array([], pa.int64()),
    )


def file_finding(rule: str, message: str, line: int | None) -> pa.Table:
    """A file-level problem as a one-row findings table (field empty, row the line if known)."""
    return pa.table(
        {
            "row": pa.array([line], pa.int64()),
            "field": pa.array([""]),
            "rule": pa.array([rule]),
            "message": pa.array([message]),
            "value": pa.array([""]),
        },
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
