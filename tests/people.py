"""Acting as a registered user from a test, through the door a user uses (the CLI).

Every test that runs a command as a user takes its environment from ``user_env``, so that how a
person proves who they are (issue 12: a password or a personal token) is decided in one place.
"""

from __future__ import annotations

from pathlib import Path


def user_env(haven_dir: Path, username: str) -> dict[str, str]:
    """The environment a CLI call needs to act as ``username`` in the haven at ``haven_dir``."""
    return {"CAREHAVEN_USER": username}
