"""The worker: runs queued jobs one at a time per haven, until told to stop."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

from carehaven.config import Settings
from carehaven.jobs.public import JobPublic


def describe(job: JobPublic) -> str:
    """One line about a job that ended: id, outcome (or failed), submission, sentence."""
    what = job.outcome or job.state
    sub = f" {job.submission_id}" if job.submission_id else ""
    return f"{job.job_id} {what}{sub}: {job.message}"


def work(
    settings: Settings,
    *,
    once: bool = False,
    poll_s: float = 1.0,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run the haven's jobs as they are queued, one at a time, each under the writer lock;
    returns how many it ran. ``once``: run what waits, then return when nothing does.
    ``stop`` set: return after the current job. ``progress`` hears one line per job.

    On start it deletes uploads whose job ended (a worker killed between recording a job's
    end and deleting its file leaves one); a job left running is recovered by ``run_next``.
    """
    from carehaven.haven import open_haven
    from carehaven.haven.lock import HavenBusyError
    from carehaven.jobs.queue import finished_uploads, run_next
    from carehaven.jobs.uploads import discard

    halt = stop or threading.Event()
    say = progress or (lambda _line: None)
    name = f"{socket.gethostname()}:{os.getpid()}"
    haven = open_haven(settings)
    ran = 0
    try:
        for upload in finished_uploads(haven):
            discard(haven, upload)
        while not halt.is_set():
            try:
                ended = run_next(haven, worker=name)
            except HavenBusyError:  # another writer (a command-line submit): wait for it
                ended = None
                if once:
                    halt.wait(poll_s)
                    continue
            if ended is not None:
                ran += 1
                say(describe(ended))
                continue
            if once:
                break
            halt.wait(poll_s)
    finally:
        haven.close()
    return ran
