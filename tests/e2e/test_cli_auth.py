"""Proving who you are on a real terminal (issue 12, item 13): the password prompt, driven in a
pseudo-terminal as a person types; and no password or token secret anywhere after creation."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import run

pytestmark = pytest.mark.slow

PW = "a long first password"
PW2 = "another long password"
ASK = "carehaven password for a.khan:"  # the prompt, as the terminal shows it


def in_terminal(
    *args: str, env: dict[str, str] | None = None, answers: tuple[tuple[str, str], ...] = (),
    timeout: float = 240,
) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal, answering each prompt
    (in order) as it appears: (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout, stderr and /dev/tty
        try:
            os.execve(sys.executable, [sys.executable, "-m", "carehaven", *args],
                      {**os.environ, "COLUMNS": "200", **(env or {})})
        finally:
            os._exit(127)
    shown, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if pending and (at := shown.find(pending[0][0].encode(), seen)) >= 0:
                seen = at + len(pending[0][0])
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        else:
            os.kill(pid, 9)
            pytest.fail(f"no end in {timeout}s: {shown.decode(errors='replace')}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert not pending, f"never asked {pending[0][0]!r}: {shown.decode(errors='replace')}"
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_a_person_types_their_password_on_a_terminal(tmp_path: Path) -> None:
    haven = tmp_path / "haven"
    h = ["--haven", str(haven)]
    outputs: list[str] = []
    assert run(*h, "init").returncode == 0
    code, shown = in_terminal(
        *h, "users", "add", "a.khan", "--name", "Asha Khan", "--role", "data-team",
        "--password-prompt",
        answers=(("New " + ASK, PW), ("The same password again:", PW)),
    )
    assert code == 0, shown
    outputs.append(shown)
    second = run(*h, "users", "add", "b.lee", "--name", "Ben Lee", "--role", "data-team",
                 "--token-out", str(tmp_path / "b.lee.token"))  # the second founder
    assert second.returncode == 0 and "single-operator mode is over" in second.stderr
    me = {"CAREHAVEN_USER": "a.khan"}
    code, shown = in_terminal(*h, "orgs", "list", env=me, answers=((ASK, PW),))
    assert code == 0, shown
    outputs.append(shown)
    code, shown = in_terminal(*h, "orgs", "list", env=me,
                              answers=((ASK, "not the password"),))
    assert code == 13 and "Authentication failed for a.khan" in shown
    outputs.append(shown)
    # The same command in a script (no terminal) is refused with how to authenticate.
    script = run(*h, "orgs", "list", env=me)
    assert script.returncode == 13 and "auth token create" in script.stderr
    outputs += [script.stdout, script.stderr]

    code, shown = in_terminal(*h, "auth", "token", "create", "--label", "laptop", env=me,
                              answers=((ASK, PW),))
    assert code == 0 and "Keep it secret" in shown, shown
    (token,) = re.findall(r"chv1\.tk-[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", shown)
    secret = token.rsplit(".", 1)[1]
    with_token = {"CAREHAVEN_TOKEN": token}
    nopipe = run(*h, "auth", "password", env=with_token)  # a password is never read from a pipe
    assert nopipe.returncode == 2 and "terminal" in nopipe.stderr
    outputs += [nopipe.stdout, nopipe.stderr]
    code, shown = in_terminal(*h, "auth", "password", env=with_token, answers=(
        ("Current " + ASK, PW), ("New " + ASK, PW2),
        ("The same password again:", PW2)))
    assert code == 0, shown
    outputs.append(shown)
    code, shown = in_terminal(*h, "orgs", "list", env=me, answers=((ASK, PW),))
    assert code == 13, shown  # the old password no longer works
    outputs.append(shown)
    code, shown = in_terminal(*h, "auth", "whoami", env=me,
                              answers=((ASK, PW2),))
    assert code == 0 and "user:a.khan (password)" in shown, shown
    outputs.append(shown)

    listed = run(*h, "auth", "token", "list", "--json", env=with_token)
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["label"] == "laptop"
    log = run(*h, "audit", "show", "--limit", "100", "--json", env=with_token)
    actions = [e["action"] for e in json.loads(log.stdout)]
    assert actions.count("password.set") == 1 and actions.count("token.issued") == 2
    assert actions.count("access.denied") == 3
    outputs += [listed.stdout, listed.stderr, log.stdout, log.stderr]

    # Neither password nor the token's secret is anywhere: not echoed, not in any output after
    # the token was shown, not in the control database, the audit log or any file of the haven.
    for text in outputs:
        assert PW not in text and PW2 not in text and secret not in text
    for path in haven.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PW.encode() not in data and PW2.encode() not in data, path
            assert secret.encode() not in data and token.encode() not in data, path
    with sqlite3.connect(haven / "control.sqlite") as db:
        hashes = [r[0] for r in db.execute("SELECT password_hash FROM users WHERE "
                                           "password_hash IS NOT NULL UNION ALL "
                                           "SELECT secret_hash FROM access_tokens")]
    assert len(hashes) == 3 and all(x.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
                                    for x in hashes)
