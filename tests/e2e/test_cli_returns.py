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


# -- item 2: a resubmission that would lose most of what is in force is held -----------------------


def audit_actions(cli: Cli, submission_id: str) -> list[tuple[str, dict[str, Any]]]:
    code, out, err = cli(None, "audit", "show", "--limit", "500", "--json")
    assert code == 0, err
    return [(e["action"], json.loads(e["details"])) for e in json.loads(out)
            if e["subject"] == f"submission:{submission_id}"]


def test_a_resubmission_losing_most_rows_is_held_until_confirmed(cli, tmp_path, haven_dir):
    """Issue 13 item 2: 10 episodes of 10 people are in force; a resubmission of 3 of them
    (under the default 50%) is held with exit 16 and a sentence of counts only; the 10 stay in
    force (submissions, and the rows the data plane selects); confirm puts the 3 in force and
    retires the 10; hold, confirmation and supersession are audited."""
    code, first, err = submit(cli, tmp_path, "P102", csv_bytes(episodes("P102", 10)),
                              "P102_2025Q2.csv")
    assert code == 0, err
    code, held, err = submit(cli, tmp_path, "P102", csv_bytes(episodes("P102", 3)),
                             "P102_2025Q2_v2.csv")
    assert code == 16, err
    assert held["status"] == "held" and held["superseded"] is None
    assert held["rows"]["accepted"] == 3
    assert (f"it would replace {first['submission_id']}'s 10 accepted rows with 3 and its "
            "10 people with 3") in held["message"]
    assert "P102-C" not in held["message"]  # counts, never a reference

    states = {s["submission_id"]: s["status"] for s in listing(cli, "P102")}
    assert states == {first["submission_id"]: "accepted", held["submission_id"]: "held"}
    (kept,) = in_force(cli, "P102")
    assert kept["submission_id"] == first["submission_id"]
    assert _selected_rows(haven_dir, "P102") == 10

    code, out, err = cli(None, "submissions", "confirm", held["submission_id"], "--json")
    assert code == 0, err
    assert json.loads(out)["superseded"] == first["submission_id"]
    (now,) = in_force(cli, "P102")
    assert now["submission_id"] == held["submission_id"]
    assert _selected_rows(haven_dir, "P102") == 3

    actions = dict(audit_actions(cli, held["submission_id"]))
    assert actions["submission.held"] == {
        "submission_id": held["submission_id"], "in_force": first["submission_id"],
        "rows_in_force": 10, "rows_brought": 3, "people_in_force": 10, "people_brought": 3}
    assert actions["submission.confirmed"]["supersedes"] == first["submission_id"]
    assert [a for a, _ in audit_actions(cli, first["submission_id"])][-1] == (
        "submission.superseded")

    code, out, err = cli(None, "submissions", "confirm", held["submission_id"])
    assert code == 2 and "is accepted, not held" in " ".join(err.split())


def test_a_held_submission_can_be_withdrawn_and_a_fair_one_is_not_held(cli, tmp_path,
                                                                        haven_dir):
    """Issue 13 item 2: a held resubmission withdrawn never comes into force; one bringing at
    least half the rows and people supersedes at once (exit 0)."""
    code, first, _ = submit(cli, tmp_path, "P103", csv_bytes(episodes("P103", 10)), "P103.csv")
    assert code == 0
    code, held, _ = submit(cli, tmp_path, "P103", csv_bytes(episodes("P103", 2)), "P103b.csv")
    assert code == 16
    code, _, err = cli(None, "submissions", "withdraw", held["submission_id"], "--json")
    assert code == 0, err
    states = {s["submission_id"]: s["status"] for s in listing(cli, "P103")}
    assert states[held["submission_id"]] == "withdrawn"
    assert [s["submission_id"] for s in in_force(cli, "P103")] == [first["submission_id"]]
    assert "submission.withdrawn" in dict(audit_actions(cli, held["submission_id"]))
    assert _selected_rows(haven_dir, "P103") == 10

    code, fair, err = submit(cli, tmp_path, "P103", csv_bytes(episodes("P103", 5)), "P103c.csv")
    assert code == 0, err
    assert fair["superseded"] == first["submission_id"]
    assert _selected_rows(haven_dir, "P103") == 5


