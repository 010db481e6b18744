"""Acting as a registered user from a test, through the door a user uses (the CLI).

Every test that runs a command as a user takes its environment from ``user_env``, so that how a
person proves who they are is decided in one place: a personal token (docs/access.md), issued
in-process once per haven and user and presented as ``CAREHAVEN_TOKEN``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from carehaven.access.auth import TOKEN_ENV, issue_token
from carehaven.access.users import Actor
from carehaven.config import Settings
from carehaven.haven import Haven, open_haven

#: For tests about something other than argon2's cost (set as ``auth.HASHER``): hashes it makes
#: verify in well under a millisecond. tests/unit/test_auth.py checks the real parameters.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

_TOKENS: dict[tuple[Path, str], str] = {}


def token_for(haven_dir: Path, username: str) -> str:
    """A personal token for ``username`` in the haven at ``haven_dir`` (made on first use)."""
    key = (haven_dir.resolve(), username)
    if key not in _TOKENS:
        haven = open_haven(Settings.load(haven=haven_dir))
        try:
            _TOKENS[key] = issue_token(haven, username, actor="test", label="tests").token
        finally:
            haven.close()
    return _TOKENS[key]


def user_env(haven_dir: Path, username: str) -> dict[str, str]:
    """The environment a CLI call needs to act as ``username`` in the haven at ``haven_dir``."""
    return {TOKEN_ENV: token_for(haven_dir, username)}


def demo_env(haven_dir: Path) -> dict[str, str]:
    """The environment that acts as the demo's operator, from the token file the demo leaves
    for whoever ran it (the line sourcing the file would export)."""
    text = (haven_dir / "demo-tokens.env").read_text()
    (line,) = [x for x in text.splitlines() if x.startswith(f"export {TOKEN_ENV}=")]
    return {TOKEN_ENV: line.split("=", 1)[1]}


def actor(haven: Haven, username: str) -> Actor:
    """``username`` as the domain functions receive them once authenticated (a token)."""
    from carehaven.access.users import acting_user

    return acting_user(haven, environ={TOKEN_ENV: token_for(haven.paths.root, username)})


class Cli:
    """The command line's entry point in this process, as a user: (exit code, stdout,
    stderr). Many times faster than a child process, for tests that run many commands; a
    few tests still run the real console script (tests/e2e/test_cli.py::run)."""

    def __init__(self, haven: Path, capsys: Any, monkeypatch: Any) -> None:
        self.haven, self.capsys, self.monkeypatch = haven, capsys, monkeypatch

    def __call__(self, user: str | None, *args: str, env: dict[str, str] | None = None
                 ) -> tuple[int, str, str]:
        from carehaven.cli import main

        with self.monkeypatch.context() as m:
            for key in ("CAREHAVEN_USER", TOKEN_ENV):
                m.delenv(key, raising=False)
            for key, value in {**(user_env(self.haven, user) if user else {}),
                               **(env or {})}.items():
                m.setenv(key, value)
            self.capsys.readouterr()
            code = main(["--haven", str(self.haven), *args])
            out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, user: str, *args: str) -> Any:
        """Run with --json, insist on exit 0, return the JSON."""
        code, out, err = self(user, *args, "--json")
        assert code == 0, err + out
        return json.loads(out)
