"""Careless periods, paths and messages, through the command line (issue 13 items 11-13).

One small haven for the module: two founding data-team users (alice, bob) and a submitter
(sam) for the treatment service SUB. Every case runs the command a user would type.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import carehaven.haven
from carehaven.access import auth
from carehaven.access.users import add_user
from carehaven.config import Settings
from carehaven.haven import init_haven
from tests.helpers import csv_bytes, episode
from tests.people import CHEAP, Cli, user_env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("careless")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(auth, "HASHER", CHEAP)  # these tests are not about argon2's cost
        haven = init_haven(Settings.load(haven=root / "haven"), actor="test")
        haven.add_organisation("SUB", "treatment-service", "Sub", actor="test")
        for name in ("alice", "bob"):
            add_user(haven, name, name.title(), None, roles=["data-team"], actor="test")
        add_user(haven, "sam", "Sam", "SUB", roles=["submitter"], actor="test")
        haven.close()
        yield {"root": root, "haven": root / "haven"}


@pytest.fixture
def cli(world: dict[str, Any], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world["haven"], capsys, monkeypatch)


def _rows(n: int, **changes: str) -> bytes:
    return csv_bytes([episode(provider_code="SUB", client_ref=f"C{i}", episode_id=f"E{i}",
                              **changes) for i in range(n)])


def _submit(cli: Cli, path: Path, period: str = "2025Q2") -> tuple[int, str, str]:
    return cli("sam", "submit", str(path), "--org", "SUB", "--dataset", "ndtms-episode",
               "--period", period)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _landed(world: dict[str, Any]) -> int:
    return len(list((world["haven"] / "landing").iterdir()))


@pytest.fixture(scope="module")
def first(world: dict[str, Any]) -> str:
    """A complete quarterly return in force, whose report the output tests write."""
    path = world["root"] / "SUB_2025Q2.csv"
    path.write_bytes(_rows(4))
    from carehaven.collection.submit import submit
    from carehaven.haven import open_haven

    haven = open_haven(Settings.load(haven=world["haven"]))
    try:
        result = submit(haven, path, dataset="ndtms-episode", org="SUB", period="2025Q2",
                        actor="test")
    finally:
        haven.close()
    assert result.status == "accepted"
    return result.submission_id


# ---- item 11: output paths ----------------------------------------------------------------------

def test_an_existing_file_is_replaced_only_with_force(cli: Cli, first: str,
                                                      tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("keep me\n")
    code, _, err = cli("sam", "report", first, "--format", "csv", "--out", str(target))
    assert code == 2, err
    assert "--force" in _flat(err)
    assert target.read_text() == "keep me\n"
    code, _out, err = cli("sam", "report", first, "--format", "csv", "--out", str(target),
                         "--force")
    assert code == 0, err
    assert target.read_text() != "keep me\n"
    assert target.read_text().startswith("row,")  # the findings CSV's header
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]  # no spare file left


@pytest.mark.parametrize("where", ["control.sqlite", "keys/haven.key"])
def test_force_never_writes_inside_the_haven(cli: Cli, world: dict[str, Any], first: str,
                                             where: str) -> None:
    target = world["haven"] / where
    before = target.read_bytes()
    code, _, err = cli("sam", "report", first, "--out", str(target), "--force")
    assert code == 2, err
    assert "inside the haven" in _flat(err)
    if where == "control.sqlite":  # the command itself writes there (its audit, its stamps)
        assert target.read_bytes()[:16] == b"SQLite format 3\x00"
    else:
        assert target.read_bytes() == before


@pytest.mark.parametrize("kind", ["a folder", "the root", "a missing folder", "a link",
                                  "a device"])
def test_a_folder_or_missing_folder_is_a_usage_error(cli: Cli, first: str, tmp_path: Path,
                                                     kind: str) -> None:
    (tmp_path / "real.csv").write_text("x\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    target = {"a folder": tmp_path, "the root": Path("/"),
              "a missing folder": tmp_path / "nowhere" / "r.csv",
              "a link": tmp_path / "link.csv", "a device": Path("/dev/null")}[kind]
    code, out, err = cli("sam", "report", first, "--out", str(target), "--force")
    assert code == 2, err
    assert "Traceback" not in out + err and "Internal error" not in err
    assert (tmp_path / "real.csv").read_text() == "x\n"
    assert not (tmp_path / "new.csv").exists()


def test_synth_never_writes_into_the_haven_or_over_files(cli: Cli, world: dict[str, Any],
                                                         tmp_path: Path) -> None:
    for inside in (world["haven"] / "reports" / "synthetic",
                   world["haven"] / "outputs" / "synthetic"):
        code, _, err = cli(None, "synth", "--out", str(inside), "--people", "5")
        assert code == 2 and "inside the haven" in _flat(err)
        assert not inside.exists()
    full = tmp_path / "returns"
    full.mkdir()
    (full / "mine.txt").write_text("mine\n")
    code, _, err = cli(None, "synth", "--out", str(full), "--people", "5")
    assert code == 2 and "--force" in _flat(err)
    assert sorted(p.name for p in full.iterdir()) == ["mine.txt"]


# ---- item 12: careless periods and paths ---------------------------------------------------------

@pytest.mark.parametrize("period", [
    "0000Q1", "1999Q4", "9999Q4", "2100-01",
    "\uff12\uff10\uff12\uff14Q2",  # full-width digits: no period, however it looks
])
def test_a_period_outside_the_sane_years_is_a_sentence(cli: Cli, world: dict[str, Any],
                                                       tmp_path: Path, period: str) -> None:
    path = tmp_path / "SUB.csv"
    path.write_bytes(_rows(2))
    landed = _landed(world)
    code, _out, err = _submit(cli, path, period)
    assert code == 2, err
    assert ("outside 2000 to 2099" in _flat(err) or "is not a quarter" in _flat(err))
    assert "Internal error" not in err
    assert _landed(world) == landed


def test_a_month_is_not_in_force_beside_its_quarter(cli: Cli, world: dict[str, Any],
                                                    first: str, tmp_path: Path) -> None:
    path = tmp_path / "SUB_2025-06.csv"
    path.write_bytes(_rows(3, referral_date="2025-06-02", treatment_start_date="2025-06-10"))
    landed = _landed(world)
    code, _, err = _submit(cli, path, "2025-06")
    assert code == 2, err
    said = _flat(err)
    assert "2025Q2 in force" in said and "twice" in said
    assert _landed(world) == landed
    in_force = [s for s in cli.ok("alice", "submissions")
                if s["status"] == "accepted" and not s.get("superseded_by")]
    assert {s["period"] for s in in_force if s["dataset"] == "ndtms-episode"} == {"2025Q2"}


def test_a_link_is_not_followed(cli: Cli, world: dict[str, Any], tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_bytes(_rows(2))
    link = tmp_path / "SUB_2025Q1.csv"
    link.symlink_to(secret)
    landed = _landed(world)
    code, _, err = _submit(cli, link, "2025Q1")
    assert code == 2, err
    assert "symbolic link" in _flat(err)
    assert _landed(world) == landed
    passwd = tmp_path / "SUB_2025Q3.csv"
    passwd.symlink_to("/etc/passwd")
    code, _, err = _submit(cli, passwd, "2025Q3")
    assert code == 2 and _landed(world) == landed


# ---- item 13: messages that mislead or vanish --------------------------------------------------

def _rejected(cli: Cli, path: Path) -> str:
    code, out, err = _submit(cli, path, "2025Q1")
    assert code == 3, out + err  # the file is rejected whole
    return _flat(out + err)


def test_an_unclosed_quote_is_named_where_it_opens(cli: Cli, tmp_path: Path) -> None:
    lines = _rows(12).decode().splitlines()
    lines[3] = lines[3].replace("SUB,", 'SUB,"', 1)  # line 4 opens a quote never closed
    path = tmp_path / "SUB_2025Q1.csv"
    path.write_text("\n".join(lines) + "\n")
    said = _rejected(cli, path)
    assert "line 4 opens a quoted field" in said
    assert "line 13" not in said


def test_utf16_is_named(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "SUB_2025Q1.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + _rows(3).decode().encode("utf-16-le"))
    assert "is UTF-16 text, not UTF-8" in _rejected(cli, path)


def test_a_5000_column_header_gets_a_short_message(cli: Cli, tmp_path: Path) -> None:
    header = ["provider_code", *(f"extra_{i}" for i in range(4999))]
    path = tmp_path / "SUB_2025Q1.csv"
    path.write_text(",".join(header) + "\n" + ",".join("x" for _ in header) + "\n")
    code, out, err = _submit(cli, path, "2025Q1")
    assert code == 3
    assert len(out + err) < 1500
    assert "4,999 headings" in _flat(out + err)


def test_markup_in_what_people_typed_is_shown_as_typed(cli: Cli) -> None:
    name = "Clinic [c] one [bold]x[/]"
    code, out, err = cli("alice", "orgs", "add", "SUB2", "--kind", "treatment-service",
                         "--name", name)
    assert code == 0, err
    assert name in out
    code, out, _ = cli("alice", "orgs", "list")
    assert "[c] one [bold]x[/]" in out


def test_the_internal_error_log_follows_the_haven(cli: Cli, world: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """An internal error's log goes to the haven --haven names, never holds the exception's
    text, and with nowhere to write the user still gets a sentence, not a traceback."""
    def broken(_settings: Settings) -> None:
        raise RuntimeError("cell value 4283089648")

    monkeypatch.setattr(carehaven.haven, "open_haven", broken)
    log = world["haven"] / "logs" / "carehaven.log"
    before = log.read_text() if log.exists() else ""
    monkeypatch.chdir(tmp_path)
    for form in (["--haven", str(world["haven"])], [f"--haven={world['haven']}"]):
        from carehaven.cli import main

        code = main([*form, "submissions"])
        assert code == 1
    grown = log.read_text()[len(before):]
    assert grown.count("internal error in 'submissions': RuntimeError") == 2
    assert "4283089648" not in log.read_text()
    assert not (tmp_path / "carehaven.log").exists()
    # No haven log folder and no writable temporary folder: still a sentence.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    code, out, err = cli("alice", "--haven", str(tmp_path / "nohaven"), "submissions")
    assert code == 1
    assert "no log" in _flat(err) and "Traceback" not in out + err
    # Scripts get the one JSON error shape for an internal error too.
    code, out, err = cli("alice", "--haven", str(tmp_path / "nohaven"), "submissions", "--json")
    assert code == 1
    assert json.loads(out)["error"]["exit_code"] == 1


@pytest.fixture
def read_only(world: dict[str, Any], tmp_path: Path) -> Iterator[Path]:
    """The module's haven seen through a read-only bind mount (as root, permissions alone do
    not stop a write)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", str(world["haven"]), str(mount)],
                          capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip("this machine cannot bind-mount (needs root): " + made.stderr.decode())
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        assert not os.access(mount, os.W_OK)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)  # lazy: this process may
        # still hold the read-only database open


