"""The one door out, through the command line (issue 12, items 1-5, 7, 11, 12, 14, 17).

A linked synthetic haven with four people: alice and bob (data team), ivy and iris (data team
and IPS team). Every promise is checked through the command a user runs; the expected numbers
are worked out from the returns themselves, not from carehaven's code.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from carehaven.cli import main
from carehaven.config import Settings
from carehaven.governance.access import add_user, grant
from carehaven.haven import open_haven
from carehaven.identity.link import link
from tests.e2e.test_cli import run
from tests.linkage import build
from tests.people import user_env

pytestmark = pytest.mark.slow

EXPIRES = (date.today() + timedelta(days=365)).isoformat()
IPS_PURPOSE = "ips-employment-outcomes"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("trust")
    haven, synth = build(root / "haven", root / "returns", people=700, seed=12,
                         periods=("2025Q1", "2025Q2"))
    link(haven, actor="test")
    add_user(haven, "alice", "Alice", None, roles=["data-team"], actor="test")
    for name in ("bob", "ivy", "iris"):
        add_user(haven, name, name.title(), None, roles=["data-team"], actor="test")
    for name in ("ivy", "iris"):
        grant(haven, name, "ips-team", None, actor="test")
    las = sorted({f.org for f in synth.files if f.dataset == "cld-event"})
    haven.close()
    return {"root": root, "haven": root / "haven", "returns": root / "returns",
            "files": synth.files, "las": las}


class Cli:
    """The entry point in this process, as a user: (exit code, stdout, stderr)."""

    def __init__(self, haven: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.haven, self.capsys, self.monkeypatch = haven, capsys, monkeypatch

    def __call__(self, user: str | None, *args: str, env: dict[str, str] | None = None
                 ) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            for key in ("CAREHAVEN_USER", "CAREHAVEN_TOKEN"):
                m.delenv(key, raising=False)
            for key, value in {**(user_env(self.haven, user) if user else {}),
                               **(env or {})}.items():
                m.setenv(key, value)
            self.capsys.readouterr()
            code = main(["--haven", str(self.haven), *args])
            out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, user: str, *args: str) -> Any:
        code, out, err = self(user, *args, "--json")
        assert code == 0, err + out
        return json.loads(out)


@pytest.fixture
def cli(world: dict[str, Any], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world["haven"], capsys, monkeypatch)


def _audit(cli: Cli, action: str) -> list[dict[str, Any]]:
    entries = cli.ok("alice", "audit", "show", "--limit", "100000")
    return [e for e in entries if e["action"] == action]


def _release(cli: Cli, *propose: str, approver: str = "bob", proposer: str = "alice",
             out: Path | None = None) -> dict[str, Any]:
    proposed = cli.ok(proposer, "release", "propose", *propose)
    assert proposed["decision"] == "allow", proposed
    args = ["release", "approve", proposed["release_id"]]
    if out is not None:
        args += ["--out", str(out)]
    cli.ok(approver, *args)
    shown: dict[str, Any] = cli.ok(approver, "release", "show", proposed["release_id"])
    return shown


# ---- item 1: extract is a preview inside the haven ----------------------------------------------


def test_extract_cannot_write_for_a_recipient(cli: Cli, tmp_path: Path) -> None:
    """Issue 12 item 1: the old door is gone; a preview stays in the haven, marked so."""
    out = tmp_path / "out"
    code, _, err = cli("alice", "extract", "--dataset", "ndtms-episode", "--tier",
                       "de-personalised", "--recipient", "ANYCODE", "--out", str(out))
    assert code == 2 and not out.exists()

    shown = cli.ok("alice", "preview", "--dataset", "ndtms-episode", "--tier",
                   "de-personalised")
    files = [Path(f) for f in shown["files"]]
    previews = (cli.haven / "previews").resolve()
    assert all(f.is_relative_to(previews) and f.is_file() for f in files)
    manifest = json.loads(Path(shown["manifest"]).read_text())
    assert manifest["kind"] == "preview" and manifest["for_release"] is False
    assert manifest["recipient"] == "HAVEN_PREVIEW" and "not for release" in manifest["note"]

    code, _, err = cli("alice", "preview", "--dataset", "ndtms-episode", "--tier", "personal")
    assert code == 2 and "never previewed" in err
    # Nobody can register the preview key's name as a recipient.
    code, _, _ = cli("alice", "recipients", "add", "HAVEN_PREVIEW", "--kind", "research")
    assert code == 2


# ---- item 2: SHR-6 through the commands ---------------------------------------------------------


def test_identifiable_ips_needs_the_ips_team(cli: Cli) -> None:
    """SHR-6: a data-team member without the IPS team's permission is refused identifiable IPS
    data at every door; anonymised IPS data needs no more than the data team."""
    code, _, err = cli("alice", "preview", "--dataset", "ips-episode", "--tier",
                       "de-personalised")
    assert code == 13 and "read-ips-identifiable" in err
    denied = _audit(cli, "access.denied")
    assert any(json.loads(e["details"])["permission"] == "read-ips-identifiable"
               and e["actor"] == "user:alice" for e in denied)
    assert cli.ok("ivy", "preview", "--dataset", "ips-episode", "--tier",
                  "de-personalised")["rows"] > 0
    assert cli.ok("alice", "preview", "--dataset", "ips-episode", "--tier", "anonymised",
                  "--k", "2")["rows"] >= 0

    cli.ok("alice", "recipients", "add", "HMRC", "--kind", "partner", "--name",
           "HM Revenue and Customs")
    deal = cli.ok("alice", "agreements", "add", "--recipient", "HMRC", "--tier", "personal",
                  "--datasets", "ips-episode", "--fields", "consent_dhsc,ips_start_date,nino",
                  "--purposes", IPS_PURPOSE, "--lawful-basis", "6.1.e,9.2.h", "--expires",
                  EXPIRES)
    code, _, err = cli("alice", "release", "propose", "--agreement", deal["agreement_id"],
                       "--dataset", "ips-episode")
    assert code == 13 and "read-ips-identifiable" in err


# ---- item 3: SHR-2 names HMRC ------------------------------------------------------------------


def test_personal_ips_goes_to_the_named_hmrc_partner_only(cli: Cli, tmp_path: Path) -> None:
    """SHR-2, SHR-6, CON-1: a department or another partner is refused personal IPS data even
    with consent; HMRC gets the consenting people only."""
    for code_, kind in (("DWP", "government"), ("XPARTNER", "partner")):
        cli.ok("alice", "recipients", "add", code_, "--kind", kind)
        deal = cli.ok("alice", "agreements", "add", "--recipient", code_, "--tier",
                      "personal", "--datasets", "ips-episode", "--fields",
                      "consent_dhsc,ips_start_date,nino", "--purposes", IPS_PURPOSE,
                      "--lawful-basis", "6.1.e,9.2.h", "--expires", EXPIRES)
        code, out, _ = cli("ivy", "release", "propose", "--agreement", deal["agreement_id"],
                           "--dataset", "ips-episode", "--json")
        assert code == 14, out
        assert "SHR-2" in {r["requirement"] for r in json.loads(out)["reasons"]}

    hmrc = next(a for a in cli.ok("alice", "agreements", "list")
                if a["recipient"] == "HMRC")
    shown = _release(cli, "--agreement", hmrc["agreement_id"], "--dataset", "ips-episode",
                     proposer="ivy", approver="iris", out=tmp_path / "hmrc")
    table = pq.read_table(tmp_path / "hmrc" / "ips-episode.parquet")
    assert table.num_rows == shown["rows"] > 0
    assert set(table.column("consent_dhsc").to_pylist()) == {"Y"}
    assert table.column_names == ["pseudonym", "consent_dhsc", "ips_start_date", "nino"]
    # Approving identifiable IPS data also needs the IPS team.
    again = cli.ok("ivy", "release", "propose", "--agreement", hmrc["agreement_id"],
                   "--dataset", "ips-episode")
    code, _, err = cli("bob", "release", "approve", again["release_id"])
    assert code == 13 and "read-ips-identifiable" in err


# ---- item 4: SHR-9 row scopes -------------------------------------------------------------------


def test_a_local_authority_receives_its_own_rows(
    cli: Cli, world: dict[str, Any], tmp_path: Path
) -> None:
    """SHR-9: a sub-licensed authority gets the rows it submitted, and nothing else."""
    own, other = world["las"][0], world["las"][1]
    code, _, err = cli("alice", "recipients", "add", "LAX", "--kind", "local-authority")
    assert code == 2 and "--org" in err
    cli.ok("alice", "recipients", "add", "LA1", "--kind", "local-authority", "--org", own)
    deal = cli.ok("alice", "agreements", "add", "--recipient", "LA1", "--tier",
                  "de-personalised", "--datasets", "cld-event", "--fields",
                  "LA_Code,Event_Type,Event_Start_Date", "--purposes", "commissioning",
                  "--lawful-basis", "6.1.e,9.2.h", "--expires", EXPIRES, "--sub-licensing",
                  "--no-reidentification-signed")
    shown = _release(cli, "--agreement", deal["agreement_id"], "--dataset", "cld-event",
                     out=tmp_path / "la")
    assert shown["row_scope"]["orgs"] == [own]
    table = pq.read_table(tmp_path / "la" / "cld-event.parquet")
    assert table.num_rows > 0 and set(table.column("LA_Code").to_pylist()) == {own}
    expected = _cld_rows(world, own)
    assert table.num_rows <= expected  # its own rows only (a repeated event is one row)

    code, out, _ = cli("alice", "release", "propose", "--agreement", deal["agreement_id"],
                       "--dataset", "cld-event", "--orgs", f"{own},{other}", "--json")
    assert code == 14 and "SHR-9" in {r["requirement"] for r in json.loads(out)["reasons"]}


def _cld_rows(world: dict[str, Any], la: str) -> int:
    n = 0
    for f in world["files"]:
        if f.dataset == "cld-event" and f.org == la:
            with (world["returns"] / f.path).open(newline="") as fh:
                n += sum(1 for _ in csv.DictReader(fh))
    return n


# ---- item 5: the personal tier to a processor under contract ----------------------------------


def test_personal_data_to_a_processor_under_contract(cli: Cli, tmp_path: Path) -> None:
    """000 §5.1, SHR-1: a processor under a recorded contract receives the agreed personal
    fields; without the contract it receives nothing."""
    cli.ok("alice", "recipients", "add", "NDEC-P", "--kind", "processor", "--name",
           "National Drug Evidence Centre (processing)")
    fields = "initials,date_of_birth,sex,referral_date"
    bare = cli.ok("alice", "agreements", "add", "--recipient", "NDEC-P", "--tier", "personal",
                  "--datasets", "ndtms-episode", "--fields", fields, "--purposes", "statistics",
                  "--lawful-basis", "6.1.e,9.2.j", "--expires", EXPIRES)
    code, out, _ = cli("alice", "release", "propose", "--agreement", bare["agreement_id"],
                       "--dataset", "ndtms-episode", "--json")
    assert code == 14 and "SHR-1" in {r["requirement"] for r in json.loads(out)["reasons"]}

    deal = cli.ok("alice", "agreements", "add", "--recipient", "NDEC-P", "--tier", "personal",
                  "--datasets", "ndtms-episode", "--fields", fields, "--purposes",
                  "statistics", "--lawful-basis", "6.1.e,9.2.j", "--expires", EXPIRES,
                  "--contract", "DHSC-NDEC-2026-04")
    assert deal["contract_ref"] == "DHSC-NDEC-2026-04"
    shown = _release(cli, "--agreement", deal["agreement_id"], "--dataset", "ndtms-episode",
                     out=tmp_path / "proc")
    table = pq.read_table(tmp_path / "proc" / "ndtms-episode.parquet")
    assert table.column_names == ["pseudonym", *fields.split(",")]
    assert table.num_rows == shown["rows"] and table.column("initials").null_count == 0
    manifest = json.loads((tmp_path / "proc" / "ndtms-episode.manifest.json").read_text())
    assert {c["name"]: c["class"] for c in manifest["columns"]}["initials"] == "D"
    # The scanner reads the manifest: the agreed identifiers are this file's to carry.
    assert cli.ok("alice", "scan", str(tmp_path / "proc" / "ndtms-episode.parquet"))["ok"]


# ---- item 11: one writer, one lineage ------------------------------------------------------------


def test_every_exit_is_an_artefact_with_lineage(cli: Cli, tmp_path: Path) -> None:
    """Item 11: releases, publications, feedback and previews are written by one writer; each
    carries a manifest of its files' sha256 (and, for what leaves, the signed checkpoint), and
    the lineage finds a person in every artefact that holds them."""
    cli.ok("alice", "recipients", "add", "NDEC", "--kind", "research")
    deal = cli.ok("alice", "agreements", "add", "--recipient", "NDEC", "--tier",
                  "de-personalised", "--datasets", "ndtms-episode", "--fields",
                  "sex,referral_date", "--purposes", "research", "--lawful-basis",
                  "6.1.e,9.2.j", "--expires", EXPIRES, "--no-reidentification-signed")
    shown = _release(cli, "--agreement", deal["agreement_id"], "--dataset", "ndtms-episode",
                     out=tmp_path / "ndec")
    cli.ok("alice", "publish", "ndtms-people-in-treatment", "--period", "2025Q2", "--out",
           str(tmp_path / "pub"))
    listed = cli.ok("alice", "artefacts", "list", "--check")
    kinds = {a["kind"] for a in listed}
    assert {"release", "publication", "preview"} <= kinds
    assert all(a["problems"] == [] for a in listed)
    mine = next(a for a in listed if a["for"] == shown["release_id"])
    assert shown["artefact"] == mine["id"]
    manifest = json.loads((tmp_path / "ndec" / "ndtms-episode.manifest.json").read_text())
    assert manifest["artefact"] == mine["id"] and manifest["for_release"] is True
    names = {f["name"] for f in manifest["files"]}
    assert {"ndtms-episode.parquet", "ndtms-episode.csv",
            "ndtms-episode.checkpoint.json"} == names
    # The extract, the release and the artefact were one transaction: consecutive entries.
    approved = _audit(cli, "release.approved")[-1]
    (written,) = [e for e in _audit(cli, "artefact.written")
                  if e["subject"] == f"artefact:{mine['id']}"]
    (extracted,) = [e for e in _audit(cli, "extract.written")
                    if e["seq"] == approved["seq"] - 1]
    assert written["seq"] == approved["seq"] + 1 and extracted

    # A person in the release is found there through the lineage.
    table = pq.read_table(tmp_path / "ndec" / "ndtms-episode.parquet")
    assert mine["people"] == len(set(table.column("pseudonym").to_pylist()))
    haven = open_haven(Settings(haven=cli.haven))
    try:
        with haven.sessions() as session:
            from sqlalchemy import select

            from carehaven.control.models import ArtefactPerson
            someone = session.scalar(select(ArtefactPerson.person_id).where(
                ArtefactPerson.artefact_id == int(mine["id"][2:])).limit(1))
    finally:
        haven.close()
    found = cli.ok("alice", "artefacts", "find", "--person", str(someone))
    assert mine["id"] in {f["id"] for f in found}


def test_a_crash_after_the_commit_is_finished_by_the_next_step(
    cli: Cli, world: dict[str, Any], tmp_path: Path
) -> None:
    """Item 11: the record commits before the rename; a kill in between leaves the files
    waiting, and the next step puts them in place (nothing half-released)."""
    cli.ok("alice", "recipients", "add", "NDEC-CRASH", "--kind", "research")
    deal = cli.ok("alice", "agreements", "add", "--recipient", "NDEC-CRASH", "--tier",
                  "de-personalised", "--datasets", "ndtms-episode", "--fields", "sex",
                  "--purposes", "research", "--lawful-basis", "6.1.e,9.2.j", "--expires",
                  EXPIRES, "--no-reidentification-signed")
    proposed = cli.ok("alice", "release", "propose", "--agreement", deal["agreement_id"],
                      "--dataset", "ndtms-episode")
    target = tmp_path / "crash"
    env = {**os.environ, **user_env(world["haven"], "bob"),
           "CAREHAVEN_FAULT_POINT": "artefact-committed"}
    r = run("--haven", str(world["haven"]), "release", "approve", proposed["release_id"],
            "--out", str(target), env=env)
    assert r.returncode == 137
    assert not (target / "ndtms-episode.parquet").exists()
    assert cli.ok("alice", "release", "show", proposed["release_id"])["status"] == "written"
    listed = cli.ok("alice", "artefacts", "list", "--check")
    assert all(a["problems"] == [] for a in listed)
    assert (target / "ndtms-episode.parquet").is_file()
    assert not list(target.glob(".artefact-*"))


# ---- items 7, 12 and 17: feedback ------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())


def _open_episode(world: dict[str, Any], org: str) -> dict[str, str]:
    """An open, consented episode in treatment at ``org`` in 2025Q2 (the victim's)."""
    f = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == org
             and f.period == "2025Q2")
    _, rows = _rows(world["returns"] / f.path)
    return next(r for r in rows if not r["discharge_date"] and r["consent_ndtms"] == "Y"
                and r["initials"] and r["date_of_birth"] and r["postcode_district"])


