"""carehaven serve (issue 14 part 7): the portal answers over real http from a child process,
and a non-loopback address is refused without --allow-remote."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from carehaven.config import Settings
from carehaven.haven import init_haven
from tests.people import Cli


def test_a_remote_address_needs_allow_remote(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    init_haven(Settings.load(haven=tmp_path / "h"), actor="test").close()
    code, _out, err = Cli(tmp_path / "h", capsys, monkeypatch)(None, "serve", "--host",
                                                               "0.0.0.0")
    assert code == 2 and "reverse proxy" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_over_http(tmp_path: Path) -> None:
    root = tmp_path / "h"
    init_haven(Settings.load(haven=root), actor="test").close()
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-m", "carehaven", "--haven", str(root), "serve",
                              "--port", str(port), "--no-worker"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as answer:
                    body = answer.read().decode()
                    headers = answer.headers
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise
                time.sleep(0.3)
        assert "carehaven" in body and "Sign in" in body
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "server" not in {k.lower() for k in headers}
    finally:
        child.terminate()
        child.wait(timeout=30)
