"""The web portal under load (issue 14 part 8): the server as deployed, many clients at once.

A haven with synthetic data (a submitter's organisation with several judged returns, each
with findings, and a publication of every defined table) is served by ``carehaven --haven H
serve --no-worker`` (one uvicorn process, as ``carehaven serve`` runs it). An async driver
(asyncio streams, one keep-alive HTTP/1.1 connection per client), in this process, runs N
concurrent clients against each page for a fixed time:

* baseline: a static file (``/static/carehaven.css``) served by the same server, measured in
  the same run, so that the figures can be read against what this machine and this driver
  can do at all;
* the public statistics page (``/statistics``, anonymous);
* a signed-in submitter's submissions list (``/submissions``; one session, shared by the
  clients);
* one submission's page with its validation report (``/submissions/<id>``).

Each client sends its next request when the last has been read whole (``--think 0``: a
closed loop, the server saturated), or after a pause drawn uniformly from 0 to twice
``--think`` seconds (people reading pages). Printed per case: requests, errors (a status
other than 200, or no answer within 30 s), req/s, p50/p95/p99 latency, and the ratios to the
baseline at the same concurrency. The goal: p95 under 100 ms at 200 concurrent for the public
page, with no errors.

    uv run python benchmarks/bench_web.py [--clients 50 200] [--think 0 1] [--duration 10] \
        [--submissions 8] [--settle 60] [--json] [--save FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from benchlib import add_output_args, console, goals_table, machine, machine_line, report, settle
from episodes import episodes_table, write_csv
from rich.table import Table

PASSWORD = "plum kettle orbit saffron"
ORG = "P001"
#: The environment of the server: bytecode cached and reused, as for an installed command.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BASELINE = "static file"


@dataclass
class Run:
    case: str
    clients: int
    think: float
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    #: What the errors were: an HTTP status, or the exception's name.
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "clients": self.clients, "think_s": self.think,
                "requests": len(self.latencies), "errors": self.errors, "error_kinds": self.kinds,
                "seconds": round(self.seconds, 2), "per_second": round(self.rate, 1),
                **{f"p{q}_ms": round(self.quantile(q) * 1000, 1) for q in (50, 95, 99)}}


# -- the haven ------------------------------------------------------------------------------


def build_haven(root: Path, submissions: int) -> str:
    """A haven holding ``submissions`` judged returns of P001 (one per quarter, a few rows in
    a hundred faulty, so each report has findings), a publication of every defined table,
    and the users sub (submitter, P001) and dt (data team). Returns a submission's id."""
    from carehaven.access.auth import hash_password
    from carehaven.access.users import add_user
    from carehaven.collection.submit import submit
    from carehaven.config import Settings
    from carehaven.haven import init_haven

    haven = init_haven(Settings.load(haven=root), actor="bench")
    try:
        haven.add_organisation(ORG, "treatment-service", "Riverside Recovery", actor="bench")
        hashed = hash_password(PASSWORD)
        add_user(haven, "dt", "DT", None, roles=["data-team"], actor="bench",
                 password_hash=hashed)
        add_user(haven, "sub", "SUB", ORG, roles=["submitter"], actor="user:dt",
                 password_hash=hashed)
        shown = ""
        for i in range(submissions):
            year, q = 2024 + i // 4, i % 4 + 1
            period = f"{year}Q{q}"
            path = root.parent / f"returns-{period}.csv"
            write_csv(episodes_table(1000, seed=700 + i, org=ORG, period=period,
                                     invalid_rate=0.02), path)
            result = submit(haven, path, dataset="ndtms-episode", org=ORG, period=period,
                            actor="user:sub")
            shown = result.submission_id or shown
        _publications(haven, root.parent / "published")
        return shown
    finally:
        haven.close()


