"""worker, jobs: the one writer that submits the portal's uploads, and the queue's listing."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, app, open_as, settings_of
from carehaven.cli.output import emit_json, table


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run the jobs waiting now, then exit.")
                    ] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.05, metavar="SECONDS",
                                        help="How often to look for new jobs.")] = 1.0,
) -> None:
    """Submit the files the web portal queued, one at a time under the haven's writer lock,
    printing a line per job (its id and outcome). Run it as the haven's owner, beside 'serve'.
    A job a killed worker left part-way is recovered and run again (3 attempts). SIGTERM or
    Ctrl-C stops it after the current job, exit 0 (docs/design/0016-one-writer-jobs.md)."""
    from carehaven.jobs.worker import work

    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        work(settings_of(ctx), once=once, poll_s=poll, stop=stop, progress=_line)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # a supervisor's log sees each job as it ends


@app.command("jobs")
def jobs_listing(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    json: JsonFlag = False,
) -> None:
    """List the portal's queued files, newest first: those of the organisations whose
    submissions you may read, with where each stands and what came of it."""
    from carehaven.jobs.queue import jobs

    haven, who = open_as(ctx, None)
    found = jobs(haven, who, org=org, limit=limit)
    if json:
        emit_json([j.model_dump(mode="json") for j in found])
        return
    table("Jobs", ["Job", "Org", "Dataset", "Period", "State", "Outcome", "Submission",
                   "Queued"],
          [[j.job_id, j.org, j.dataset, j.period, j.state, j.outcome or "",
            j.submission_id or "", j.created_at.isoformat(timespec="seconds")] for j in found])