def _selected_rows(haven_dir: Path, org: str) -> int:
    """The org's ndtms-episode rows that the in-force selection (tiers, linkage, publication
    use it) hands on."""
    from carehaven.config import Settings
    from carehaven.data import connect, in_force_rows
    from carehaven.haven import open_haven
    from carehaven.identity.link import in_force as in_force_subs

    haven = open_haven(Settings.load(haven=haven_dir))
    con = connect(haven.paths.data_db)
    try:
        with haven.sessions() as session:
            ids = [s.id for s in in_force_subs(session, "ndtms-episode") if s.org_code == org]
        return int(in_force_rows(con, EPISODES, ids).count().execute())
    finally:
        con.disconnect()
        haven.close()


# -- item 3: IPS identifiers without consent never enter; a superseded notice is a finding ------

NINO, POSTCODE = "JK987654D", "SW1A 1AA"  # sent for a person who did not consent


def _ips(org: str, i: int, **changes: str) -> dict[str, str]:
    from tests.spec.test_row_rules import IPS

    return {**IPS, "provider_code": org, "client_ref": f"{org}-C{i}", "ips_id": f"{org}-I{i}",
            "nino": f"AB12345{i}C", **changes}


def _everything_in(haven_dir: Path) -> str:
    """Every text value of every table of the data plane, and every file of the haven but the
    encrypted landing zone and the key files, as one string to search."""
    con = duckdb.connect(str(haven_dir / "data" / "carehaven.duckdb"), read_only=True)
    try:
        texts = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                texts.append(repr(row))
    finally:
        con.close()
    for path in haven_dir.rglob("*"):
        if path.is_file() and "landing" not in path.parts and "data" not in path.parts:
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def test_ips_identifiers_without_consent_never_enter_the_haven(cli, tmp_path, haven_dir):
    """Issue 13 item 3 (CON-5): a row with consent_dhsc N that carries a National Insurance
    number and full postcode is rejected with the finding identifiers-without-consent; the
    consenting rows are accepted; neither value is anywhere in the data plane (accepted rows,
    identity profiles, linkage keys, after a link run), the reports, the control plane or the
    audit log. A consent citing a notice version already superseded on its date has its own
    finding, consent-notice-superseded (CON-3)."""
    no_consent = _ips("P104", 1, consent_dhsc="N", consent_date="", consent_notice_version="",
                      consent_obtained_by="", consent_obtained_by_position="",
                      nino=NINO, postcode=POSTCODE)
    stale = _ips("P104", 2, consent_notice_version="1.1", consent_date="2025-04-01")
    rows = [_ips("P104", 0), no_consent, stale, _ips("P104", 3)]
    code, result, err = submit(cli, tmp_path, "P104", csv_bytes(rows), "P104_2025Q2.csv",
                               dataset="ips-episode")
    assert code == 0, err
    assert result["rows"] == {"total": 4, "accepted": 2, "rejected": 2}

    code, out, err = cli(None, "report", result["submission_id"], "--format", "json",
                         "--stdout")
    assert code == 0, err
    found = {(f["row"], f["field"], f["rule"]) for f in json.loads(out)["findings"]}
    assert found == {(3, "postcode", "identifiers-without-consent"),
                     (3, "nino", "identifiers-without-consent"),
                     (4, "consent_notice_version", "consent-notice-superseded")}

    code, _, err = cli(None, "link", "--json")
    assert code == 0, err
    everything = _everything_in(haven_dir)
    assert "AB123450C" in everything  # the search sees a consenting person's number
    assert NINO not in everything and NINO.lower() not in everything
    assert POSTCODE not in everything and POSTCODE.replace(" ", "") not in everything
