"""A crash or kill at any point leaves the haven as before the submit, or fully after it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from carehaven.audit import verify
from carehaven.config import Settings
from carehaven.control.models import Submission
from carehaven.data import connect
from carehaven.haven import open_haven
from tests.helpers import episodes_file

pytestmark = pytest.mark.slow

POINTS_BEFORE_COMMIT = ["landed", "validated", "reported", "accepted"]


def _run_submit(root: Path, file: Path, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CAREHAVEN_HAVEN": str(root), "CAREHAVEN_ENVIRONMENT": "development"}
    env.pop("CAREHAVEN_FAULT_POINT", None)
    if fault:
        env["CAREHAVEN_FAULT_POINT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "carehaven", "submit", str(file), "--dataset", "ndtms-episode",
         "--org", "P001", "--period", "2025Q2", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _state(root: Path) -> dict[str, object]:
    """What the haven holds, as seen by a reader (no recovery runs)."""
    haven = open_haven(Settings.load(haven=root))
    try:
        with haven.sessions() as s:
            subs = {x.id: x.rows_accepted for x in s.scalars(select(Submission))}
        result = verify(haven.engine)
        return {"submissions": subs, "audit_ok": result.ok, "entries": result.entries}
    finally:
        haven.close()


def _assert_consistent(root: Path) -> None:
    """Every trace of a submission belongs to a committed one, with all its rows."""
    haven = open_haven(Settings.load(haven=root))
    try:
        with haven.sessions() as s:
            subs = {x.id: x for x in s.scalars(select(Submission))}
        assert {p.stem for p in haven.paths.landing.glob("*.bin")} == set(subs)
        assert {p.name for p in haven.paths.reports.iterdir()} == set(subs)
        con = connect(haven.paths.data_db)
        try:
            if "ndtms_episode" in con.list_tables():
                t = con.table("ndtms_episode")
                per = t.group_by("_submission_id").aggregate(n=t.count()).to_pyarrow()
                counts = dict(zip(per["_submission_id"].to_pylist(), per["n"].to_pylist(),
                                  strict=True))
            else:
                counts = {}
        finally:
            con.disconnect()
        assert counts == {k: v.rows_accepted for k, v in subs.items() if v.rows_accepted}
        assert verify(haven.engine).ok
    finally:
        haven.close()


@pytest.fixture
def prepared(haven, tmp_path):
    file = tmp_path / "P001_2025Q2.csv"
    file.write_bytes(episodes_file(300))
    root = haven.paths.root
    haven.close()
    return root, file


@pytest.mark.parametrize("point", POINTS_BEFORE_COMMIT)
def test_a_crash_before_commit_leaves_the_haven_as_before(prepared, point):
    root, file = prepared
    before = _state(root)
    proc = _run_submit(root, file, fault=point)
    proc.communicate(timeout=120)
    assert proc.returncode == 137
    assert _state(root) == before  # nothing committed, chain intact
    # The next write recovers the remains of the dead step, then does its own work whole.
    again = _run_submit(root, file)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert b'"status": "accepted"' in out
    _assert_consistent(root)
    state = _state(root)
    assert len(state["submissions"]) == 1  # type: ignore[arg-type]


def test_a_crash_after_commit_leaves_the_haven_fully_after(prepared):
    root, file = prepared
    proc = _run_submit(root, file, fault="committed")
    proc.communicate(timeout=120)
    assert proc.returncode == 137
    _assert_consistent(root)
    assert list(_state(root)["submissions"].values()) == [300]  # type: ignore[union-attr]


def test_random_kills_never_leave_a_half_applied_submit(haven, tmp_path):
    """SIGKILL at random moments of a larger submit; after each, the haven is consistent."""
    root = haven.paths.root
    haven.close()
    rng = random.Random(20261121)
    for attempt in range(4):
        file = tmp_path / f"P001_2025Q2_{attempt}.csv"
        file.write_bytes(episodes_file(20_000 + attempt))
        proc = _run_submit(root, file)
        time.sleep(rng.uniform(0.3, 3.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
        state = _state(root)
        assert state["audit_ok"]
        # Recovery by the next writer, then the haven holds only whole submissions.
        follow = _run_submit(root, file)
        _out, err = follow.communicate(timeout=120)
        assert follow.returncode == 0, err.decode()
        _assert_consistent(root)