def test_a_read_only_haven_still_answers_read_only_commands(
    world: dict[str, Any], read_only: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, first: str,
) -> None:
    ro = Cli(read_only, capsys, monkeypatch)
    alice = user_env(world["haven"], "alice")  # issued while the haven could be written
    code, out, err = ro(None, "submissions", "--json", env=alice)
    assert code == 0, err
    assert first in out
    code, out, err = ro(None, "audit", "verify", env=alice)
    assert code == 0, err
    code, out, err = ro(None, "orgs", "add", "RO1", "--kind", "treatment-service",
                        "--name", "x", env=alice)
    assert code == 10, err
    assert "read-only" in _flat(err) and "Traceback" not in out + err


# ---- issue 14 part 0: settings and files that used to end in an internal error -----------------


@pytest.mark.parametrize("url", ["garbage", "foo://x/y"])
def test_a_control_url_that_is_not_a_url_is_a_setting_error(cli: Cli, url: str) -> None:
    code, out, err = cli("alice", "submissions", env={"CAREHAVEN_CONTROL_URL": url})
    assert code == 10, err
    assert "CAREHAVEN_CONTROL_URL is not a database URL" in _flat(err)
    assert "Internal error" not in err and "Traceback" not in out + err


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody:hunter2secret@127.0.0.1:1/none",
                                 "sqlite:////nonexistent-folder/control.db"])
