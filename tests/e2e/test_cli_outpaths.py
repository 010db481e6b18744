"""What an outside tester found, through the command line (issue 12, the tester's defects 1-6):
a submitter overwriting the haven's key and database through ``--out``; identifiers in a file's
name kept and shown; cell values quoted by ``disclosure check``; tracebacks from user text read
as Rich markup and from over-long labels; future periods accepted; any partner sending
``hmrc-return``.

One small synthetic haven for the module: two founding data-team users (alice, bob), then
submitters for a treatment service (sam, for SUB), the HMRC partner (hal) and another partner
(pat, PART2).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from carehaven import clock
from carehaven.access import auth
from carehaven.access.users import add_user
from carehaven.cli import main
from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.governance.policy.engine import partners
from carehaven.identity.link import link
from carehaven.publish.definitions import definitions
from carehaven.synth.organisations import HMRC
from tests.helpers import csv_bytes, episode
from tests.linkage import build
from tests.people import CHEAP, token_for, user_env

#: The tester's file name: an LA code, the period, a 10-digit number, a given and family name.
LEAKY = "E08000035_2025Q2_4283089648_Declan_Phillips.csv"
LEAKY_PARTS = ("4283089648", "declan", "phillips")
LEAKY_SHAPE = "A99999999*9999A9*9999999999*AAAAAA*AAAAA…"  # 40 characters at most
FAR = f"{clock.today().year + 5}Q4"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(auth, "HASHER", CHEAP)  # these tests are not about argon2's cost
        yield _world(tmp_path_factory.mktemp("outpaths"))


def _world(root: Path) -> dict[str, Any]:
    # A small synthetic haven with every dataset (the exits through the artefact writer build
    # the personal tier of all of them); its organisations include HMRC, a partner.
    haven, _ = build(root / "haven", root / "returns", people=60, seed=3, periods=("2025Q2",))
    for code, kind in (("SUB", "treatment-service"), ("PART2", "partner")):
        haven.add_organisation(code, kind, code, actor="test")
    for name in ("alice", "bob"):  # the founding data team, before anyone else
        add_user(haven, name, name.title(), None, roles=["data-team"], actor="test")
    for name, org in (("sam", "SUB"), ("hal", "HMRC"), ("pat", "PART2")):
        add_user(haven, name, name.title(), org, roles=["submitter"], actor="test")
    good = root / "SUB_2025Q2.csv"
    good.write_bytes(csv_bytes([episode(provider_code="SUB", client_ref=f"C{i}",
                                        episode_id=f"E{i}") for i in range(3)]))
    first = submit(haven, good, dataset="ndtms-episode", org="SUB", period="2025Q2",
                   actor="test")
    assert first.status == "accepted"
    link(haven, actor="test")
    haven.close()
    return {"root": root, "haven": root / "haven", "sid": first.submission_id}


class Cli:
    """The entry point in this process, as a user: (exit code, stdout, stderr)."""

    def __init__(self, haven: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.haven, self.capsys, self.monkeypatch = haven, capsys, monkeypatch

    def __call__(self, user: str, *args: str) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            for key in ("CAREHAVEN_USER", "CAREHAVEN_TOKEN"):
                m.delenv(key, raising=False)
            for key, value in user_env(self.haven, user).items():
                m.setenv(key, value)
            self.capsys.readouterr()
            code = main(["--haven", str(self.haven), *args])
            out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(world: dict[str, Any], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world["haven"], capsys, monkeypatch)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def untouched(world: dict[str, Any]) -> Iterator[None]:
    """The master key is byte for byte the same afterwards, the control database is still a
    database, and nothing new appeared among the haven's keys."""
    haven = world["haven"]
    key, keys = _digest(haven / "keys" / "haven.key"), sorted((haven / "keys").iterdir())
    yield
    assert _digest(haven / "keys" / "haven.key") == key
    assert sorted((haven / "keys").iterdir()) == keys
    assert (haven / "control.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"


# ---- 1. output paths ---------------------------------------------------------------------------

#: Each command that writes a file the user names, as (user, arguments before the path, option).
WRITERS = {
    "report": ("sam", ["report", "{sid}", "--format", "csv"], "--out"),
    "notice render": ("alice", ["notice", "render", "--collection", "ndtms"], "--out"),
    "register": ("alice", ["register"], "--out"),
}


def _writer(world: dict[str, Any], which: str) -> tuple[str, list[str], str]:
    user, args, option = WRITERS[which]
    return user, [a.format(sid=world["sid"]) for a in args], option


def _bad_targets(haven: Path, tmp_path: Path) -> dict[str, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keys").symlink_to(haven / "keys")
    (outside / "key.csv").symlink_to(haven / "keys" / "haven.key")
    (outside / "dangling.csv").symlink_to(haven / "keys" / "planted.csv")
    (outside / "mine.csv").write_text("keep me\n")
    return {
        "the master key": haven / "keys" / "haven.key",
        "the control database": haven / "control.sqlite",
        "a new file among the keys": haven / "keys" / "new.csv",
        "a new file at the haven's top": haven / "new.csv",
        "the haven's own reports": haven / "reports" / "new.csv",
        "the previews": haven / "previews" / "new.csv",
        "a link to the master key": outside / "key.csv",
        "a dangling link into the keys": outside / "dangling.csv",
        "a folder that is a link into the haven": outside / "keys" / "new.csv",
        "an existing file outside": outside / "mine.csv",
    }


@pytest.mark.parametrize("which", sorted(WRITERS))
def test_a_named_output_never_lands_in_the_haven_or_over_a_file(
        cli: Cli, world: dict[str, Any], tmp_path: Path, untouched: None, which: str) -> None:
    """Defect 1: every refusal is exit 2 with a sentence naming the path, before a byte is
    written; nothing among the keys changes, and no link is followed."""
    haven = world["haven"]
    user, args, option = _writer(world, which)
    targets = _bad_targets(haven, tmp_path)
    if which != "report":  # one command sees every case; the others share its check
        targets = {k: targets[k] for k in ("the master key", "the control database",
                                            "a link to the master key",
                                            "a folder that is a link into the haven",
                                            "a dangling link into the keys")}
    for why, target in targets.items():
        code, out, err = cli(user, *args, option, str(target))
        assert code == 2, (why, out, err)
        assert str(target) in _flat(err) and "Traceback" not in err, why
    assert not (haven / "keys" / "planted.csv").exists()
    assert (tmp_path / "outside" / "mine.csv").read_text() == "keep me\n"
    assert (tmp_path / "outside" / "key.csv").is_symlink()

    fresh = tmp_path / "outside" / "fresh.txt"
    code, _, err = cli(user, *args, option, str(fresh))
    assert code == 0, err
    assert fresh.stat().st_size > 0 and fresh.stat().st_mode & 0o077 == 0
    code, _, err = cli(user, *args, option, str(fresh))  # never over it, even its own
    assert code == 2 and "does not overwrite it unless you add --force" in _flat(err)

    kept = haven / "outputs" / f"{which.replace(' ', '-')}-{tmp_path.name}.txt"
    code, _, err = cli(user, *args, option, str(kept))
    assert code == 0, err
    assert kept.is_file()
    kept.unlink()


def test_the_sentences_say_why(cli: Cli, world: dict[str, Any], tmp_path: Path,
                               untouched: None) -> None:
    haven = world["haven"]
    user, args, option = _writer(world, "report")
    targets = _bad_targets(haven, tmp_path)
    said = {why: _flat(cli(user, *args, option, str(t))[2]) for why, t in targets.items()}
    inside = f"is inside the haven, where carehaven writes what you name only under its " \
             f"outputs folder ({haven / 'outputs'})"
    assert inside in said["the master key"] and inside in said["the control database"]
    assert inside in said["a folder that is a link into the haven"]
    assert "is a symbolic link" in said["a link to the master key"]
    assert "is a symbolic link" in said["a dangling link into the keys"]
    assert "does not overwrite it unless you add --force" in said["an existing file outside"]
    nowhere = tmp_path / "absent" / "r.csv"
    assert f"There is no folder {nowhere.parent} to write {nowhere} into." in _flat(
        cli(user, *args, option, str(nowhere))[2])


def test_a_link_swapped_in_after_the_check_is_not_followed(
        cli: Cli, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        untouched: None) -> None:
    """The race: a link planted at the name after the checks, or a folder that the name
    check did not catch, still cannot redirect the write (O_EXCL | O_NOFOLLOW, and the folder
    actually opened is checked by device and inode)."""
    from carehaven.haven import outpath

    haven = world["haven"]
    user, args, option = _writer(world, "report")
    target = tmp_path / "raced.csv"
    checked = outpath.check_file

    def passed_then_planted(_h: Any, path: Path, **_force: bool) -> Path:
        """The checks passed; then, before the file is made, a link appears at its name."""
        if not target.is_symlink():
            target.symlink_to(haven / "keys" / "haven.key")
        return path.absolute()

    monkeypatch.setattr(outpath, "check_file", passed_then_planted)
    code, _, err = cli(user, *args, option, str(target))
    assert code == 2 and "appeared while carehaven was writing" in _flat(err)
    monkeypatch.setattr(outpath, "check_file", checked)

    (tmp_path / "keys").symlink_to(haven / "keys")
    monkeypatch.setattr(outpath, "_check_where", lambda *_a: None)  # fooled by the name
    code, _, err = cli(user, *args, option, str(tmp_path / "keys" / "r.csv"))
    assert code == 2 and "is inside the haven" in _flat(err)
    assert not (haven / "keys" / "r.csv").exists()


def test_link_report_goes_to_a_new_or_empty_folder_outside(
        cli: Cli, world: dict[str, Any], tmp_path: Path, untouched: None) -> None:
    """``link --report DIR`` once wrote its charts into ``keys/``: refused (before linking),
    as is a link, a file, a non-empty folder; a new folder outside is made owner-only."""
    haven = world["haven"]
    (tmp_path / "keys").symlink_to(haven / "keys")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    for target in (haven / "keys", haven / "reports", haven, tmp_path / "keys",
                   tmp_path / "keys" / "new", tmp_path / "full", tmp_path / "file"):
        code, out, err = cli("alice", "link", "--report", str(target))
        assert code == 2 and str(target) in _flat(err), (target, out, err)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["x"]
    code, _, err = cli("alice", "link", "--report", str(tmp_path / "quality"))
    assert code == 0, err
    assert (tmp_path / "quality" / "index.html").is_file()
    assert (tmp_path / "quality").stat().st_mode & 0o077 == 0


def test_the_artefact_writer_exits_refuse_links_too(
        cli: Cli, world: dict[str, Any], tmp_path: Path, untouched: None) -> None:
    """``feedback --out`` goes through the artefact writer: a link to a file is refused, a
    folder that links into the haven is refused, and a dangling link is never followed."""
    haven = world["haven"]
    (tmp_path / "mine.csv").write_text("keep me\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "mine.csv")
    (tmp_path / "keys").symlink_to(haven / "keys")
    for target in (tmp_path / "link.csv", tmp_path / "keys" / "f.csv"):
        code, out, err = cli("alice", "feedback", "--org", "SUB", "--out", str(target))
        assert code == 2, (target, out, err)
    assert (tmp_path / "mine.csv").read_text() == "keep me\n"
    assert not (haven / "keys" / "f.csv").exists()
    (tmp_path / "dangling.csv").symlink_to(haven / "keys" / "planted.csv")
    cli("alice", "feedback", "--org", "SUB", "--out", str(tmp_path / "dangling.csv"))
    assert not (haven / "keys" / "planted.csv").exists()


@pytest.mark.slow
def test_as_the_tester_ran_it(world: dict[str, Any], tmp_path: Path) -> None:
    """The tester's command, in a child process: exit 2 and the key is intact."""
    from tests.e2e.test_cli import run

    key = world["haven"] / "keys" / "haven.key"
    before = _digest(key)
    done = run("--haven", str(world["haven"]), "report", world["sid"], "--format", "csv",
               "--out", str(key), env=user_env(world["haven"], "sam"))
    assert done.returncode == 2 and str(key) in _flat(done.stderr)
    assert _digest(key) == before


# ---- 2. a file's name -------------------------------------------------------------------------


def _haven_text(haven: Path) -> str:
    """Every byte of every file in the haven, as text (the landing zone is ciphertext)."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(haven.rglob("*"))
                     if p.is_file()).casefold()


def test_identifiers_in_a_file_name_are_kept_nowhere(
        cli: Cli, world: dict[str, Any], tmp_path: Path) -> None:
    """Defect 2: only the name's shape reaches stdout, --json, submissions.file_name and
    .message, summary.json, findings.parquet, every report format and the audit log; a
    conventional name is kept as it is."""
    haven = world["haven"]
    leaky_dir = tmp_path / "in"
    leaky_dir.mkdir()
    leaky = leaky_dir / LEAKY
    leaky.write_bytes(b"")  # empty: a file-level finding, whose message names the file
    args = ["--dataset", "ndtms-episode", "--org", "SUB", "--period", "2025Q2"]
    seen: list[str] = []
    code, out, err = cli("sam", "submit", str(leaky), *args)
    assert code == 3
    seen += [out, err]
    assert f"{LEAKY_SHAPE}.csv is empty." in _flat(out)
    code, out, err = cli("sam", "submit", str(leaky), *args, "--json")
    seen += [out, err]
    sid = json.loads(out)["submission_id"]  # the same bytes: "unchanged", same id

    # As many clients as the return in force, so the supersession guard does not hold it.
    leaky.write_bytes(csv_bytes([episode(provider_code="SUB", client_ref=f"D{i}",
                                         episode_id=f"D{i}") for i in range(3)]))
    code, out, err = cli("sam", "submit", str(leaky), *args, "--json")
    assert code == 0, err
    seen += [out, err]
    accepted = json.loads(out)["submission_id"]

    for s in (sid, accepted):
        for fmt in ("html", "json", "csv"):
            code, out, err = cli("sam", "report", s, "--format", fmt, "--stdout")
            assert code == 0
            seen += [out, err]
    code, out, err = cli("alice", "audit", "show", "--limit", "100000", "--json")
    seen += [out, err]
    code, out, err = cli("sam", "submissions", "--json")
    seen += [out, err]
    code, out, err = cli("sam", "submit", str(leaky_dir / "Declan_4283089648.csv"), *args)
    assert code == 2 and "There is no file" in err
    seen += [out, err]

    db = sqlite3.connect(haven / "control.sqlite")
    try:
        names = dict(db.execute("SELECT id, file_name FROM submissions").fetchall())
        messages = [m for (m,) in db.execute("SELECT message FROM submissions")]
    finally:
        db.close()
    assert names[sid] == names[accepted] == f"{LEAKY_SHAPE}.csv"
    assert names[world["sid"]] == "SUB_2025Q2.csv"  # conventional: kept
    summary = json.loads((haven / "reports" / sid / "summary.json").read_text())
    assert summary["file_name"] == f"{LEAKY_SHAPE}.csv"
    findings = pq.read_table(haven / "reports" / sid / "findings.parquet").to_pylist()
    everything = " ".join([*seen, *messages, json.dumps(findings), _haven_text(haven)])
    for part in LEAKY_PARTS:
        assert part not in everything.casefold(), part


@pytest.mark.parametrize(("name", "kept"), [
    ("SUB_2025Q2.csv", True),
    ("sub-ndtms-episode-2025Q2-v2.csv", True),
    ("SUB_2025_Q2_3.CSV", True),
    ("ndtms_episode.csv", True),
    ("SUB_2025Q2_Declan.csv", False),
    ("SUB_2025Q2_123456.csv", False),
    ("SUB 2025Q2.csv", False),
    ("SUB_2025Q2.xlsx", False),
    ("4283089648.csv", False),
])
def test_which_file_names_are_kept(cli: Cli, tmp_path: Path, name: str, kept: bool) -> None:
    """The rule (docs/security.md): letters, digits, ``_-.``, ``.csv``, and only the org
    code, the dataset's words, the period's and a short counter; else the shape."""
    path = tmp_path / name
    path.write_bytes(b"\xff" + name.encode())  # not UTF-8: rejected, the name in the message
    code, out, _ = cli("sam", "submit", str(path), "--dataset", "ndtms-episode", "--org",
                       "SUB", "--period", "2025Q2", "--json")
    assert code == 3
    message = json.loads(out)["message"]
    assert message.startswith(f"{name} is not UTF-8") is kept, message


# ---- 3 and 4. disclosure check and Rich markup ------------------------------------------------


def _published(tmp_path: Path, rows: list[str], header: str = "area,value") -> Path:
    path = tmp_path / "table.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_disclosure_check_names_cells_by_place_and_shape(cli: Cli, tmp_path: Path) -> None:
    """Defect 3: a cell or header is named by row, column and shape, never by its value;
    the markers ``[c]`` and ``[x]`` survive in the sentence."""
    path = _published(tmp_path, ["E06,5", "E07,Declan4283089648", "Total,9"])
    code, out, err = cli("alice", "disclosure", "check", str(path))
    said = _flat(err)
    assert code == 2 and "Traceback" not in out + err
    assert "declan" not in (out + err).casefold() and "4283089648" not in out + err
    assert "row 3, column 2 ('value') holds text shaped 'AAAAAA9999999999'" in said
    assert "([c] or [x])" in said
    code, out, _ = cli("alice", "disclosure", "check", str(path), "--json")
    assert code == 2 and "AAAAAA9999999999" in json.loads(out)["error"]["message"]

    header = _published(tmp_path, ["E06,5,1"], header="Declan_Phillips,Declan_Phillips,value")
    code, out, err = cli("alice", "disclosure", "check", str(header))
    assert code == 2 and "row 1, column 2: the heading (a heading shaped 'AAAAAA*AAAAAAAA') is " \
        "repeated" in _flat(err)
    assert "declan" not in (out + err).casefold()


@pytest.mark.parametrize("cell", ["[/bold]", "[/x]", "[red]"])
def test_markup_in_a_cell_is_a_sentence(cli: Cli, tmp_path: Path, cell: str) -> None:
    path = _published(tmp_path, ["E06,5", f"E07,{cell}", "Total,9"])
    code, out, err = cli("alice", "disclosure", "check", str(path))
    assert code == 2 and "Traceback" not in out + err and "MarkupError" not in out + err


@pytest.mark.parametrize(("user", "args", "expected"), [
    ("alice", ["release", "show", "R-[/x]"], "'R-[/x]' is not a R-number"),
    ("alice", ["persons", "count", "--dataset", "[/x]"], "[/x] does not identify people"),
    ("alice", ["release", "show", "R-99999999999999999999"], "at most nine digits"),
    ("alice", ["release", "show", "R-²"], "at most nine digits"),
    ("bob", ["release", "approve", "R-99999999999999999999"], "at most nine digits"),
    ("alice", ["feedback", "release", "FH-99999999999999999999"], "at most nine digits"),
    ("alice", ["feedback", "refuse", "FH-[/x]"], "'FH-[/x]' is not a hold"),
    ("alice", ["agreements", "revoke", "A-99999999999999999999"], "at most nine digits"),
])
def test_user_text_and_long_labels_give_a_sentence(
        cli: Cli, user: str, args: list[str], expected: str) -> None:
    """Defect 4: exit 2 and one sentence, never exit 1, a MarkupError or an OverflowError."""
    code, out, err = cli(user, *args)
    assert code == 2, (out, err)
    assert expected in _flat(err) and "Traceback" not in out + err
    code, out, _ = cli(user, *args, "--json")
    assert code == 2 and expected in json.loads(out)["error"]["message"]


def test_counting_by_a_grouping_twice_counts_it_once(cli: Cli) -> None:
    code, out, err = cli("alice", "persons", "count", "--dataset", "ndtms-episode", "--by",
                         "period,period", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows and all(set(r) == {"dataset", "period", "people"} for r in rows)
    assert len({r["period"] for r in rows}) == len(rows)


# ---- 5. periods still to come -----------------------------------------------------------------


@pytest.fixture
def mid_july(world: dict[str, Any]) -> Iterator[None]:
    token_for(world["haven"], "sam")  # issued today, so it still works after the test
    clock.set_clock(lambda: datetime(2025, 7, 15, 9, 30, tzinfo=UTC))
    yield
    clock.set_clock(None)


def test_a_period_that_has_not_begun_is_refused(cli: Cli, world: dict[str, Any],
                                                tmp_path: Path) -> None:
    """Defect 5: submit and publish refuse a period whose first day is after today."""
    path = tmp_path / "SUB_future.csv"
    path.write_bytes(csv_bytes([episode(provider_code="SUB")]))
    landed = sorted((world["haven"] / "landing").rglob("*"))
    code, _, err = cli("sam", "submit", str(path), "--dataset", "ndtms-episode", "--org",
                       "SUB", "--period", FAR)
    assert code == 2 and f"Period {FAR} has not begun yet" in _flat(err)
    assert sorted((world["haven"] / "landing").rglob("*")) == landed
    name = next(iter(definitions()))
    code, _, err = cli("alice", "publish", name, "--period", FAR, "--out",
                       str(tmp_path / "pub"))
    assert code == 2 and f"Period {FAR} has not begun yet" in _flat(err)
    assert not (tmp_path / "pub").exists()


def test_the_current_period_has_begun(cli: Cli, tmp_path: Path, mid_july: None) -> None:
    """On 15 July 2025 (a fixed clock), 2025Q3 has begun and 2025Q4 has not; the synthetic
    periods of the other tests (2025Q2) are in the past either way."""
    path = tmp_path / "SUB.csv"
    for period, begun in (("2025Q2", True), ("2025Q3", True), ("2025Q4", False)):
        path.write_bytes(csv_bytes([episode(provider_code="SUB", client_ref=period)]))
        code, _, err = cli("sam", "submit", str(path), "--dataset", "ndtms-episode", "--org",
                           "SUB", "--period", period)
        assert ("has not begun yet" in _flat(err)) is not begun, (period, err)
        if not begun:
            assert code == 2


# ---- 6. hmrc-return from HMRC only --------------------------------------------------------------


def test_only_the_named_hmrc_partner_returns_hmrc_return(
        cli: Cli, world: dict[str, Any], tmp_path: Path) -> None:
    """Defect 6: another partner is refused before anything lands (exit 15, audited as
    submission.refused); HMRC itself still submits. The synthetic HMRC has the policy's code."""
    (hmrc,) = [p for p in partners() if p.name == "hmrc"]
    assert hmrc.recipient == HMRC == "HMRC"
    path = tmp_path / "PART2_2025Q2.csv"
    path.write_bytes(csv_bytes([{"match_ref": "M1", "matched": "N"}]))
    landed = sorted((world["haven"] / "landing").rglob("*"))
    code, out, err = cli("pat", "submit", str(path), "--dataset", "hmrc-return", "--org",
                         "PART2", "--period", "2025Q2")
    sentence = ("Organisation PART2, of kind partner, may not submit hmrc-return: only HM "
                "Revenue and Customs (HMRC), the partner the sharing policy names, returns it "
                "(COL-9). Nothing was landed.")
    assert code == 15 and sentence in _flat(err)
    assert sorted((world["haven"] / "landing").rglob("*")) == landed
    code, out, _ = cli("alice", "audit", "show", "--limit", "100000", "--json")
    refused = [json.loads(e["details"]) for e in json.loads(out)
               if e["action"] == "submission.refused"]
    assert {"org": "PART2", "kind": "partner", "dataset": "hmrc-return"} in refused

    path = tmp_path / "HMRC_2025Q2.csv"
    path.write_bytes(csv_bytes([{"match_ref": "M1", "matched": "N"}]))
    code, _, err = cli("hal", "submit", str(path), "--dataset", "hmrc-return", "--org",
                       "HMRC", "--period", "2025Q2")
    assert code == 0, err


def test_the_haven_is_still_whole(world: dict[str, Any]) -> None:
    """After every refusal above, the haven still opens with its own key."""
    from carehaven.haven import open_haven

    haven = open_haven(Settings.load(haven=world["haven"]))
    try:
        assert os.path.isfile(haven.paths.key_file)
        assert haven.organisation("SUB").code == "SUB"
    finally:
        haven.close()
