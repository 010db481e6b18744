"""serve: the web portal (uvicorn) and, unless told not to, the job worker beside it."""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import sys
from typing import Annotated

import typer

from carehaven.cli.app import app, settings_of
from carehaven.cli.output import err
from carehaven.errors import UsageError


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not start the job worker (run 'carehaven "
                           "worker' apart).")
    ] = False,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Listen on an address other than loopback: "
                           "only behind a reverse proxy that terminates TLS (docs/web.md).")
    ] = False,
) -> None:
    """Serve the web portal at http://HOST:PORT, with the job worker as a child process.

    Plain http on loopback is for one machine (development: the session cookie is then not
    Secure). Anywhere else TLS belongs to a reverse proxy in front (docs/web.md)."""
    if not _loopback(host) and not allow_remote:
        raise UsageError(f"{host} is not a loopback address; the portal speaks plain http, so "
                         "put a reverse proxy with TLS in front and pass --allow-remote.")
    import uvicorn

    from carehaven.web import create_app

    settings = settings_of(ctx)
    app_ = create_app(settings, development=_loopback(host) and not settings.trusted_proxy)
    worker = None
    if not no_worker:
        worker = subprocess.Popen(  # noqa: S603 (our own console entry point)
            [sys.executable, "-m", "carehaven", "--haven", str(settings.haven), "worker"])
    err.print(f"carehaven portal at http://{host}:{port}/ (Ctrl-C stops it"
              + (" and the worker)" if worker else ")"))
    # uvicorn stops on SIGTERM, then raises the signal again under the handler it found: the
    # default one would end this process before the finally below stops the worker.
    signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.run(app_, host=host, port=port, log_level="warning", proxy_headers=False,
                    server_header=False)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
