"""Many returns in one process (issue 13 item 8): ``submit --manifest`` and ``submit FOLDER``
submit each file on its own, as the acting user, through the same checks as one ``submit``;
one bad file does not stop the others and the exit code is the worst outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from carehaven.access.users import add_user
from carehaven.config import Settings
from carehaven.control.models import AuditEntry, Submission
from carehaven.haven import init_haven, open_haven
from tests.e2e.test_cli import run
from tests.helpers import episodes_file
from tests.people import Cli, token_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two providers; a data-team user and a submitter for P001 only."""
    root = tmp_path_factory.mktemp("submit-many") / "haven"
    haven = init_haven(Settings.load(haven=root), actor="test")
    for code in ("P001", "P002"):
        haven.add_organisation(code, "treatment-service", code, actor="test")
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="test")
    add_user(haven, "alice", "Alice", "P001", roles=["submitter"], actor="user:boss")
    haven.close()
    return root


@pytest.fixture
def cli(haven_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(haven_dir, capsys, monkeypatch)


def _returns(folder: Path, n: int, org: str) -> bytes:
    return episodes_file(n, provider_code=org)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _manifest(folder: Path, entries: list[dict[str, Any]] | Any) -> Path:
    path = folder / "manifest.json"
    body = {"files": entries} if isinstance(entries, list) else entries
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def _state(haven_dir: Path) -> tuple[list[Submission], list[AuditEntry]]:
    haven = open_haven(Settings.load(haven=haven_dir))
    try:
        with haven.sessions() as s:
            return (list(s.scalars(select(Submission))),
                    list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq))))
    finally:
        haven.close()


def _entry(path: str, org: str, period: str, dataset: str = "ndtms-episode") -> dict[str, str]:
    return {"path": path, "dataset": dataset, "org": org, "period": period}


def test_a_manifest_lands_every_good_file_and_exits_with_the_worst(cli, haven_dir, tmp_path):
    folder = tmp_path / "returns"
    _write(folder / "a" / "P001_2025Q2.csv", _returns(folder, 5, "P001"))
    _write(folder / "P001_2025Q1.csv", b"provider_code,client_ref\nP001,C1\n")  # structural
    _write(folder / "P404_2025Q2.csv", _returns(folder, 2, "P404"))
    _write(folder / "P002_2025Q2.csv", _returns(folder, 3, "P002"))
    manifest = _manifest(folder, [
        _entry("a/P001_2025Q2.csv", "P001", "2025Q2"),
        _entry("P001_2025Q1.csv", "P001", "2025Q1"),
        {**_entry("P404_2025Q2.csv", "P404", "2025Q2"), "rows": 2},  # synth's extra field
        _entry(str(folder / "P002_2025Q2.csv"), "P002", "2025Q2"),  # an absolute path
    ])
    before, _ = _state(haven_dir)
    code, out, err = cli("boss", "submit", "--manifest", str(manifest), "--json")
    # Worst of: accepted (0), rejected (3), unknown organisation (5), accepted (0).
    assert code == 5, err
    got = json.loads(out)
    assert got["exit_code"] == 5
    assert [(f["entry"], f["org"], f["period"], f["outcome"], f["exit_code"])
            for f in got["files"]] == [
        (1, "P001", "2025Q2", "accepted", 0), (2, "P001", "2025Q1", "rejected", 3),
        (3, "P404", "2025Q2", "refused", 5), (4, "P002", "2025Q2", "accepted", 0)]
    assert [f["rows"] for f in got["files"]] == [
        {"total": 5, "accepted": 5, "rejected": 0}, {"total": 0, "accepted": 0, "rejected": 0},
        None, {"total": 3, "accepted": 3, "rejected": 0}]
    assert "P404 is not registered" in got["files"][2]["message"]
    after, _ = _state(haven_dir)
    new = {(s.org_code, s.period): s for s in after if s.id not in {b.id for b in before}}
    assert {k: (s.status, s.rows_accepted) for k, s in new.items()} == {
        ("P001", "2025Q2"): ("accepted", 5), ("P001", "2025Q1"): ("rejected", 0),
        ("P002", "2025Q2"): ("accepted", 3)}
    assert {s.id for s in new.values()} == {
        f["submission_id"] for f in got["files"] if f["submission_id"]}

    # The same manifest again, for people: a table, and a sentence naming the bad entry.
    code, out, err = cli("boss", "submit", "--manifest", str(manifest))
    assert code == 5 and err == ""  # no progress bar when not on a terminal
    assert "Submitted 4 of 4 files" in out
    assert "#3 P404_2025Q2.csv: Organisation P404 is not registered" in out
    assert "1 refused, 3 unchanged." in out  # the rejected bytes too: already judged


