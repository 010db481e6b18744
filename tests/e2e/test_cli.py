"""The command line as a data team uses it (issue 2: "What a user can do")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carehaven.cli import main

pytestmark = pytest.mark.slow


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, as a user's shell runs it (in a
    script: standard input is not a terminal, so nobody is asked for a password)."""
    return subprocess.run([sys.executable, "-m", "carehaven", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_the_issue_walkthrough(tmp_path: Path):
    haven, returns = tmp_path / "haven", tmp_path / "returns"
    h = ["--haven", str(haven)]
    assert run(*h, "init").returncode == 0
    added = run(*h, "orgs", "add", "P001", "--kind", "treatment-service", "--name",
                "Riverside Recovery", "--json")
    assert json.loads(added.stdout) == {"code": "P001", "kind": "treatment-service",
                                        "name": "Riverside Recovery"}
    synth = run(*h, "synth", "--out", str(returns), "--people", "1500", "--seed", "7", "--json")
    assert synth.returncode == 0, synth.stderr
    manifest = json.loads((returns / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    assert files["ndtms-episode/P001_2025Q2.csv"] == {**files["ndtms-episode/P001_2025Q2.csv"],
                                                      "dataset": "ndtms-episode", "org": "P001",
                                                      "period": "2025Q2"}
    assert (returns / "truth").is_dir()

    sub = run(*h, "submit", str(returns / "ndtms-episode" / "P001_2025Q2.csv"), "--dataset",
              "ndtms-episode", "--org", "P001", "--period", "2025Q2", "--json")
    assert sub.returncode == 0, sub.stderr
    result = json.loads(sub.stdout)
    assert result["status"] == "accepted" and result["rows"]["rejected"] == 0
    assert set(result) >= {"submission_id", "status", "rows", "findings", "message"}
    assert set(result["rows"]) == {"total", "accepted", "rejected"}
    assert sub.stderr == ""  # no progress bar when --json

    again = run(*h, "submit", str(returns / "ndtms-episode" / "P001_2025Q2.csv"), "--dataset",
                "ndtms-episode", "--org", "P001", "--period", "2025Q2", "--json")
    assert json.loads(again.stdout)["status"] == "unchanged"

    listing = json.loads(run(*h, "submissions", "--json").stdout)
    assert [s["submission_id"] for s in listing] == [result["submission_id"]]
    assert set(listing[0]) >= {"submission_id", "org", "dataset", "period", "status", "rows",
                               "superseded_by"}

    page = tmp_path / "report.html"
    rep = run(*h, "report", result["submission_id"], "--format", "html", "--out", str(page))
    assert rep.returncode == 0 and "<html" in page.read_text()

    spec = json.loads(run(*h, "spec", "show", "cld-event", "--json").stdout)
    assert spec["name"] == "cld-event" and spec["version"]
    nhs = next(f for f in spec["schema"]["fields"] if f["name"] == "NHS_Number")
    assert nhs["carehaven:class"] == "D" and nhs["constraints"]["required"] is True

    verified = run(*h, "audit", "verify", "--json")
    assert verified.returncode == 0
    report = json.loads(verified.stdout)
    assert {k: report[k] for k in ("ok", "entries", "first_bad", "reason")} == {
        "ok": True, "entries": 4, "first_bad": None, "reason": None}
    assert report["landing"] == {"checked": 1, "failed": []}


def test_haven_comes_from_the_environment(tmp_path: Path):
    env = {"CAREHAVEN_HAVEN": str(tmp_path / "h")}
    assert run("init", "--json", env=env).returncode == 0
    assert (tmp_path / "h" / "haven.json").exists()


def _code(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes_are_as_documented(tmp_path: Path, capsys):
    h = ["--haven", str(tmp_path / "haven")]
    assert _code([*h, "submissions"], capsys)[0] == 6  # no haven yet
    assert _code([*h, "init"], capsys)[0] == 0
    assert _code([*h, "orgs", "add", "P001", "--kind", "treatment-service", "--name", "R"],
                 capsys)[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("provider_code,client_ref\nP001,C1\n")
    args = ["--dataset", "ndtms-episode", "--org", "P001", "--period", "2025Q2"]
    code, out, err = _code([*h, "submit", str(bad), *args], capsys)
    assert code == 3 and "lacks the columns episode_id" in out
    code, out, err = _code([*h, "submit", str(bad), "--dataset", "nope", "--org", "P001",
                            "--period", "2025Q2", "--json"], capsys)
    assert code == 4 and json.loads(out)["error"]["exit_code"] == 4
    assert _code([*h, "submit", str(bad), "--dataset", "ndtms-episode", "--org", "P404",
                  "--period", "2025Q2"], capsys)[0] == 5
    assert _code([*h, "submit", str(bad), "--dataset", "ndtms-episode", "--org", "P001",
                  "--period", "2025Q9"], capsys)[0] == 2
    assert _code([*h, "submit", "--wrong-option"], capsys)[0] == 2
    assert _code([*h, "report", "sub-000000000000"], capsys)[0] == 9
    code, out, err = _code([*h, "submit", str(tmp_path / "absent.csv"), *args], capsys)
    assert code == 2 and "no file" in err and "Traceback" not in out + err


def test_a_tampered_audit_log_exits_7(tmp_path: Path, capsys):
    import sqlite3

    h = ["--haven", str(tmp_path / "haven")]
    main([*h, "init"])
    main([*h, "orgs", "add", "P001", "--kind", "treatment-service", "--name", "R"])
    db = sqlite3.connect(tmp_path / "haven" / "control.sqlite")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    db.commit()
    db.close()
    capsys.readouterr()
    code, out, _ = _code([*h, "audit", "verify", "--json"], capsys)
    assert code == 7
    report = json.loads(out)
    assert {k: report[k] for k in ("ok", "entries", "first_bad")} == {
        "ok": False, "entries": 2, "first_bad": 2}
    assert "entry 2 was altered" in report["reason"] and report["chain"]["first_bad"] == 2


def test_help_is_complete():
    for args in (["--help"], ["submit", "--help"], ["spec", "show", "--help"],
                 ["audit", "verify", "--help"], ["demo", "--help"], ["synth", "--help"]):
        proc = run(*args)
        assert proc.returncode == 0 and "Usage" in proc.stdout, args
