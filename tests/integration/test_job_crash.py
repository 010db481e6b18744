"""A worker killed at any moment of a job leaves no half-applied submission: the next worker
recovers what submit left, runs the job again (3 attempts in all) and links its submission."""

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

from carehaven.access.users import acting_user
from carehaven.config import Settings
from carehaven.control.models import Job, Submission
from carehaven.haven import Haven, open_haven
from carehaven.jobs.queue import enqueue_submission
from carehaven.jobs.uploads import receiving
from tests.helpers import episodes_file
from tests.integration.test_crash_safety import _assert_consistent

pytestmark = pytest.mark.slow

ROWS = 2000
#: Where a worker can die: before submit, inside it before its commit, and after its commit
#: with the job not yet marked done (``job-submitted``, once submit has returned, leaves the
#: haven in that same state, so it is not run separately: each case costs two processes).
POINTS = ["job-started", "accepted", "committed"]


def _worker(root: Path, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CAREHAVEN_ENVIRONMENT": "development"}
    env.pop("CAREHAVEN_FAULT_POINT", None)
    if fault:
        env["CAREHAVEN_FAULT_POINT"] = fault
    return subprocess.Popen([sys.executable, "-m", "carehaven", "--haven", str(root), "worker",
                             "--once", "--poll", "0.1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _queued(haven: Haven, rows: int = ROWS) -> tuple[Path, str]:
    owner = acting_user(haven, environ={"USER": "owner"})
    with receiving(haven) as sink:
        sink.write(episodes_file(rows))
        up = sink.finish()
    job = enqueue_submission(haven, up, file_name="P001_2025Q2.csv", org="P001",
                             dataset="ndtms-episode", period="2025Q2", actor=owner)
    root = haven.paths.root
    haven.close()
    return root, job.job_id


def _ended(root: Path, job_id: str) -> tuple[Job, dict[str, int]]:
    """The job, and every submission's accepted rows, once the haven is consistent."""
    _assert_consistent(root)  # every trace belongs to a whole submission
    haven = open_haven(Settings.load(haven=root))
    try:
        with haven.sessions() as s:
            job = s.get(Job, job_id)
            assert job is not None
            s.expunge(job)
            subs = {x.id: x.rows_accepted for x in s.scalars(select(Submission))}
        assert list(haven.paths.uploads.iterdir()) == []  # the upload went with the job
        return job, subs
    finally:
        haven.close()


@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_at_any_step_is_recovered_and_the_job_done_once(haven, point):
    root, job_id = _queued(haven)
    dead = _worker(root, fault=point)
    dead.communicate(timeout=120)
    assert dead.returncode == 137
    again = _worker(root)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    job, subs = _ended(root, job_id)
    assert (job.state, job.attempts, job.outcome) == ("done", 2, "accepted")
    assert subs == {job.submission_id: ROWS}  # one whole submission, linked
    assert out.decode().startswith(f"{job_id} accepted {job.submission_id}:")


def test_a_job_whose_worker_dies_three_times_fails_whole(haven):
    root, job_id = _queued(haven, rows=200)
    dead = _worker(root, fault="validated")
    dead.communicate(timeout=120)
    assert dead.returncode == 137
    h = open_haven(Settings.load(haven=root))
    try:  # as if two workers had died under it before this one
        with h.transaction() as s:
            found = s.get(Job, job_id)
            assert found is not None and found.attempts == 1
            found.attempts = 3
    finally:
        h.close()
    last = _worker(root)
    out, err = last.communicate(timeout=120)
    assert last.returncode == 0, err.decode()
    job, subs = _ended(root, job_id)
    assert (job.state, job.attempts, job.submission_id) == ("failed", 3, None)
    assert "stopped 3 times" in job.message and subs == {}
    assert f"{job_id} failed:" in out.decode()


def test_sigkill_at_random_moments_never_half_applies_a_job(haven):
    root, job_id = _queued(haven, rows=10_000)
    rng = random.Random(20261204)
    for _ in range(2):  # the orphans a kill leaves are the next writer's to remove
        proc = _worker(root)
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
    final = _worker(root)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    job, subs = _ended(root, job_id)
    if job.state == "done":
        assert job.outcome == "accepted" and subs == {job.submission_id: 10_000}
    else:  # killed three times before it finished
        assert job.state == "failed" and subs == {}


def test_sigterm_stops_the_worker_after_the_current_job_exit_0(haven):
    root, job_id = _queued(haven, rows=5000)
    env = {**os.environ, "CAREHAVEN_ENVIRONMENT": "development"}
    env.pop("CAREHAVEN_FAULT_POINT", None)
    proc = subprocess.Popen([sys.executable, "-m", "carehaven", "--haven", str(root), "worker",
                             "--poll", "0.1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it has taken the job
        h = open_haven(Settings.load(haven=root))
        try:
            state = h.rows.first("SELECT state FROM jobs WHERE id = :j", {"j": job_id})
        finally:
            h.close()
        if state and state[0] != "queued":
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    job, subs = _ended(root, job_id)
    assert job.state == "done" and subs == {job.submission_id: 5000}
    assert out.decode().startswith(f"{job_id} accepted")
