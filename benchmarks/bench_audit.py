"""Verifying a million-entry audit chain: ``carehaven.audit.verification`` against a bare SELECT.

A fresh haven's SQLite control database gets ``--entries`` audit entries: a realistic sample
appended through ``carehaven.audit.record`` (typed events, the ORM, the head row), then the rest
computed with ``canonical``/``entry_hash`` and inserted in bulk with SQLAlchemy Core executemany,
the ``audit_head`` row moved to the last one. The bulk formula is first checked against the
entries ``record`` wrote. Then, in the same run:

* floor: the same ``SELECT ... ORDER BY seq`` that verify issues, streamed through the same engine
  (``yield_per``), rows fetched and dropped;
* raw sqlite3: the same SELECT through the sqlite3 module directly (no SQLAlchemy), for context;
* verify: ``carehaven.audit.verification(engine)`` on the intact chain (must be ok);
* verify, tampered: one entry in the middle altered (the ``audit_log_no_update`` trigger dropped
  first), verify again (must name that entry as first_bad; it stops there, so reads half).

    uv run python benchmarks/bench_audit.py [--entries 1000000] [--sample 1000] [--repeat 1]
        [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import (
    Measure,
    add_output_args,
    console,
    goals_table,
    load_now,
    machine,
    machine_line,
    measures_table,
    report,
    settle,
    timed,
)
from episodes import DATA_DIR
from sqlalchemy import Engine, insert, select, text, update

from carehaven.audit import AuditEvent, canonical, entry_hash, record, verify
from carehaven.audit.events import (
    OrganisationAdded,
    SpecRegistered,
    SubmissionReceived,
    SubmissionSuperseded,
)
from carehaven.audit.public import ChainPublic
from carehaven.audit.verification import CHAIN_COLUMNS
from carehaven.config import Settings
from carehaven.control.models import AuditEntry, AuditHead
from carehaven.haven import Haven, init_haven

ACTOR = "bench"
BATCH = 50_000


def event(i: int) -> AuditEvent:
    """A plausible mix: mostly submissions received, some superseded, a few registrations."""
    sid = f"sub-{i:012x}"
    org = f"P{(i % 150) + 1:03d}"
    kind = i % 20
    if kind == 0:
        return OrganisationAdded(code=f"X{i:07d}", kind="treatment-service")
    if kind == 1:
        return SpecRegistered(name="ndtms-episode", version=f"1.{i % 7}.0", sha256=f"{i:064x}")
    if kind < 6:
        return SubmissionSuperseded(
            submission_id=f"sub-{i - 1:012x}", superseded_by=sid, rows_retired=i % 5000
        )
    rows = 100 + (i * 7919) % 20000
    bad = (i * 104729) % 50
    return SubmissionReceived(
        submission_id=sid,
        org=org,
        dataset="ndtms-episode",
        period=f"{2023 + i % 3}Q{1 + i % 4}",
        sha256=f"{i * 2654435761:064x}"[-64:],
        status="accepted" if rows > bad else "rejected",
        rows_total=rows,
        rows_accepted=rows - bad,
        rows_rejected=bad,
        findings=bad * 2,
        landing_key_id="k-0001",
    )


def details_of(ev: AuditEvent) -> str:
    """As ``record`` writes it; ``vars`` equals ``asdict`` for these flat events, and is faster."""
    return json.dumps(vars(ev), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def timestamps(start: int, count: int) -> list[str]:
    """``record``'s format, one entry every 37 seconds from now."""
    base = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    at = base + (np.arange(start, start + count, dtype=np.int64) * 37_000_123).astype(
        "timedelta64[us]"
    )
    return [s + "Z" for s in np.datetime_as_string(at, unit="us").tolist()]


