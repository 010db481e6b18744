"""The command line starts without the data engines (issue 13 item 8)."""

from __future__ import annotations

import ast
import subprocess
import sys


def test_the_command_line_starts_without_the_engines():
    """Importing the CLI (every command registered) loads none of the data engines, Alembic,
    the ORM or pydantic: they cost most of a command's start-up, so only the commands using
    them import them, and ``--help`` stays within twice ``import typer, rich`` (issue 13
    item 8; benchmarks/bench_cli.py)."""
    heavy = ("ibis", "duckdb", "pyarrow", "pandas", "numpy", "alembic", "sqlalchemy",
             "splink", "sqlglot", "jinja2", "cedarpy", "cryptography", "argon2",
             # and what --help never needs: the settings, the specs'
             # models (pydantic), progress bars and tables
             "pydantic", "carehaven.config", "carehaven.specs",
             "rich.progress", "rich.table")
    code = ("import sys, carehaven.cli.app; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_listing_submissions_opens_the_haven_without_alembic_or_the_engines(tmp_path):
    """Opening an up-to-date haven is one version query (``db.HEAD``), not Alembic; a listing
    needs neither the data engines nor the settings' heavier kin."""
    from carehaven.config import Settings
    from carehaven.haven import init_haven

    init_haven(Settings.load(haven=tmp_path / "haven"), actor="test").close()
    heavy = ("ibis", "duckdb", "pyarrow", "pandas", "alembic", "sqlglot", "jinja2", "cedarpy",
             "splink")
    code = ("import sys, io, contextlib\nfrom carehaven.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    code = main(['--haven', {str(tmp_path / 'haven')!r}, 'submissions', '--json'])\n"
            f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "0 []", done.stderr


def _loaded_after(argv: list[str], heavy: tuple[str, ...], env: dict[str, str] | None = None
                  ) -> tuple[int, list[str]]:
    code = ("import sys, io, contextlib\nfrom carehaven.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    code = main({argv!r})\n"
            f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))")
    import os

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60, env={**os.environ, **(env or {})})
    status, _, loaded = done.stdout.strip().partition(" ")
    return int(status), ast.literal_eval(loaded)


#: What a read-only command on the embedded control plane never needs (ADR 0015).
CONTROL_PLANE_HEAVY = ("sqlalchemy", "alembic", "pydantic", "cryptography",
                       "carehaven.control.models", "carehaven.audit.chain", "ibis", "duckdb")


def test_read_only_commands_start_without_sqlalchemy(tmp_path):
    """Opening the haven, finding who acts and listing organisations or submissions is plain
    SQL on the SQLite control plane (control.rows): neither SQLAlchemy and the ORM models nor
    the signing library is imported (issue 13 item 8, ADR 0015), nor pydantic for a table."""
    from carehaven.config import Settings
    from carehaven.haven import init_haven

    haven = init_haven(Settings.load(haven=tmp_path / "haven"), actor="test")
    haven.add_organisation("P001", "treatment-service", "P one", actor="test")
    haven.close()
    root = str(tmp_path / "haven")
    for argv in (["orgs", "list"], ["orgs", "list", "--json"], ["submissions"]):
        assert _loaded_after(["--haven", root, *argv], CONTROL_PLANE_HEAVY) == (0, []), argv
    # The JSON of a submission is its Public model, the web API's contract: pydantic, but no
    # more than that (issue 14 part 0, ADR 0017).
    argv = ["--haven", root, "submissions", "--json", "--org", "P001"]
    assert _loaded_after(argv, CONTROL_PLANE_HEAVY) == (0, ["pydantic"])


def test_each_command_runs_as_it_does_in_the_whole_app(capsys):
    """``main`` builds only the command a command line names (``app._for``); its help, and
    so its options, must be the whole app's for every command and group."""
    from typer.main import get_command

    from carehaven.cli.app import _for, app

    whole = get_command(app)
    names = sorted(whole.commands)  # type: ignore[attr-defined]
    assert len(names) > 10
    for name in names:
        slim = _for(["--haven", "/nowhere", name, "--help"])
        assert slim is not app, name
        assert list(get_command(slim).commands) == [name]  # type: ignore[attr-defined]
        outputs = []
        for which in (app, slim):
            code = which(args=[name, "--help"], prog_name="carehaven", standalone_mode=False)
            outputs.append((code, capsys.readouterr().out))
        assert outputs[0] == outputs[1], name
    for args in (["--help"], ["nosuch"], ["--version"], []):
        assert _for(args) is app


def test_a_submit_needs_neither_ibis_nor_sqlalchemy_once_its_plan_is_kept(tmp_path):
    """The first submit of a dataset compiles its checks through Ibis and keeps the SQL in the
    haven; the next process runs that SQL and records itself in plain SQL, importing neither
    Ibis nor SQLAlchemy and the ORM models (issue 13 item 8, ADR 0014)."""
    from carehaven.config import Settings
    from carehaven.haven import init_haven
    from tests.helpers import csv_bytes, episode

    haven = init_haven(Settings.load(haven=tmp_path / "haven"), actor="test")
    haven.add_organisation("P001", "treatment-service", "P one", actor="test")
    haven.close()
    heavy = ("ibis", "sqlglot", "sqlalchemy", "alembic", "carehaven.control.models",
             "carehaven.collection.rules")
    loaded = []
    for i in range(2):
        path = tmp_path / f"P001_2025Q2_{i}.csv"
        path.write_bytes(csv_bytes([episode(client_ref=f"C{i}{n}", episode_id=f"E{i}{n}")
                                    for n in range(5)]))
        loaded.append(_loaded_after(
            ["--haven", str(tmp_path / "haven"), "submit", str(path), "--dataset",
             "ndtms-episode", "--org", "P001", "--period", "2025Q2", "--json"], heavy))
    assert loaded[0][0] == 0 and "ibis" in loaded[0][1]  # the first one compiled
    assert loaded[1] == (0, [])
