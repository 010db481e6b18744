"""The command line starts without the data engines (issue 13 item 8)."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_line_starts_without_the_engines():
    """Importing the CLI (every command registered) loads none of the data engines, Alembic
    or the ORM: they cost most of a command's start-up, so only the commands using them import
    them (issue 13 item 8)."""
    heavy = ("ibis", "duckdb", "pyarrow", "pandas", "numpy", "alembic", "sqlalchemy",
             "splink", "sqlglot", "jinja2", "cedarpy", "cryptography", "argon2")
    code = ("import sys, carehaven.cli.app; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