@pytest.mark.parametrize(("body", "said"), [
    ("{not json", "is not JSON: line 1, column 2"),
    ([], '"files" must be a list of at least one entry'),
    ({"returns": []}, 'must be a JSON object with a "files" list'),
    ([_entry("x.csv", "P001", "2025Q2"), {"path": "y.csv", "dataset": "ndtms-episode",
                                          "org": "P001"}],
     "entry 2 (files[1]): field 'period' is missing"),
    ([{**_entry("x.csv", "P001", "2025Q2"), "perod": "2025Q2"}],
     "entry 1 (files[0]): unknown field 'perod'"),
    ([_entry("x.csv", "P001", "2025Q2"), {**_entry("y.csv", "P001", "2025Q3"), "org": 7}],
     "entry 2 (files[1]): field 'org' must be a non-empty string"),
    (["x.csv"], "entry 1 (files[0]) must be an object"),
    ([_entry("x.csv", "P001", "2025Q2"), _entry("y.csv", "P001", "2025Q2")],
     "entries 1 and 2 are both P001 ndtms-episode 2025Q2"),
])
def test_a_malformed_manifest_is_refused_whole_with_a_sentence(cli, haven_dir, tmp_path,
                                                                 body, said):
    _write(tmp_path / "x.csv", _returns(tmp_path, 2, "P001"))
    _write(tmp_path / "y.csv", _returns(tmp_path, 3, "P001"))
    manifest = _manifest(tmp_path, body)
    before = _state(haven_dir)
    code, out, err = cli("boss", "submit", "--manifest", str(manifest))
    assert code == 2 and said in err and "Traceback" not in out + err, err
    code, out, _ = cli("boss", "submit", "--manifest", str(manifest), "--json")
    assert code == 2 and said in json.loads(out)["error"]["message"]
    after = _state(haven_dir)
    assert len(after[0]) == len(before[0])  # nothing submitted, even the good entry


def test_each_file_is_checked_as_the_acting_user_like_one_submit(cli, haven_dir, tmp_path):
    """alice submits for P001 only: the P002 file is refused with the sentence and the audit
    entry a single submit gives; her own file lands."""
    theirs = _write(tmp_path / "P002_2025Q3.csv", _returns(tmp_path, 2, "P002"))
    mine = _write(tmp_path / "P001_2025Q3.csv", _returns(tmp_path, 4, "P001"))
    args = ["--dataset", "ndtms-episode", "--period", "2025Q3"]
    token_for(haven_dir, "alice")  # issued (and audited) before the entries compared
    _, audit0 = _state(haven_dir)
    single = cli("alice", "submit", str(theirs), "--org", "P002", *args)
    _, audit1 = _state(haven_dir)
    assert single[0] == 13
    one_submit = [(e.action, e.actor, e.subject, e.details) for e in audit1[len(audit0):]]

    manifest = _manifest(tmp_path, [_entry(theirs.name, "P002", "2025Q3"),
                                    _entry(mine.name, "P001", "2025Q3")])
    code, out, err = cli("alice", "submit", "--manifest", str(manifest), "--json")
    assert code == 13, err
    files = json.loads(out)["files"]
    assert [(f["org"], f["outcome"], f["exit_code"]) for f in files] == [
        ("P002", "refused", 13), ("P001", "accepted", 0)]
    assert files[0]["message"] in single[2]  # the same sentence
    subs, audit2 = _state(haven_dir)
    batch = [(e.action, e.actor, e.subject, e.details) for e in audit2[len(audit1):]]
    assert batch[:len(one_submit)] == one_submit  # the same refusal, recorded the same way
    mine_landed = [s for s in subs if s.org_code == "P001" and s.period == "2025Q3"]
    assert [(s.status, s.rows_accepted) for s in mine_landed] == [("accepted", 4)]
    assert not [s for s in subs if s.org_code == "P002" and s.period == "2025Q3"]
    received = [e for e in batch if e[0] == "submission.received"]
    assert len(received) == 1 and received[0][1] == "user:alice"


