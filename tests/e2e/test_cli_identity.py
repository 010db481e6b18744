"""The identity commands as a user runs them (issue 3): link, review, decide, count, feedback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.linkage import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-identity")
    haven, _ = build(root / "haven", root / "returns", people=1200, seed=4,
                     periods=("2025Q1", "2025Q2"))
    haven.close()
    return root / "haven"


def test_counting_before_linking_says_what_to_do(tmp_path: Path) -> None:
    h = str(tmp_path / "h")
    assert run("--haven", h, "init").returncode == 0
    r = run("--haven", h, "persons", "count", "--dataset", "ndtms-episode")
    assert r.returncode == 9
    assert "carehaven link" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("--haven", h, "link")
    assert r.returncode == 9
    assert "submit returns before linking" in r.stderr


def test_link_review_decide_count_feedback(haven_dir: Path, tmp_path: Path) -> None:
    h = str(haven_dir)
    r = run("--haven", h, "link", "--json", "--report", str(tmp_path / "quality"))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary) == {"records", "people", "merged_by_rule", "merged_by_model",
                            "waiting_review"}
    assert summary["records"] > summary["people"] > 0
    quality = json.loads((tmp_path / "quality" / "quality.json").read_text())
    assert 0 <= quality["estimated_false_match_rate"] < 0.05
    assert (tmp_path / "quality" / "match_weights.html").is_file()
    assert (tmp_path / "quality" / "index.html").is_file()

    r = run("--haven", h, "link", "review", "--json")
    assert r.returncode == 0, r.stderr
    queue = json.loads(r.stdout)
    assert len(queue) == summary["waiting_review"] or len(queue) == 50
    if queue:
        pair = queue[0]
        assert set(pair["evidence"]) >= {"initials", "dob", "sex", "district"}
        assert set(pair["left"]) == {"source", "org", "records"}  # no identifier values
        r = run("--haven", h, "link", "decide", pair["pair_id"], "--same", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["decision"] == "same"

    r = run("--haven", h, "link", "decide", "LP-000000000000", "--different")
    assert r.returncode == 9 and "no pair" in r.stderr
    r = run("--haven", h, "link", "decide", "LP-000000000000")
    assert r.returncode == 2

    r = run("--haven", h, "persons", "count", "--dataset", "ndtms-episode", "--json")
    overall = json.loads(r.stdout)
    assert list(overall[0]) == ["dataset", "people"] and overall[0]["people"] > 0
    r = run("--haven", h, "persons", "count", "--dataset", "ndtms-episode",
            "--by", "period,provider", "--json")
    rows = json.loads(r.stdout)
    assert rows and set(rows[0]) == {"dataset", "period", "provider", "people"}
    r = run("--haven", h, "persons", "count", "--dataset", "ndtms-episode", "--by", "colour")
    assert r.returncode == 2 and "colour" in r.stderr

    out = tmp_path / "P001-concurrent.csv"
    r = run("--haven", h, "feedback", "--org", "P001", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert json.loads(r.stdout)["rows"] == len(rows)
    assert all(row["other_provider"] != "P001" for row in rows)
    r = run("--haven", h, "feedback", "--org", "NOPE", "--out", str(out))
    assert r.returncode == 5