def test_feedback_is_no_lookup_oracle(cli: Cli, world: dict[str, Any], tmp_path: Path) -> None:
    """Item 12: a provider that invents a row carrying someone's identifiers is not told who
    else treats them: the match is held for the data team, and only a person releases it.
    Item 7: every disclosure is audited with the provider and counts, never who. Item 17:
    the feedback CSV is formula-safe."""
    victim = _open_episode(world, "P002")
    f = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == "P001"
             and f.period == "2025Q2")
    header, rows = _rows(world["returns"] / f.path)
    invented = {**victim, "provider_code": "P001", "client_ref": '=HYPERLINK("http://x","y")',
                "episode_id": "INVENTED-1", "transferred_from_provider": ""}
    resubmission = tmp_path / "P001_2025Q2.csv"
    _write(resubmission, header, [*rows, invented])
    sub = cli.ok("alice", "submit", str(resubmission), "--dataset", "ndtms-episode",
                 "--org", "P001", "--period", "2025Q2")
    assert sub["rows"]["rejected"] == 0
    cli.ok("alice", "link")

    out = tmp_path / "fb.csv"
    told = cli.ok("alice", "feedback", "--org", "P001", "--out", str(out))
    assert told["held_for_review"] >= 1
    _, got = _rows(out)
    assert all("HYPERLINK" not in r["client_ref"] for r in got)
    holds = cli.ok("alice", "feedback", "holds")
    assert any(h["org"] == "P001" and h["reason"] == "new-client" for h in holds)
    text = json.dumps(_audit(cli, "feedback.disclosed") + _audit(cli, "feedback.held"))
    assert "HYPERLINK" not in text and victim["initials"] not in text.replace('"', " ")
    disclosed = _audit(cli, "feedback.disclosed")[-1]
    details = json.loads(disclosed["details"])
    assert details["org"] == "P001" and details["clients"] == told["clients_with_other_providers"]

    # Only a data-team decision tells the provider; then the CSV cell is neutralised.
    for h in (h for h in holds if h["org"] == "P001"):
        cli.ok("alice", "feedback", "release", h["hold"])
    out2 = tmp_path / "fb2.csv"
    cli.ok("alice", "feedback", "--org", "P001", "--out", str(out2))
    raw = out2.read_text()
    assert "'=HYPERLINK" in raw and "\n=HYPERLINK" not in raw and ",=HYPERLINK" not in raw
    _, again = _rows(out2)
    assert {r["other_provider"] for r in again if "HYPERLINK" in r["client_ref"]} == {"P002"}


