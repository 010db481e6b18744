"""Undoing what a step that died part-way left behind; run under the writer lock before writing.

A submission exists once its control-plane row is committed. Anything else with a submission id
(accepted rows in the data plane, a landed file, a report folder) that has no committed row is the
remains of a step that died, and is removed, so the haven is as it was before that step.

A step opens a journal (a file in the haven's tmp folder, synced) before it writes anything and
removes it once it has committed; only a haven with something in tmp/ needs the full sweep.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from carehaven.audit.chain import append
from carehaven.audit.events import RecoveryCompleted
from carehaven.data.rawsql import tables as data_tables
from carehaven.haven import Haven
from carehaven.specs import available, load_spec

JOURNAL = "step.journal"


@contextmanager
def journal(haven: Haven, step: str) -> Iterator[None]:
    """Mark a writing step as under way; left behind only if the step dies."""
    path = haven.paths.tmp / JOURNAL
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(step + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    yield
    path.unlink(missing_ok=True)


def recover(haven: Haven, con: Any, *, actor: str) -> RecoveryCompleted | None:
    """Remove the remains of a step that died; a no-op when the last step finished cleanly.

    ``con`` is the data plane's DuckDB connection, or an Ibis DuckDB backend over one."""
    if not any(haven.paths.tmp.iterdir()):
        return None
    known = {str(r[0]) for r in haven.rows.fetch("SELECT id FROM submissions")}
    orphans: set[str] = set()
    rows_removed = 0
    raw = getattr(con, "con", con)
    tables = data_tables(raw)
    for name in available():
        table = load_spec(name).table_name
        if table not in tables:
            continue
        # The table name comes from a shipped spec; the ids are bound, not pasted.
        ids = {
            str(r[0])
            for r in raw.execute(f'SELECT DISTINCT _submission_id FROM "{table}"').fetchall()  # noqa: S608
        }
        stray = sorted(ids - known)
        if stray:
            doomed = raw.execute(
                f'DELETE FROM "{table}" WHERE _submission_id IN (SELECT unnest($ids))',  # noqa: S608
                {"ids": stray},
            ).fetchone()
            rows_removed += int(doomed[0]) if doomed else 0
            orphans.update(stray)
    files = 0
    for path in haven.paths.landing.glob("*.bin"):
        if path.stem not in known:
            orphans.add(path.stem)
            files += _remove(path)
    for path in haven.paths.reports.iterdir():
        if path.is_dir() and path.name not in known:
            orphans.add(path.name)
            files += _remove(path)
    for path in haven.paths.tmp.iterdir():
        files += _remove(path)
    if not orphans and not files:
        return None
    event = RecoveryCompleted(
        orphan_submissions=len(orphans), data_rows_removed=rows_removed, files_removed=files
    )
    with haven.rows.transaction() as tx:
        append(tx, event, actor=actor)
    return event


def _remove(path: Path) -> int:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    return 1