def test_a_folder_named_as_synth_names_its_returns(cli, haven_dir, tmp_path):
    folder = tmp_path / "returns"
    _write(folder / "ndtms-episode" / "P001_2025Q4.csv", _returns(folder, 3, "P001"))
    _write(folder / "P002_ndtms-episode_2025Q4.csv", _returns(folder, 2, "P002"))
    _write(folder / "ndtms-episode" / "P001_2026Q1.csv", _returns(folder, 6, "P001"))
    _write(folder / "truth" / "people.csv", b"person\nT1\n")  # not a dataset's folder: not read
    code, out, err = cli("boss", "submit", str(folder), "--period", "2025Q4", "--json")
    assert code == 0, err
    got = [(f["org"], f["dataset"], f["period"], f["outcome"], f["rows"]["accepted"])
           for f in json.loads(out)["files"]]
    assert sorted(got) == [("P001", "ndtms-episode", "2025Q4", "accepted", 3),
                           ("P002", "ndtms-episode", "2025Q4", "accepted", 2)]
    subs, _ = _state(haven_dir)
    assert not [s for s in subs if s.period == "2026Q1"]  # --period chose the files

    _write(folder / "notes.csv", b"a\n1\n")
    code, out, err = cli("boss", "submit", str(folder))
    assert code == 2 and "names no dataset" in err and "AAAAA.csv" in err


def test_the_real_command_exits_with_the_worst_outcome(haven_dir, tmp_path):
    """The console script in a child process: the exit code a shell sees."""
    from tests.people import user_env

    folder = tmp_path / "returns"
    _write(folder / "ndtms-episode" / "P001_2026Q2.csv", _returns(folder, 2, "P001"))
    _write(folder / "ndtms-episode" / "P002_2026Q2.csv", b"provider_code\nP002\n")
    done = run("--haven", str(haven_dir), "submit", str(folder), env=user_env(haven_dir, "boss"))
    assert done.returncode == 3, done.stderr
    assert "1 accepted, 1 rejected." in done.stdout


def test_a_manifest_loads_episodes_before_the_returns_that_name_them(cli, haven_dir, tmp_path):
    """Issue 13 item 6: ndtms-review and ips-episode name episodes already in force, so a
    manifest's ndtms-episode files are submitted first whatever order it lists them in; the
    summary keeps each file's place in the manifest."""
    from tests.helpers import csv_bytes, episode
    from tests.spec.test_row_rules import IPS

    folder = tmp_path / "ordered"
    dated = {"referral_date": "2024-10-02", "treatment_start_date": "2024-10-10"}
    _write(folder / "ep.csv", csv_bytes([episode(provider_code="P002", episode_id="Q1",
                                                 **dated)]))
    _write(folder / "rev.csv", csv_bytes(
        [{"provider_code": "P002", "episode_id": "Q1", "review_date": "2024-11-01",
          "review_stage": "start", "days_used_substance_1": "9"}],
        ["provider_code", "episode_id", "review_date", "review_stage", "days_used_substance_1",
         "days_injected", "psychological_health", "physical_health", "quality_of_life",
         "housing_problem", "offending"]))
    _write(folder / "ips.csv", csv_bytes([{**IPS, "provider_code": "P002", "episode_id": "Q1",
                                           "ips_start_date": "2024-11-03",
                                           "consent_date": "2024-11-03"}]))
    manifest = _manifest(folder, [
        _entry("rev.csv", "P002", "2024Q4", "ndtms-review"),
        _entry("ips.csv", "P002", "2024Q4", "ips-episode"),
        _entry("ep.csv", "P002", "2024Q4"),
    ])
    code, out, err = cli("boss", "submit", "--manifest", str(manifest), "--json")
    assert code == 0, err
    got = json.loads(out)["files"]
    assert [(f["entry"], f["dataset"], f["outcome"], f["findings"]) for f in got] == [
        (3, "ndtms-episode", "accepted", 0), (1, "ndtms-review", "accepted", 0),
        (2, "ips-episode", "accepted", 0)]


def test_synthetic_returns_load_through_their_manifest_without_findings(tmp_path):
    """``carehaven synth`` then ``submit --manifest``: every synthetic file is accepted whole,
    the reviews and IPS episodes naming episodes of their provider's returns (issue 13 item 6)."""
    from carehaven.cli import main

    h = ["--haven", str(tmp_path / "haven")]
    assert main([*h, "init"]) == 0
    returns = tmp_path / "returns"
    assert main([*h, "synth", "--out", str(returns), "--people", "150", "--seed", "5",
                 "--register", "--json"]) == 0
    code = main([*h, "submit", "--manifest", str(returns / "manifest.json"), "--json"])
    assert code == 0
    haven = open_haven(Settings.load(haven=tmp_path / "haven"))
    try:
        with haven.sessions() as s:
            subs = list(s.scalars(select(Submission)))
    finally:
        haven.close()
    manifest = json.loads((returns / "manifest.json").read_text())
    assert len(subs) == len(manifest["files"])
    assert {(s.status, s.findings, s.rows_rejected) for s in subs} == {("accepted", 0, 0)}
    assert {s.dataset for s in subs} >= {"ndtms-review", "ips-episode"}