def test_released_csv_cells_are_formula_safe(
    cli: Cli, world: dict[str, Any], tmp_path: Path
) -> None:
    """Item 17: values a spreadsheet would run reach a recipient's CSV only neutralised; the
    Parquet beside it keeps them as they were sent."""
    f = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == "P003"
             and f.period == "2025Q2")
    header, rows = _rows(world["returns"] / f.path)
    payloads = ["=1+2", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1", " =HYPERLINK(1)"]
    consented = [r for r in rows if r["consent_ndtms"] == "Y"][: len(payloads)]
    for row, payload in zip(consented, payloads, strict=True):
        row["episode_id"] = payload
    changed = tmp_path / "P003_2025Q2.csv"
    _write(changed, header, rows)
    sub = cli.ok("alice", "submit", str(changed), "--dataset", "ndtms-episode", "--org",
                 "P003", "--period", "2025Q2")
    assert sub["rows"]["rejected"] == 0, sub
    cli.ok("alice", "link")
    cli.ok("alice", "recipients", "add", "CSVTEST", "--kind", "research")
    deal = cli.ok("alice", "agreements", "add", "--recipient", "CSVTEST", "--tier",
                  "de-personalised", "--datasets", "ndtms-episode", "--fields",
                  "provider_code,episode_id", "--purposes", "research", "--lawful-basis",
                  "6.1.e,9.2.j", "--expires", EXPIRES, "--no-reidentification-signed",
                  "--orgs", "P003")
    _release(cli, "--agreement", deal["agreement_id"], "--dataset", "ndtms-episode",
             out=tmp_path / "csv")
    with (tmp_path / "csv" / "ndtms-episode.csv").open(newline="") as fh:
        cells = [r["episode_id"] for r in csv.DictReader(fh)]
    for payload in payloads:
        assert payload not in cells and "'" + payload in cells
    parquet = pq.read_table(tmp_path / "csv" / "ndtms-episode.parquet")
    assert set(payloads) <= set(parquet.column("episode_id").to_pylist())
    dangerous = [c for c in cells if c.lstrip(" \t\r\n")[:1] in ("=", "+", "@")]
    assert dangerous == []


# ---- item 14: another key is refused ------------------------------------------------------------


def test_a_wrong_master_key_is_refused_before_anything_happens(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Item 14: a random CAREHAVEN_MASTER_KEY or another haven's key file: exit 10, and nothing
    is landed or linked under it."""
    haven = world["haven"]
    landed = sorted(p.name for p in (haven / "landing").iterdir())
    wrong = base64.b64encode(os.urandom(32)).decode()
    f = next(f for f in world["files"] if f.dataset == "ndtms-episode")
    for args in (["link"], ["submit", str(world["returns"] / f.path), "--dataset",
                            f.dataset, "--org", f.org, "--period", f.period]):
        r = run("--haven", str(haven), *args,
                env={**user_env(haven, "alice"), "CAREHAVEN_MASTER_KEY": wrong})
        assert r.returncode == 10, r.stderr
        assert "not this haven's key" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (haven / "landing").iterdir()) == landed

    other = tmp_path / "other"
    assert run("--haven", str(other), "init").returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(haven, copy)
    (copy / "keys" / "haven.key").unlink()
    shutil.copy2(other / "keys" / "haven.key", copy / "keys" / "haven.key")
    r = run("--haven", str(copy), "orgs", "list", env=user_env(haven, "alice"))
    assert r.returncode == 10 and "not this haven's key" in r.stderr

