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

from carehaven.access.users import add_user, grant
from carehaven.config import Settings
from carehaven.haven import open_haven
from carehaven.identity.link import link
from tests.e2e.test_cli import run
from tests.linkage import build
from tests.people import Cli, user_env

pytestmark = pytest.mark.slow

EXPIRES = (date.today() + timedelta(days=365)).isoformat()
IPS_PURPOSE = "ips-employment-outcomes"
#: What notice 001 lets HMRC receive (XCH-1).
HMRC_FIELDS = "initials,date_of_birth,sex,postcode,nino"


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
                  "--datasets", "ips-episode", "--fields", HMRC_FIELDS,
                  "--purposes", IPS_PURPOSE, "--lawful-basis", "6.1.e,9.2.h", "--expires",
                  EXPIRES)
    code, _, err = cli("alice", "release", "propose", "--agreement", deal["agreement_id"],
                       "--dataset", "ips-episode")
    assert code == 13 and "read-ips-identifiable" in err


def test_scan_is_no_look_up_for_identifiers(cli: Cli, world: dict[str, Any],
                                           tmp_path: Path) -> None:
    """Item 2 (SHR-6) and the scan as an oracle: a file the haven did not write gets a yes or
    no only; IPS identifiers are checked only for the IPS team; every scan is audited."""
    ninos = [n for n, c in _ips_consent(world).items() if c == "Y"][:1]
    probe = tmp_path / "probe.csv"
    probe.write_text(f"c1,c2\n{ninos[0]},AB123456C\n")
    plain = cli.ok("alice", "scan", str(probe))
    assert plain == {"ok": True, "hits": 0}  # NI numbers are IPS identifiers: not alice's
    code, out, _ = cli("ivy", "scan", str(probe), "--json")
    assert code == 11 and json.loads(out) == {"ok": False, "hits": None}
    code, out, _ = cli("ivy", "scan", str(probe))
    assert "c1" not in out and ninos[0] not in out
    scans = [json.loads(e["details"]) for e in _audit(cli, "file.scanned")]
    assert [(s["result"], s["ips_checked"], s["written_here"]) for s in scans[-3:]] == [
        ("clean", 0, 0), ("identifying", 1, 0), ("identifying", 1, 0)]
    assert ninos[0] not in json.dumps(scans)


# ---- item 3: SHR-2 names HMRC ------------------------------------------------------------------


def test_personal_ips_goes_to_the_named_hmrc_partner_only(
    cli: Cli, world: dict[str, Any], tmp_path: Path
) -> None:
    """SHR-2, SHR-6, CON-1: a department or another partner is refused personal IPS data even
    with consent; HMRC gets the consenting people only."""
    for code_, kind in (("DWP", "government"), ("XPARTNER", "partner")):
        cli.ok("alice", "recipients", "add", code_, "--kind", kind)
        deal = cli.ok("alice", "agreements", "add", "--recipient", code_, "--tier",
                      "personal", "--datasets", "ips-episode", "--fields",
                      HMRC_FIELDS, "--purposes", IPS_PURPOSE,
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
    assert table.column_names == ["pseudonym", *HMRC_FIELDS.split(",")]
    # Every person sent consented on the form: checked against the returns themselves.
    consent = _ips_consent(world)
    assert {consent[n] for n in table.column("nino").to_pylist()} == {"Y"}
    assert sum(v == "Y" for v in consent.values()) >= len(set(table.column("nino").to_pylist()))
    # Nothing about treatment, whatever an agreement says (XCH-1).
    wide = cli.ok("alice", "agreements", "add", "--recipient", "HMRC", "--tier", "personal",
                  "--datasets", "ips-episode", "--fields", HMRC_FIELDS + ",job_start_date",
                  "--purposes", IPS_PURPOSE, "--lawful-basis", "6.1.e,9.2.h", "--expires",
                  EXPIRES)
    code, out, _ = cli("ivy", "release", "propose", "--agreement", wide["agreement_id"],
                       "--dataset", "ips-episode", "--json")
    assert code == 14 and "XCH-1" in {r["requirement"] for r in json.loads(out)["reasons"]}
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


def _ips_consent(world: dict[str, Any]) -> dict[str, str]:
    """Each NI number in the IPS returns, and whether its row consented (consent_dhsc)."""
    out: dict[str, str] = {}
    for f in world["files"]:
        if f.dataset == "ips-episode":
            with (world["returns"] / f.path).open(newline="") as fh:
                for r in csv.DictReader(fh):
                    if r["nino"]:
                        out[r["nino"].replace(" ", "").upper()] = r["consent_dhsc"]
    return out


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
    haven = open_haven(Settings.load(haven=cli.haven))
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


def _open_episodes(world: dict[str, Any], org: str) -> list[dict[str, str]]:
    """Open, consented episodes in treatment at ``org`` in 2025Q2 (the victims')."""
    f = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == org
             and f.period == "2025Q2")
    _, rows = _rows(world["returns"] / f.path)
    return [r for r in rows if not r["discharge_date"] and r["consent_ndtms"] == "Y"
            and r["initials"] and r["date_of_birth"] and r["postcode_district"]]


