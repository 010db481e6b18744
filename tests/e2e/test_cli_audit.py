"""Signing checkpoints is the auditor's, not the data team's (issue 12, item 6); and the landing
zone is read back by ``audit verify`` (item 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carehaven.access.users import add_user
from carehaven.cli import main
from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.haven import init_haven
from tests.e2e.test_cli import run
from tests.helpers import episodes_file
from tests.people import user_env

pytestmark = pytest.mark.slow


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_only_an_auditor_may_sign_a_checkpoint(tmp_path: Path, capsys,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The signing key is not the data team's: data-team is refused (exit 13, audited)."""
    root = tmp_path / "haven"
    haven = init_haven(Settings.load(haven=root), actor="test")
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="test")
    add_user(haven, "aud", "Aud", None, roles=["auditor"], actor="test")
    haven.close()
    h = ["--haven", str(root)]

    refused = run(*h, "audit", "checkpoint", "--out", str(tmp_path / "boss.json"),
                  env=user_env(root, "boss"))  # as a user's shell runs it
    assert refused.returncode == 13, refused.stderr
    assert "sign audit checkpoints" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "boss.json").exists()

    def as_user(name: str, *args: str) -> tuple[int, str, str]:
        with monkeypatch.context() as m:
            for key, value in user_env(root, name).items():
                m.setenv(key, value)
            return _cli(capsys, *h, *args)

    code, out, err = as_user("aud", "audit", "checkpoint", "--out", str(tmp_path / "aud.json"),
                             "--json")
    assert code == 0, err
    assert json.loads((tmp_path / "aud.json").read_text())["size"] == json.loads(out)["size"]
    code, out, _ = as_user("aud", "audit", "show", "--json")
    actions = [(e["actor"], e["action"]) for e in json.loads(out)]
    assert ("user:boss", "access.denied") in actions
    assert ("user:aud", "audit.checkpoint-signed") in actions
    # Anyone who may read the audit log may check it against the witness.
    code, _, err = as_user("boss", "audit", "verify", "--checkpoint", str(tmp_path / "aud.json"))
    assert code == 0, err


@pytest.fixture
def landed(tmp_path: Path) -> tuple[Path, list[str]]:
    """A haven with three submissions landed."""
    root = tmp_path / "haven"
    haven = init_haven(Settings.load(haven=root), actor="test")
    haven.add_organisation("P001", "treatment-service", "Riverside", actor="test")
    ids = []
    for period, n in (("2025Q1", 3), ("2025Q2", 4), ("2025Q3", 5)):
        f = tmp_path / f"{period}.csv"
        f.write_bytes(episodes_file(n))
        result = submit(haven, f, dataset="ndtms-episode", org="P001", period=period,
                        actor="test")
        ids.append(result.submission_id)
    haven.close()
    return root, ids


def test_intact_landed_files_verify(landed, capsys) -> None:
    root, _ = landed
    code, out, _ = _cli(capsys, "--haven", str(root), "audit", "verify")
    assert code == 0 and "3 landed files decrypt" in out
    code, out, _ = _cli(capsys, "--haven", str(root), "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["landing"] == {"checked": 3, "failed": []}


def test_a_flipped_byte_in_a_landed_file_is_named(landed, capsys) -> None:
    """Item 15: the AES-GCM tag catches one changed byte; the submission is named."""
    root, ids = landed
    path = root / "landing" / f"{ids[1]}.bin"
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0x01
    path.write_bytes(bytes(raw))
    code, out, err = _cli(capsys, "--haven", str(root), "audit", "verify")
    assert code == 7 and ids[1] in err and "integrity check" in err
    assert ids[0] not in err and ids[2] not in err and "Traceback" not in err
    code, out, _ = _cli(capsys, "--haven", str(root), "audit", "verify", "--json")
    report = json.loads(out)
    assert code == 7 and report["chain"]["ok"] is True
    assert report["landing"]["failed"] == [{"submission_id": ids[1], "problem": "tag"}]
    # --skip-landing leaves the read-back out.
    assert _cli(capsys, "--haven", str(root), "audit", "verify", "--skip-landing")[0] == 0


def test_a_deleted_landed_file_is_named_as_missing(landed, capsys) -> None:
    root, ids = landed
    (root / "landing" / f"{ids[0]}.bin").unlink()
    (root / "landing" / f"{ids[2]}.bin").write_bytes(b"CHLZ1")  # truncated to its magic
    code, out, err = _cli(capsys, "--haven", str(root), "audit", "verify", "--json")
    assert code == 7
    assert json.loads(out)["landing"]["failed"] == [
        {"submission_id": ids[0], "problem": "missing"},
        {"submission_id": ids[2], "problem": "unreadable"}]
    code, _, err = _cli(capsys, "--haven", str(root), "audit", "verify")
    assert code == 7 and f"the landed file of {ids[0]} is missing" in err and ids[2] in err


def test_a_landed_file_swapped_for_another_is_caught(landed, capsys) -> None:
    """A file copied over another's name fails its tag: the submission id is the associated
    data. A file re-sealed with the right key but other bytes fails the recorded sha256."""
    root, ids = landed
    landing = root / "landing"
    (landing / f"{ids[0]}.bin").write_bytes((landing / f"{ids[1]}.bin").read_bytes())
    from carehaven.collection.landing import land
    from carehaven.haven import open_haven

    haven = open_haven(Settings.load(haven=root))
    try:
        land(landing, haven.paths.tmp, haven.master_key, ids[2], b"other bytes")
    finally:
        haven.close()
    code, out, _ = _cli(capsys, "--haven", str(root), "audit", "verify", "--json")
    assert code == 7
    assert json.loads(out)["landing"]["failed"] == [
        {"submission_id": ids[0], "problem": "tag"},
        {"submission_id": ids[2], "problem": "digest"}]