def _publications(haven: Any, folder: Path) -> None:
    """A publication row for every defined table over a folder holding its CSV (a row per
    local authority and category, some suppressed) and a spreadsheet, as ``publish`` leaves
    them: the statistics page reads these and nothing of the data plane."""
    from carehaven import clock
    from carehaven.control.models import Publication
    from carehaven.publish.definitions import definitions

    rng = random.Random(14)
    las = [f"E0{rng.randrange(6, 10)}{rng.randrange(0, 10**6):06d}" for _ in range(30)]
    for number, name in enumerate(sorted(definitions())):
        where = folder / name
        where.mkdir(parents=True)
        rows = ["local_authority,category,count"]
        cells: list[list[object]] = []
        for la in las:
            for category in ("opiates", "alcohol", "non-opiates", "cannabis", "other"):
                count = rng.randrange(0, 400)
                hidden = count < 10
                rows.append(f"{la},{category},{'[c]' if hidden else count}")
                cells.append([f"{la}/{category}", hidden, None if hidden else count])
        (where / f"{name}.csv").write_text("\n".join(rows) + "\n")
        (where / f"{name}.xlsx").write_bytes(b"PK\x03\x04 a workbook stands here")
        with haven.transaction() as session:
            session.add(Publication(
                name=name, period="2025Q2", link_run=number + 1, cells=len(cells),
                suppressed_primary=sum(1 for c in cells if c[1]), suppressed_secondary=0,
                statuses=json.dumps({"parts": {"period": cells}}), directory=str(where),
                csv_sha256="0" * 64, created_at=clock.now(), created_by="bench"))


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "carehaven", "--haven", str(root), "serve", "--no-worker",
         "--port", str(port)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server stopped: "
                             + (server.stderr.read().decode() if server.stderr else ""))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/static/carehaven.css").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer within 60 s")


def signed_in_cookies(base: str, username: str) -> dict[str, str]:
    with httpx.Client(base_url=base) as client:
        answer = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                               "next": "/"})
        if answer.status_code != 303:
            raise SystemExit(f"signing {username} in failed: {answer.status_code}")
        return dict(client.cookies.items())


# -- the driver -----------------------------------------------------------------------------


class Connection:
    """One client's keep-alive HTTP/1.1 connection: a GET, its status and its body read whole.
    Plain asyncio streams: httpx's connection pool, not the server, was the limit at 200
    concurrent clients (under 100 req/s for a static file that asyncio streams fetch at
    about 1,000 req/s on this machine)."""

    def __init__(self, port: int, cookies: dict[str, str]) -> None:
        self.port = port
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, int]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        cookie = f"Cookie: {self.cookie}\r\n" if self.cookie else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{cookie}\r\n"
                     .encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":")
                                                              for h in head[1:] if h)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            size = 0
            while (chunk := int((await reader.readuntil(b"\r\n")).strip(), 16)):
                size += len(await reader.readexactly(chunk + 2)) - 2
            await reader.readuntil(b"\r\n")
        else:
            size = len(await reader.readexactly(int(fields.get("content-length", "0"))))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, size

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def drive(port: int, path: str, cookies: dict[str, str], run: Run, duration: float,
                warmup: float) -> None:
    """``run.clients`` clients, each in a loop, for ``warmup`` (not counted) + ``duration``."""
    start = time.perf_counter()
    counting_from, until = start + warmup, start + warmup + duration

    async def one(seed: int) -> None:
        rng = random.Random(seed)
        connection = Connection(port, cookies)
        if run.think:  # spread the first requests out as people arrive
            await asyncio.sleep(rng.uniform(0, 2 * run.think))
        while (now := time.perf_counter()) < until:
            kind = ""
            try:
                status, size = await asyncio.wait_for(connection.get(path), 30.0)
                if status != 200 or not size:
                    kind = str(status)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                kind = type(exc).__name__
                await connection.close()
            done = time.perf_counter()
            if now >= counting_from:
                run.latencies.append(done - now)
                if kind:
                    run.errors += 1
                    run.kinds[kind] = run.kinds.get(kind, 0) + 1
            if run.think:
                await asyncio.sleep(rng.uniform(0, 2 * run.think))
        await connection.close()

    await asyncio.gather(*(one(i) for i in range(run.clients)))
    run.seconds = max(time.perf_counter(), until) - counting_from