def entries(first_seq: int, prev: str, count: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of chain entries continuing from ``prev``, as ``record`` would have made them."""
    seq = first_seq
    while count > 0:
        n = min(BATCH, count)
        batch = []
        for at in timestamps(seq, n):
            ev = event(seq)
            details = details_of(ev)
            digest = entry_hash(prev, canonical(seq, at, ACTOR, ev.action, ev.subject, details))
            batch.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": ACTOR,
                    "action": ev.action,
                    "subject": ev.subject,
                    "details": details,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev, seq = digest, seq + 1
        count -= n
        yield batch


def check_formula(engine: Engine, sample_from: int) -> int:
    """The bulk formula reproduces every entry ``record`` wrote (hash, link and details)."""
    checked, prev = 0, "0" * 64
    with engine.connect() as conn:
        for seq, at, actor, action, subject, details, prev_hash, stored in conn.execute(
            select(*CHAIN_COLUMNS).order_by(AuditEntry.seq)
        ):
            assert prev_hash == prev, f"entry {seq} does not link to the one before"
            own = entry_hash(prev_hash, canonical(seq, at, actor, action, subject, details))
            assert own == stored, f"bulk formula disagrees with record() at entry {seq}"
            if seq >= sample_from:
                assert details == details_of(event(seq)), f"details differ at entry {seq}"
            prev, checked = stored, checked + 1
    return checked


def build(root: Path, total: int, sample: int) -> tuple[Haven, dict[str, Any]]:
    haven = init_haven(Settings(haven=root / "haven"), actor=ACTOR)
    haven.add_organisation("P001", "treatment-service", "Benchmark provider", actor=ACTOR)
    engine = haven.engine
    with engine.connect() as conn:
        first = int(conn.execute(select(AuditHead.seq)).scalar_one()) + 1
    started = time.perf_counter()
    with haven.transaction() as session:
        for seq in range(first, first + sample):
            record(session, event(seq), actor=ACTOR)
    record_s = time.perf_counter() - started
    checked = check_formula(engine, first)

    started = time.perf_counter()
    with engine.begin() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash)).one()
        last_seq, last_hash = head.seq, head.hash
        for batch in entries(head.seq + 1, head.hash, total - head.seq):
            conn.execute(insert(AuditEntry.__table__), batch)
            last_seq, last_hash = batch[-1]["seq"], batch[-1]["hash"]
        conn.execute(
            update(AuditHead).where(AuditHead.id == 1).values(seq=last_seq, hash=last_hash)
        )
    bulk_s = time.perf_counter() - started
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    assert count == total, f"built {count} entries"
    return haven, {
        "record_sample": sample,
        "record_per_s": round(sample / record_s, 1),
        "formula_checked_entries": checked,
        "bulk_entries": total - head.seq,
        "bulk_seconds": round(bulk_s, 2),
        "db_mb": round(haven.paths.control_db.stat().st_size / 1e6, 1),
    }


def floor(engine: Engine, m: Measure) -> None:
    n = 0
    with timed(m.runs), engine.connect() as conn:
        rows = conn.execution_options(yield_per=20_000).execute(
            select(*CHAIN_COLUMNS).order_by(AuditEntry.seq)
        )
        for _row in rows:
            n += 1
    assert n == m.units


def raw_sqlite(db: Path, m: Measure) -> None:
    n = 0
    with timed(m.runs):
        con = sqlite3.connect(db)
        cur = con.execute(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash "
            "FROM audit_log ORDER BY seq"
        )
        while batch := cur.fetchmany(20_000):
            n += len(batch)
        con.close()
    assert n == m.units


def run_verify(engine: Engine, m: Measure, *, bad: int | None) -> None:
    with timed(m.runs):
        result = verify(engine)
    if bad is None:
        assert result.ok and result.entries == m.units, result
    else:
        assert not result.ok and result.first_bad == bad, result
    m.extra.update(result=ChainPublic.of(result).as_json())


def tamper(engine: Engine, seq: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        conn.execute(
            text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = :seq"), {"seq": seq}
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    total, mid = args.entries, args.entries // 2
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DATA_DIR, prefix="haven-audit-") as tmp:
        started = time.perf_counter()
        haven, built = build(Path(tmp), total, args.sample)
        built["build_seconds"] = round(time.perf_counter() - started, 2)
        engine = haven.engine
        try:
            m_floor = Measure("floor: same SELECT streamed (SQLAlchemy)", total)
            m_raw = Measure("bare sqlite3 SELECT (fetchmany)", total, note="context")
            m_ok = Measure("carehaven verify (intact chain)", total)
            m_bad = Measure(
                "carehaven verify (entry tampered)", mid, note=f"stops at entry {mid:,}"
            )
            for _ in range(args.repeat):
                for m, fn in (
                    (m_floor, lambda: floor(engine, m_floor)),
                    (m_raw, lambda: raw_sqlite(haven.paths.control_db, m_raw)),
                    (m_ok, lambda: run_verify(engine, m_ok, bad=None)),
                ):
                    gc.collect()
                    m.idle.append(settle(args.settle))
                    fn()
            tamper(engine, mid)
            for _ in range(args.repeat):
                gc.collect()
                m_bad.idle.append(settle(args.settle))
                run_verify(engine, m_bad, bad=mid)
        finally:
            haven.close()
    measures = [m_floor, m_raw, m_ok, m_bad]
    info["at_end"] = load_now()
    return {
        "machine": info,
        "chain": {"entries": total, **built},
        "repeat": args.repeat,
        "measures": [m.as_json() for m in measures],
        "ratios": {
            "verify_vs_floor_time": round(m_ok.best / m_floor.best, 3),
            "verify_vs_raw_sqlite_time": round(m_ok.best / m_raw.best, 3),
        },
        "_measures": measures,
    }


def show(out: dict[str, Any]) -> None:
    c = console()
    ch, r = out["chain"], out["ratios"]
    measures: list[Measure] = out["_measures"]
    c.print(machine_line(out["machine"]))
    c.print(
        f"chain: {ch['entries']:,} entries in SQLite ({ch['db_mb']:,} MB); "
        f"{ch['record_sample']:,} via record() at {ch['record_per_s']:,.0f}/s, "
        f"formula checked on {ch['formula_checked_entries']:,}; "
        f"{ch['bulk_entries']:,} bulk-inserted in {ch['bulk_seconds']:.1f} s; "
        f"best of {out['repeat']}"
    )
    c.print(measures_table("Audit chain verification", measures, "entries"))
    ok, bad = measures[2].extra["result"], measures[3].extra["result"]
    c.print(f"intact: ok={ok['ok']}, entries={ok['entries']:,}")
    c.print(f"tampered: ok={bad['ok']}, first_bad={bad['first_bad']:,}: {bad['reason']}")
    c.print(
        goals_table(
            "Ratios",
            [
                ("verify time ÷ floor time", "-", f"{r['verify_vs_floor_time']:.1f}x", None),
                ("verify time ÷ bare sqlite3", "-", f"{r['verify_vs_raw_sqlite_time']:.1f}x", None),
            ],
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=1000, help="entries appended by record()")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is shown")
    add_output_args(parser)
    args = parser.parse_args(argv)
    report(run(args), args, show)


if __name__ == "__main__":
    main()
