"""The SQL that judges and accepts one dataset's returns, compiled once and kept in the haven.

Compiling a spec's ~100 checks through Ibis costs about half a second, and importing Ibis
another third, in every ``submit`` process, though the SQL depends only on the spec, the notice
versions, the per-submission context's columns and carehaven's own code: the rows and the
context values are tables registered under fixed names. So the compiled plan is kept in
``<haven>/plans``, keyed on everything it depends on and sealed with a key derived from the
master key (HMAC-SHA256): a plan edited on disk, say to judge nothing, fails its seal and is
compiled afresh, never run (ADR 0014).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from carehaven.collection.reading import ROW_COLUMN
from carehaven.consent.notices import NoticeVersion
from carehaven.specs import Spec

#: The modules whose code decides the compiled SQL: a change to any compiles plans afresh.
_SOURCES = ("plan.py", "rules.py", "accept.py", "reading.py", "context.py", "references.py")
_FORMAT = "carehaven-plan/1"


@dataclass(frozen=True)
class CheckInfo:
    """What a finding of one compiled check says (its flag column is ``c<index>``)."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class Plan:
    """Every statement a submission of one dataset runs, as DuckDB SQL text."""

    repeats_sql: str | None  # rows whose primary key repeats an earlier row's
    flags_sql: str  # every row's flags: cheapest to plan, for small files
    bad_flags_sql: str  # only rows with a finding: cheapest to run, for large files
    bad_sql: str  # the flagged rows with their cells, in row order
    accept_sql: str  # the valid rows, typed, for the dataset's table
    checks: tuple[CheckInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the checks too, as dicts

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Plan:
        return cls(
            repeats_sql=doc["repeats_sql"],
            flags_sql=doc["flags_sql"],
            bad_flags_sql=doc["bad_flags_sql"],
            bad_sql=doc["bad_sql"],
            accept_sql=doc["accept_sql"],
            checks=tuple(CheckInfo(**c) for c in doc["checks"]),
        )


def compile_plan(
    raw_name: str, spec: Spec, notices: Sequence[NoticeVersion], context: pa.Schema
) -> Plan:
    """Compile the plan through Ibis, over unbound tables of the shapes submit registers:
    ``raw_name`` (``_row`` and every field as text), ``<raw_name>_ctx`` (``context``) and the
    reference tables of ``collection.references``."""
    import ibis

    from carehaven.collection.accept import typed_rows
    from carehaven.collection.context import reference_table
    from carehaven.collection.references import schema as reference_schema
    from carehaven.collection.rules import (
        compile_checks,
        repeated_keys,
        with_references,
        with_typed,
    )

    def sql(expr: Any) -> str:
        return str(ibis.to_sql(expr, dialect="duckdb"))

    def temp(name: str, expr: Any) -> str:
        return f'CREATE OR REPLACE TEMP TABLE "{name}" AS ' + sql(expr)

    text = {ROW_COLUMN: "int64", **{f.name: "string" for f in spec.fields}}
    t = ibis.table(text, name=raw_name)
    ctx = ibis.table(ibis.Schema.from_pyarrow(context), name=f"{raw_name}_ctx")
    joined = with_typed(t.cross_join(ctx), spec)
    # The rows other returns hold that reference rules name: registered per submission too.
    referenced = {
        reference_table(raw_name, f): ibis.Schema.from_pyarrow(reference_schema(spec, f))
        for f in spec.referenced()
    }
    joined = with_references(joined, spec, raw_name,
                             lambda name: ibis.table(referenced[name], name=name))
    repeats_sql, repeats = None, None
    if spec.primary_key:
        repeats_sql = temp(f"{raw_name}_repeats", repeated_keys(t, spec))
        repeats = ibis.table({ROW_COLUMN: "int64"}, name=f"{raw_name}_repeats")
    checks = compile_checks(joined, spec, notices, repeats)
    flags = {f"c{i}": ibis.coalesce(chk.violated, False) for i, chk in enumerate(checks)}
    # Every check is evaluated once, in one pass, into a temporary table of flags. Keeping only
    # the rows with a finding saves writing a flag per check per row, but DuckDB's optimiser
    # then pushes a wide OR through ~100 check expressions, which costs more to plan (~0.2 s)
    # than a small file costs to judge; so both forms are kept.
    judged = joined.select(joined[ROW_COLUMN], **flags)
    any_flag = ibis.or_(*(judged[k] for k in flags))
    m = ibis.table(judged.schema(), name=f"{raw_name}_flags")
    bad_flags = m.filter(ibis.or_(*(m[k] for k in flags)))
    bad = (
        bad_flags.join(t, ROW_COLUMN)
        .select(bad_flags, *[t[f.name] for f in spec.fields])
        .order_by(ROW_COLUMN)
    )
    rejected = ibis.table({ROW_COLUMN: "int64"}, name=f"{raw_name}_bad")
    return Plan(
        repeats_sql=repeats_sql,
        flags_sql=temp(f"{raw_name}_flags", judged),
        bad_flags_sql=temp(f"{raw_name}_flags", judged.filter(any_flag)),
        bad_sql=sql(bad),
        accept_sql=sql(typed_rows(t.anti_join(rejected, ROW_COLUMN), spec)),
        checks=tuple(CheckInfo(c.field, c.rule, c.message) for c in checks),
    )


_COMPILED: dict[str, Plan] = {}


def plan_for(
    raw_name: str,
    spec: Spec,
    notices: Sequence[NoticeVersion],
    context: pa.Schema,
    *,
    folder: Path | None = None,
    seal_key: bytes | None = None,
) -> Plan:
    """The plan for ``spec``: from this process, from ``folder`` if its seal holds, or compiled
    (and then written to ``folder``). Without a folder and key it is kept in this process only."""
    key = plan_key(raw_name, spec, notices, context)
    if key in _COMPILED:
        return _COMPILED[key]
    plan = None
    if folder is not None and seal_key is not None:
        plan = _read(folder / f"{key}.json", key, seal_key)
    if plan is None:
        plan = compile_plan(raw_name, spec, notices, context)
        if folder is not None and seal_key is not None:
            _write(folder, key, plan, seal_key)
    _COMPILED[key] = plan
    return plan


def plan_key(
    raw_name: str, spec: Spec, notices: Sequence[NoticeVersion], context: pa.Schema
) -> str:
    """A digest of everything the compiled SQL depends on."""
    parts: dict[str, Any] = {
        "format": _FORMAT,
        "raw_name": raw_name,
        "spec": spec.descriptor(),
        "notices": sorted(
            [n.notice, n.version, n.published_on.isoformat()] for n in notices
        ),
        "context": [[f.name, str(f.type)] for f in context],
        "build": _build(),
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@cache
def _build() -> dict[str, object]:
    """carehaven's code that writes the SQL, and the engines' versions: fixed in a process."""
    import duckdb

    here = Path(__file__).parent
    return {
        "code": {s: hashlib.sha256((here / s).read_bytes()).hexdigest() for s in _SOURCES},
        "engines": [duckdb.__version__, _version("ibis-framework"), _version("sqlglot")],
    }


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover - an environment without the package
        return "none"


def _seal(key: str, body: bytes, seal_key: bytes) -> str:
    return hmac.new(seal_key, key.encode() + b"\x00" + body, hashlib.sha256).hexdigest()


def _read(path: Path, key: str, seal_key: bytes) -> Plan | None:
    """The plan at ``path`` if it is there, whole, and sealed by this haven's key; else None."""
    try:
        doc = json.loads(path.read_bytes())
        body = doc["plan"].encode()
        if not hmac.compare_digest(_seal(key, body, seal_key), str(doc["seal"])):
            return None  # edited, or another haven's: compile afresh and overwrite it
        return Plan.from_json(json.loads(body))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(folder: Path, key: str, plan: Plan, seal_key: bytes) -> None:
    """Write the plan beside its siblings, whole or not at all (a cache: failure is harmless)."""
    body = json.dumps(plan.to_json(), sort_keys=True)
    doc = json.dumps({"plan": body, "seal": _seal(key, body.encode(), seal_key)})
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        # A new file, never through a link planted in its place, owner-only.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(tmp, flags, 0o600), "w") as fh:
            fh.write(doc)
        tmp.replace(folder / f"{key}.json")
    except OSError:  # a read-only or full disk: the plan is compiled again next time
        tmp.unlink(missing_ok=True)


__all__ = ["CheckInfo", "Plan", "compile_plan", "plan_for", "plan_key"]