def test_feedback_is_no_lookup_oracle(cli: Cli, world: dict[str, Any], tmp_path: Path) -> None:
    """Item 12: a provider that invents rows carrying someone's identifiers is not told who
    else treats them, whether the row reuses an old client reference or a new one, and the
    other provider is not told either; only a person releases a held match, and the provider
    is not even told that something is held. Item 7: every disclosure is audited with the
    provider and counts, never who. Item 17: the feedback CSV is formula-safe."""
    # The matches of the haven's first link were all new; the data team confirmed them.
    first = cli.ok("alice", "feedback", "holds")
    assert first and {h["reason"] for h in first} == {"new-match"}
    assert all(set(h["evidence"]) == {"here", "other"} for h in first)
    cli.ok("alice", "feedback", "release", *[h["hold"] for h in first])
    before = tmp_path / "before.csv"
    told = cli.ok("alice", "feedback", "--org", "P001", "--out", str(before))
    assert "held_for_review" not in told
    _, baseline = _rows(before)

    # P001 invents two rows with P002 clients' identifiers: one under an old client
    # reference of its own (from 2025Q1, not in 2025Q2), one under a new formula reference.
    v1, v2 = _open_episodes(world, "P002")[:2]
    q1 = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == "P001"
              and f.period == "2025Q1")
    q2 = next(f for f in world["files"] if f.dataset == "ndtms-episode" and f.org == "P001"
              and f.period == "2025Q2")
    header, rows = _rows(world["returns"] / q2.path)
    _, earlier = _rows(world["returns"] / q1.path)
    old_ref = next(r["client_ref"] for r in earlier
                   if r["client_ref"] not in {x["client_ref"] for x in rows})
    formula = '=HYPERLINK("http://x","y")'
    invented = [
        {**v1, "provider_code": "P001", "client_ref": old_ref, "episode_id": "INVENTED-1",
         "transferred_from_provider": ""},
        {**v2, "provider_code": "P001", "client_ref": formula, "episode_id": "INVENTED-2",
         "transferred_from_provider": ""},
    ]
    resubmission = tmp_path / "P001_2025Q2.csv"
    _write(resubmission, header, [*rows, *invented])
    sub = cli.ok("alice", "submit", str(resubmission), "--dataset", "ndtms-episode",
                 "--org", "P001", "--period", "2025Q2")
    assert sub["rows"]["rejected"] == 0
    cli.ok("alice", "link")

    out = tmp_path / "fb.csv"
    told = cli.ok("alice", "feedback", "--org", "P001", "--out", str(out))
    _, got = _rows(out)
    refs = {r["client_ref"] for r in got}
    assert old_ref not in refs and not any("HYPERLINK" in r for r in refs)
    assert refs <= {r["client_ref"] for r in baseline}  # nothing new is told
    assert "held" not in json.dumps(told)
    # The other provider is not told about P001's made-up clients either.
    theirs = tmp_path / "p002.csv"
    cli.ok("alice", "feedback", "--org", "P002", "--out", str(theirs))
    _, p002 = _rows(theirs)
    assert not {(r["client_ref"], r["other_provider"]) for r in p002} & {
        (v1["client_ref"], "P001"), (v2["client_ref"], "P001")}

    held = [h for h in cli.ok("alice", "feedback", "holds")
            if {h["org"], h["other_org"]} == {"P001", "P002"}]
    assert {(h["org"], h["other_org"]) for h in held} == {("P001", "P002"), ("P002", "P001")}
    assert any(h["evidence"]["here"]["by_resubmission"] for h in held if h["org"] == "P001")
    text = json.dumps(held + _audit(cli, "feedback.disclosed") + _audit(cli, "feedback.held"))
    for secret in ("HYPERLINK", old_ref, v1["date_of_birth"], v2["date_of_birth"]):
        assert secret not in text
    disclosed = json.loads(_audit(cli, "feedback.disclosed")[-1]["details"])
    assert disclosed["org"] == "P002"
    assert disclosed["clients"] == len({r["client_ref"] for r in p002})

    # Only a data-team decision tells the provider; then the CSV cell is neutralised.
    cli.ok("alice", "feedback", "release", *[h["hold"] for h in held if h["org"] == "P001"])
    out2 = tmp_path / "fb2.csv"
    cli.ok("alice", "feedback", "--org", "P001", "--out", str(out2))
    raw = out2.read_text()
    assert "'=HYPERLINK" in raw and "\n=HYPERLINK" not in raw and ",=HYPERLINK" not in raw
    _, again = _rows(out2)
    assert {r["other_provider"] for r in again if r["client_ref"] in (old_ref, "'" + formula)
            or "HYPERLINK" in r["client_ref"]} == {"P002"}


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

