"""The compiled validation plan a submit keeps in the haven (issue 13 item 8, ADR 0014).

Each submit here is its own process, as a user's is: within one process the plan is also kept
in memory, so only a fresh process reads the file an intruder may have edited.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import csv_bytes, episode

pytestmark = pytest.mark.slow


def _carehaven(haven: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHAVEN_")}
    return subprocess.run([sys.executable, "-m", "carehaven", "--haven", str(haven), *args],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def _haven(root: Path) -> Path:
    haven = root / "haven"
    assert _carehaven(haven, "init").returncode == 0
    added = _carehaven(haven, "orgs", "add", "P001", "--kind", "treatment-service",
                       "--name", "P one")
    assert added.returncode == 0, added.stderr
    return haven


def _submit(haven: Path, folder: Path, name: str, rows: list[dict[str, str]]) -> dict[str, object]:
    path = folder / name
    path.write_bytes(csv_bytes(rows))
    done = _carehaven(haven, "submit", str(path), "--dataset", "ndtms-episode", "--org", "P001",
                      "--period", "2025Q2", "--json")
    assert done.returncode in (0, 3), done.stderr
    return dict(json.loads(done.stdout))


def _good(n: int, tag: str) -> list[dict[str, str]]:
    return [episode(client_ref=f"{tag}{i}", episode_id=f"{tag}E{i}") for i in range(n)]


def _rules(result: dict[str, object]) -> list[str]:
    summary = json.loads((Path(str(result["report"])) / "summary.json").read_text())
    return sorted(r["rule"] for r in summary["by_rule"])


#: A row every plan must reject: triage and treatment before the referral.
BAD = episode(client_ref="BAD", episode_id="BADE", referral_date="2025-05-10",
              triage_date="2025-05-01")


def _plan_file(haven: Path) -> Path:
    plans = sorted((haven / "plans").glob("*.json"))
    assert len(plans) == 1, plans
    return plans[0]


def _judging_nothing(doc: dict[str, str]) -> dict[str, str]:
    """The plan with every check's flag forced false, its seal kept."""
    plan = json.loads(doc["plan"])
    for key in ("flags_sql", "bad_flags_sql"):
        body = plan[key]
        cut = body.index(" AS ") + 4  # CREATE ... AS <select>
        plan[key] = (body[:cut] + 'SELECT "_row", ' + ", ".join(
            f"FALSE AS c{i}" for i in range(len(plan["checks"]))) + ' FROM "_submitted"')
    return {"plan": json.dumps(plan, sort_keys=True), "seal": doc["seal"]}


def test_a_plan_edited_to_judge_nothing_is_never_run(tmp_path):
    """An intruder who can write the haven's plans folder rewrites the compiled checks so that
    nothing is ever flagged: the seal no longer fits, the plan is compiled again, and the bad
    row is still rejected with its rule."""
    haven = _haven(tmp_path)
    first = _submit(haven, tmp_path, "first.csv", _good(3, "A"))
    assert first["status"] == "accepted"
    path = _plan_file(haven)
    path.write_text(json.dumps(_judging_nothing(json.loads(path.read_text()))))

    second = _submit(haven, tmp_path, "second.csv", [*_good(3, "B"), BAD])
    assert second["rows"] == {"total": 4, "accepted": 3, "rejected": 1}
    assert _rules(second) == ["start-before-referral", "triage-before-referral"]
    # ... and the file holds the honest plan again, not the edited one.
    assert "FALSE AS c0" not in json.loads(_plan_file(haven).read_text())["plan"]


def test_a_plan_sealed_by_another_haven_is_not_trusted(tmp_path):
    """A plan file copied from another haven (sealed with that haven's key, and edited there to
    judge nothing) does not fit this haven's key."""
    mine = _haven(tmp_path / "mine")
    theirs = _haven(tmp_path / "theirs")
    _submit(mine, tmp_path, "mine.csv", _good(2, "M"))
    _submit(theirs, tmp_path, "theirs.csv", _good(2, "T"))
    ours = _plan_file(mine)
    foreign = json.loads(_plan_file(theirs).read_text())
    assert ours.name == _plan_file(theirs).name  # the same spec, notices and code
    ours.write_text(json.dumps(_judging_nothing(foreign)))

    judged = _submit(mine, tmp_path, "again.csv", [*_good(2, "N"), BAD])
    assert judged["rows"] == {"total": 3, "accepted": 2, "rejected": 1}
    assert _rules(judged) == ["start-before-referral", "triage-before-referral"]


def test_an_honest_plan_is_reused_and_a_missing_one_rebuilt(tmp_path):
    """The second process reads the plan the first wrote (its file is not rewritten); with the
    folder emptied the next one compiles and writes it again, judging the same."""
    haven = _haven(tmp_path)
    _submit(haven, tmp_path, "one.csv", _good(2, "A"))
    path = _plan_file(haven)
    written = path.stat().st_mtime_ns
    again = _submit(haven, tmp_path, "two.csv", [*_good(2, "B"), BAD])
    assert again["rows"] == {"total": 3, "accepted": 2, "rejected": 1}
    assert path.stat().st_mtime_ns == written
    shutil.rmtree(haven / "plans")
    rebuilt = _submit(haven, tmp_path, "three.csv", [*_good(2, "C"), BAD])
    assert rebuilt["rows"] == {"total": 3, "accepted": 2, "rejected": 1}
    assert _plan_file(haven).exists()
