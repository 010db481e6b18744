"""Returns that cannot shrink the record by accident, through ``carehaven submit`` (issue 13
items 1 to 3): a file lacking a declared column is refused whole; a resubmission that would
lose most of what is in force is held until someone confirms it; IPS identifiers sent without
consent never enter the haven."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from carehaven.cli import main
from carehaven.specs import load_spec
from tests.helpers import csv_bytes, episode
from tests.people import Cli

EPISODES = load_spec("ndtms-episode")


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One haven for the module (``init`` is the slow part); each test has its own providers."""
    root = tmp_path_factory.mktemp("returns") / "haven"
    assert main(["--haven", str(root), "init"]) == 0
    for code in ("P101", "P102", "P103", "P104", "P105"):
        assert main(["--haven", str(root), "orgs", "add", code, "--kind", "treatment-service",
                     "--name", code]) == 0
    return root


@pytest.fixture
def cli(haven_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(haven_dir, capsys, monkeypatch)


def episodes(org: str, n: int, first: int = 0) -> list[dict[str, str]]:
    """``n`` valid episodes of ``n`` different people at ``org`` in 2025Q2."""
    return [episode(provider_code=org, client_ref=f"{org}-C{i}", episode_id=f"{org}-E{i}")
            for i in range(first, first + n)]


def submit(cli: Cli, tmp_path: Path, org: str, data: bytes, name: str,
           dataset: str = "ndtms-episode") -> tuple[int, dict[str, Any], str]:
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = cli(None, "submit", str(path), "--dataset", dataset, "--org", org,
                         "--period", "2025Q2", "--json")
    return code, json.loads(out), err


def listing(cli: Cli, org: str) -> list[dict[str, Any]]:
    code, out, err = cli(None, "submissions", "--org", org, "--json")
    assert code == 0, err
    return list(json.loads(out))


def in_force(cli: Cli, org: str) -> list[dict[str, Any]]:
    return [s for s in listing(cli, org)
            if s["status"] == "accepted" and s["superseded_by"] is None]


def rows_held(haven_dir: Path, table: str, submission_id: str) -> int:
    """Rows the data plane holds for one submission, read straight from its DuckDB file."""
    con = duckdb.connect(str(haven_dir / "data" / "carehaven.duckdb"), read_only=True)
    try:
        found = con.execute(f'SELECT count(*) FROM "{table}" WHERE _submission_id = ?',
                            [submission_id]).fetchone()
    finally:
        con.close()
    return int(found[0]) if found else 0


# -- item 1: a return missing a declared column is refused whole -----------------------------------


def test_a_file_without_a_declared_column_is_refused_and_the_complete_one_stays(cli, tmp_path,
                                                                                  haven_dir):
    """Issue 13 item 1 (COL-3): a complete return of 8 episodes is accepted; the same return
    without ``initials`` (a column whose values only consent requires) is a structural
    failure: exit 3, one sentence naming the file and the column, nothing accepted, and the
    complete return stays in force with its 8 rows."""
    rows = episodes("P101", 8)
    code, first, err = submit(cli, tmp_path, "P101", csv_bytes(rows), "P101_2025Q2.csv")
    assert code == 0, err
    assert first["rows"] == {"total": 8, "accepted": 8, "rejected": 0}

    without = [c for c in EPISODES.field_names if c != "initials"]
    code, out, err = cli(None, "submit", str(_write(tmp_path, "P101_2025Q2_v2.csv",
                                                    csv_bytes(rows, without))),
                         "--dataset", "ndtms-episode", "--org", "P101", "--period", "2025Q2")
    assert code == 3
    sentence = " ".join(out.split())
    assert sentence.startswith("REJECTED"), out + err
    assert "P101_2025Q2_v2.csv lacks the column initials of ndtms-episode" in sentence
    assert "Traceback" not in out + err

    (kept,) = in_force(cli, "P101")
    assert kept["submission_id"] == first["submission_id"]
    assert kept["rows"]["accepted"] == 8
    latest = listing(cli, "P101")[0]
    assert latest["status"] == "rejected" and latest["rows"]["accepted"] == 0
    assert rows_held(haven_dir, EPISODES.table_name, latest["submission_id"]) == 0
    assert rows_held(haven_dir, EPISODES.table_name, first["submission_id"]) == 8


def test_many_missing_columns_are_listed_briefly(cli, tmp_path):
    """Issue 13 item 1: a file lacking most of the spec names five columns and counts the rest."""
    rows = episodes("P101", 2, first=50)
    header = [f.name for f in EPISODES.fields if f.required]
    code, out, _ = cli(None, "submit", str(_write(tmp_path, "P101_2025Q2_v3.csv",
                                                    csv_bytes(rows, header))),
                         "--dataset", "ndtms-episode", "--org", "P101", "--period", "2025Q2")
    assert code == 3
    missing = [f.name for f in EPISODES.fields if not f.required]
    sentence = " ".join(out.split())
    assert f"lacks the columns {', '.join(missing[:5])} and {len(missing) - 5} more" in sentence
    assert missing[5] not in sentence


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