def measure(args: argparse.Namespace) -> dict[str, Any]:
    m = machine()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        root = Path(folder) / "haven"
        t0 = time.perf_counter()
        report_id = build_haven(root, args.submissions)
        built = time.perf_counter() - t0
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = serve(root, port)
        try:
            cookies = signed_in_cookies(base, "sub")
            cases = [(BASELINE, "/static/carehaven.css", {}),
                     ("public statistics page", "/statistics", {}),
                     ("submitter's submissions list", "/submissions", cookies),
                     ("one report page", f"/submissions/{report_id}", cookies)]
            runs: list[Run] = []
            for think in args.think:
                for clients in args.clients:
                    for case, path, jar in cases:
                        idle = settle(args.settle)
                        run = Run(case, clients, think)
                        asyncio.run(drive(port, path, jar, run, args.duration, args.warmup))
                        runs.append(run)
                        if not args.json:
                            console().print(
                                f"think {think:g} s, {clients} clients, {case}: "
                                f"{len(run.latencies)} requests, {run.errors} errors "
                                f"{run.kinds or ''}, "
                                f"{run.rate:.0f}/s, p95 {run.quantile(95) * 1000:.0f} ms"
                                + (f" (CPU idle before: {idle:.0%})" if idle is not None
                                   else ""))
        finally:
            server.terminate()
            server.wait(timeout=30)
    out: dict[str, Any] = {"machine": m, "haven_built_s": round(built, 1),
                           "submissions": args.submissions, "duration_s": args.duration,
                           "runs": [r.as_json() for r in runs], "_measures": runs}
    out["ratios"] = _ratios(runs)
    return out


def _ratios(runs: list[Run]) -> list[dict[str, Any]]:
    base = {(r.clients, r.think): r for r in runs if r.case == BASELINE}
    out = []
    for r in runs:
        b = base[(r.clients, r.think)]
        out.append({"case": r.case, "clients": r.clients, "think_s": r.think,
                    "p50_x": round(r.quantile(50) / b.quantile(50), 1),
                    "p95_x": round(r.quantile(95) / b.quantile(95), 1),
                    "rate_x": round(r.rate / b.rate, 2) if b.rate else None})
    return out


def show(out: dict[str, Any]) -> None:
    c = console()
    c.print(machine_line(out["machine"]))
    c.print(f"haven: {out['submissions']} submissions of 1,000 rows, 7 publications "
            f"(built in {out['haven_built_s']} s); {out['duration_s']} s per case")
    ratios = {(x["case"], x["clients"], x["think_s"]): x for x in out["ratios"]}
    table = Table(title="the portal under load (latency in ms; x = ÷ the static file's)")
    for col in ("think", "clients", "case", "requests", "errors", "req/s", "p50", "p95",
                "p99", "p50 x", "p95 x", "req/s x"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in out["runs"]:
        x = ratios[(r["case"], r["clients"], r["think_s"])]
        table.add_row(f"{r['think_s']:g} s", str(r["clients"]), r["case"], str(r["requests"]),
                      str(r["errors"]), f"{r['per_second']:.0f}", f"{r['p50_ms']:.0f}",
                      f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}", f"{x['p50_x']:.1f}",
                      f"{x['p95_x']:.1f}", f"{x['rate_x']:.2f}")
    c.print(table)
    goals = []
    for r in out["runs"]:
        if r["case"] == "public statistics page" and r["clients"] == 200:
            met = r["p95_ms"] < 100 and r["errors"] == 0
            goals.append((f"public page, 200 clients, think {r['think_s']:g} s",
                          "p95 < 100 ms, no errors",
                          f"p95 {r['p95_ms']:.0f} ms, {r['errors']} errors", met))
    c.print(goals_table("goal", goals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--think", type=float, nargs="+", default=[0.0, 1.0],
                        help="mean pause between a client's requests, seconds (0: none)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not counted")
    parser.add_argument("--submissions", type=int, default=8)
    add_output_args(parser)
    args = parser.parse_args()
    report(measure(args), args, show)


if __name__ == "__main__":
    main()