def test_a_control_database_out_of_reach_is_a_setting_error(cli: Cli, url: str) -> None:
    """The driver's message is not shown: it can quote the URL, password and all."""
    code, out, err = cli("alice", "submissions", "--json", env={"CAREHAVEN_CONTROL_URL": url})
    assert code == 10, err
    assert "cannot be reached" in _flat(err)
    assert json.loads(out)["error"]["exit_code"] == 10
    assert "hunter2secret" not in out + err and "Traceback" not in out + err


def test_init_with_a_bad_control_url_makes_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from carehaven.cli import main

    monkeypatch.setenv("CAREHAVEN_CONTROL_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert main(["--haven", str(tmp_path / "new"), "init"]) == 10
    assert "cannot be reached" in _flat(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


def _structure_with_level(tmp_path: Path, level: object) -> Path:
    """A published table with a suppressed cell, whose structure file gives ``level``."""
    from carehaven.disclosure.table import Hierarchy, Table
    from carehaven.publish.longcsv import structure_path, write_csv
    from carehaven.publish.model import from_table

    area = Hierarchy.flat("area", ["E06", "E07", "E08"])
    table = Table.from_leaves("people", [area], {("E06",): 3.0, ("E07",): 4.0, ("E08",): 20.0})
    marker = ["[c]" if k in {("E06",), ("E07",)} else "" for k in table.keys]
    pub = from_table(table, None, marker, name="people", title="People", dataset="ndtms-episode",
                     period="2025Q2", counts="people")
    path = tmp_path / "people.csv"
    side = write_csv(pub, path)
    assert side == structure_path(path)
    doc = json.loads(side.read_text())
    doc["disclosure"] = {"protection_level": level}
    side.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("level", ["high", [3], 1.5, -3, True])
def test_a_structure_files_protection_level_must_be_a_whole_number(
        cli: Cli, tmp_path: Path, level: object) -> None:
    path = _structure_with_level(tmp_path, level)
    code, out, err = cli("alice", "disclosure", "check", str(path))
    assert code == 2, err
    assert "people.structure.json: disclosure.protection_level must be a whole number" in (
        _flat(err))
    assert "Internal error" not in err and "Traceback" not in out + err


def test_a_whole_protection_level_is_checked(cli: Cli, tmp_path: Path) -> None:
    code, _out, err = cli("alice", "disclosure", "check", str(_structure_with_level(tmp_path, 0)))
    assert code in (0, 12) and "Internal error" not in err, err


def test_a_haven_with_a_value_outside_its_set_is_not_migrated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Migration 0010 rewrites nothing: an older haven holding a role no enum names is refused,
    with the column named, and stays as it was until someone corrects the row."""
    import sqlalchemy as sa

    from carehaven.cli import main
    from carehaven.control import db

    with pytest.MonkeyPatch.context() as m:
        m.setattr(auth, "HASHER", CHEAP)
        haven = init_haven(Settings.load(haven=tmp_path / "old"), actor="test")
        add_user(haven, "alice", "Alice", None, roles=["data-team"], actor="test")
        haven.close()
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old' / 'control.sqlite'}")
    db.move_to(engine, "0009", down=True)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE role_grants SET role = 'superuser'"))
    capsys.readouterr()
    assert main(["--haven", str(tmp_path / "old"), "submissions"]) == 10
    err = _flat(capsys.readouterr().err)
    assert "role_grants.role holds 'superuser' in 1 row(s)" in err and "Traceback" not in err
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0009"
    engine.dispose()
