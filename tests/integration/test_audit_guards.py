"""What the haven itself refuses to bless (issue 12, item 6, found by an outside tester).

``audit checkpoint`` signed a rewritten log although ``audit_checkpoints`` still held earlier,
validly signed checkpoints whose roots contradict it, and the blessed checkpoint then travelled
with every release. Now signing, and plain ``audit verify``, check the log against every
recorded checkpoint and that the append-only triggers are in place. And bad input to the audit
commands gets a sentence, never a traceback. Through the CLI, acting as the haven's people.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from carehaven.access import auth
from carehaven.access.auth import TOKEN_ENV
from carehaven.access.users import add_user
from carehaven.audit.signing import key_id
from carehaven.cli import main
from carehaven.control.models import AuditCheckpoint
from carehaven.haven import Haven
from tests.audit_attacks import (
    as_owner,
    drop_triggers,
    restore_triggers,
    rewrite_entry,
    with_entries,
)
from tests.people import CHEAP, token_for, user_env

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``main`` in this process against a haven, as ``who`` (a user of it, or nobody):
    (exit code, stdout, stderr)."""
    monkeypatch.setattr(auth, "HASHER", CHEAP)

    def run(haven: Haven, who: str | None, *args: str) -> tuple[int, str, str]:
        with monkeypatch.context() as m:
            if haven.settings.control_url:
                m.setenv("CAREHAVEN_CONTROL_URL", haven.settings.control_url)
            m.delenv(TOKEN_ENV, raising=False)
            for key, value in (user_env(haven.paths.root, who) if who else {}).items():
                m.setenv(key, value)
            capsys.readouterr()
            code = main(["--haven", str(haven.paths.root), *args])
            out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def staffed(make_haven: Callable[..., Haven], monkeypatch: pytest.MonkeyPatch,
            ) -> Callable[[str], Haven]:
    """A haven with two founding data-team members and an auditor (so it has left
    single-operator mode under either bootstrap rule), their tokens issued up front so that
    no later entry comes from issuing one."""
    monkeypatch.setattr(auth, "HASHER", CHEAP)

    def factory(backend: str = "sqlite") -> Haven:
        haven = make_haven(backend)
        people = {"dt.one": "data-team", "dt.two": "data-team", "aud": "auditor"}
        for name, role in people.items():
            add_user(haven, name, name.title(), None, roles=[role], actor="test")
        with monkeypatch.context() as m:
            if haven.settings.control_url:
                m.setenv("CAREHAVEN_CONTROL_URL", haven.settings.control_url)
            for name in people:
                token_for(haven.paths.root, name)
        return haven

    return factory


def _sign(cli: Run, haven: Haven, out: Path) -> tuple[int, str, str]:
    return cli(haven, "aud", "audit", "checkpoint", "--out", str(out), "--json")


def _verify(cli: Run, haven: Haven, *args: str) -> tuple[int, dict, str]:
    code, out, err = cli(haven, "dt.one", "audit", "verify", "--skip-landing", "--json", *args)
    return code, json.loads(out), err


def _recorded(haven: Haven) -> int:
    with haven.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def test_a_rewritten_log_is_not_signed(staffed, control_backend, cli, tmp_path):
    """The tester's attack: entry 50 altered, every later hash and the head recomputed, the
    triggers put back. The chain verifies; the haven's own earlier checkpoint does not."""
    haven = staffed(control_backend)
    with_entries(haven, 55)  # after init, the users and their tokens
    code, out, err = _sign(cli, haven, tmp_path / "first.json")
    assert code == 0, err
    size = json.loads(out)["size"]
    assert size > 55
    with_entries(haven, 10)

    rewrite_entry(haven, 50)
    code, out, err = _sign(cli, haven, tmp_path / "blessed.json")
    assert code == 7, out
    assert "No checkpoint was signed" in err and "checkpoint C-1" in err
    assert f"at or before entry {size}" in err and "Traceback" not in err
    assert "mallory" not in err  # never an entry's content
    assert json.loads(out)["error"]["exit_code"] == 7
    assert not (tmp_path / "blessed.json").exists() and _recorded(haven) == 1

    # Plain verify, with no witness file, says so too; the chain alone is fooled.
    code, report, _ = _verify(cli, haven)
    assert code == 7 and report["chain"]["ok"] is True and report["triggers"]["ok"] is True
    (stored,) = report["stored_checkpoints"]
    assert stored["checkpoint"] == "C-1" and stored["problem"] == "root"
    assert stored["key"] == "haven" and report["reason"] == stored["reason"]
    code, _, err = cli(haven, "dt.one", "audit", "verify", "--skip-landing")
    assert code == 7 and "Merkle root of the haven's checkpoint C-1" in err


def test_a_deleted_tail_is_not_signed(staffed, cli, tmp_path):
    haven = staffed()
    with_entries(haven, 10)
    assert _sign(cli, haven, tmp_path / "w.json")[0] == 0  # more than 10 entries
    drop_triggers(haven)
    as_owner(haven, "DELETE FROM audit_log WHERE seq > 9",
             "UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_log WHERE seq = 9)")
    restore_triggers(haven)
    code, _, err = _sign(cli, haven, tmp_path / "w2.json")
    assert code == 7 and "entries from 10 on were removed" in err
    code, report, _ = _verify(cli, haven)
    assert code == 7 and report["first_bad"] == 10
    assert report["stored_checkpoints"][0]["problem"] == "shorter"


@pytest.mark.parametrize("restore", [False, True], ids=["triggers-gone", "triggers-back"])
def test_removed_triggers_stop_signing(staffed, control_backend, cli, tmp_path, restore):
    """With no checkpoint recorded yet, nothing contradicts the rewrite: the missing guard
    is what stops the signature (and once the intruder puts it back, nothing can here; the
    witnesses are for that: test_audit_witness)."""
    haven = staffed(control_backend)
    rewrite_entry(haven, 3, restore=restore)
    code, _, err = _sign(cli, haven, tmp_path / "w.json")
    if restore:
        assert code == 0, err
        return
    assert code == 7
    assert "the append-only triggers were removed or disabled" in err
    code, report, _ = _verify(cli, haven)
    assert code == 7 and report["chain"]["ok"] is True
    assert report["triggers"]["ok"] is False and set(report["triggers"]["failed"]) >= {
        "audit_log_no_update" if control_backend == "sqlite" else "audit_log_append_only"}
    assert "the append-only triggers were removed or disabled" in report["reason"]


SQLITE_SWAPS = [
    # A trigger of the right name that guards nothing.
    ["DROP TRIGGER audit_log_no_update",
     "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END"],
    # One that fires on INSERT instead.
    ["DROP TRIGGER audit_log_no_delete",
     "CREATE TRIGGER audit_log_no_delete BEFORE INSERT ON audit_log WHEN 0 "
     "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"],
]
PG_SWAPS = [
    ["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
    ["ALTER TABLE audit_log ENABLE REPLICA TRIGGER audit_log_no_truncate"],
    ["CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RETURN NEW; END $$"],
    ["DROP TRIGGER audit_log_append_only ON audit_log",
     "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW "
     "WHEN (false) EXECUTE FUNCTION audit_log_append_only()"],
    ["DROP TRIGGER audit_log_append_only ON audit_log",
     "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OF actor OR DELETE ON audit_log "
     "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"],
]


@pytest.mark.parametrize("swap", SQLITE_SWAPS)
def test_a_trigger_that_guards_nothing_is_named_sqlite(make_haven, cli, swap):
    haven = make_haven()
    as_owner(haven, *swap)
    code, out, _ = cli(haven, None, "audit", "verify", "--skip-landing", "--json")
    report = json.loads(out)
    assert code == 7 and report["triggers"]["ok"] is False and report["chain"]["ok"]


@pytest.mark.postgres
@pytest.mark.parametrize("swap", PG_SWAPS)
def test_a_trigger_that_guards_nothing_is_named_postgres(make_haven, cli, swap):
    haven = make_haven("postgres")
    as_owner(haven, *swap)
    code, out, _ = cli(haven, None, "audit", "verify", "--skip-landing", "--json")
    report = json.loads(out)
    assert code == 7 and report["triggers"]["ok"] is False and report["chain"]["ok"]
    assert "the append-only triggers were removed or disabled" in report["reason"]


def test_an_altered_recorded_checkpoint_is_reported(staffed, cli, tmp_path):
    """A recorded checkpoint whose signature no longer verifies is itself a finding, and
    nothing is signed over it; so is one relabelled as another key's."""
    haven = staffed()
    assert _sign(cli, haven, tmp_path / "w.json")[0] == 0
    with haven.sessions() as session:
        row = session.scalars(select(AuditCheckpoint)).one()
        root, kid = row.root, row.key_id
    as_owner(haven, f"UPDATE audit_checkpoints SET root = '{'0' * 64}'")
    code, report, _ = _verify(cli, haven)
    assert code == 7 and report["stored_checkpoints"][0]["problem"] == "signature"
    assert "does not verify" in report["reason"]
    code, _, err = _sign(cli, haven, tmp_path / "w2.json")
    assert code == 7 and "C-1" in err and "does not verify" in err

    as_owner(haven, f"UPDATE audit_checkpoints SET root = '{root}', "
             "key_id = 'ak-0000000000000000'")
    code, report, _ = _verify(cli, haven)
    assert code == 7 and report["stored_checkpoints"][0]["problem"] == "key"
    assert _sign(cli, haven, tmp_path / "w3.json")[0] == 7
    as_owner(haven, f"UPDATE audit_checkpoints SET key_id = '{kid}'")
    assert _verify(cli, haven)[0] == 0


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_a_replaced_signing_key_keeps_the_earlier_checkpoints(staffed, cli, tmp_path):
    """The key file may be replaced (ADR 0010): the checkpoints of the earlier key are checked
    with the public key the haven recorded for it, so they still stop a rewrite."""
    haven = staffed()
    with_entries(haven, 5)
    assert _sign(cli, haven, tmp_path / "old.json")[0] == 0  # 10 entries
    new = Ed25519PrivateKey.generate()
    haven.paths.audit_key.write_bytes(_pem(new))
    code, out, err = _sign(cli, haven, tmp_path / "new.json")
    assert code == 0, err
    assert json.loads(out)["key_id"] == key_id(new.public_key())
    code, report, _ = _verify(cli, haven)
    assert code == 0
    assert [c["key"] for c in report["stored_checkpoints"]] == ["recorded", "haven"]

    rewrite_entry(haven, 4)
    code, report, _ = _verify(cli, haven)
    assert code == 7 and [c["problem"] for c in report["stored_checkpoints"]] == ["root",
                                                                                  "root"]
    assert _sign(cli, haven, tmp_path / "after.json")[0] == 7


def test_a_swapped_key_file_is_named_as_such(staffed, cli, tmp_path):
    """Unpinned, a witness signed with another key than the file on disk may be the forged one
    or the key file may be: the sentence says both, and how to tell."""
    haven = staffed()
    witness = tmp_path / "w.json"
    assert _sign(cli, haven, witness)[0] == 0
    haven.paths.audit_key.write_bytes(_pem(Ed25519PrivateKey.generate()))
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness))
    assert code == 7 and report["checkpoints"][0]["problem"] == "key"
    reason = report["checkpoints"][0]["reason"]
    assert "the key on disk" in reason and "is not the one that signed the witness" in reason
    assert "either the witness file or the key file was replaced" in reason
    assert "re-signed by someone else" not in reason


def test_previous_copies_stop_a_signature_the_table_cannot(staffed, cli, tmp_path):
    """An intruder who also deletes the haven's record of its checkpoints gets past the table;
    not past the auditor's own earlier copy given with --previous."""
    haven = staffed()
    with_entries(haven, 10)
    kept = tmp_path / "kept.json"
    assert _sign(cli, haven, kept)[0] == 0
    rewrite_entry(haven, 7)
    as_owner(haven, "DELETE FROM audit_checkpoints")
    code, _, err = cli(haven, "aud", "audit", "checkpoint", "--out", str(tmp_path / "x.json"),
                       "--previous", str(kept))
    assert code == 7 and "No checkpoint was signed" in err and str(kept) in err
    assert not (tmp_path / "x.json").exists()
    # Without it the table is all the haven has, and it is gone (ADR 0010, "can still do").
    assert _sign(cli, haven, tmp_path / "y.json")[0] == 0


def test_signing_an_intact_log_checks_the_previous_copy(staffed, cli, tmp_path):
    haven = staffed()
    kept = tmp_path / "kept.json"
    assert _sign(cli, haven, kept)[0] == 0
    with_entries(haven, 3)
    code, out, err = cli(haven, "aud", "audit", "checkpoint", "--out", str(tmp_path / "n.json"),
                         "--previous", str(kept), "--json")
    assert code == 0, err
    assert json.loads(out)["checkpoint"] == "C-2"
    code, out, _ = cli(haven, "dt.one", "audit", "verify", "--skip-landing")
    assert code == 0 and "each of the haven's 2 recorded checkpoints" in out
    assert "append-only triggers are in place" in out


# ---- bad input: a sentence and its exit code, never a traceback (docs/exit-codes.md) ----------


def test_prove_takes_an_entry_number_within_the_log(make_haven, cli):
    haven = make_haven()
    code, out, err = cli(haven, None, "audit", "prove", "99999999999999999999", "--json")
    assert code == 9 and "not in the audit log" in err and "Traceback" not in err
    assert json.loads(out)["error"]["exit_code"] == 9
    for bad in ("0", "-3"):
        code, _, err = cli(haven, None, "audit", "prove", "--", bad)
        assert code == 2 and "whole number from 1" in err
    code, _, err = cli(haven, None, "audit", "show", "--limit", "99999999999999999999")
    assert code == 0, err


def _deep(path: Path) -> Path:
    path.write_text("[" * 200_000)  # under the size bound, past the parser's recursion
    return path


@pytest.mark.parametrize("command", ["verify", "prove"])
def test_a_deeply_nested_witness_is_malformed(make_haven, cli, tmp_path, command):
    haven = make_haven()
    args = ["--skip-landing"] if command == "verify" else ["1"]
    code, _, err = cli(haven, None, "audit", command, *args, "--checkpoint",
                       str(_deep(tmp_path / "deep.json")))
    assert code == 7 and "is not a carehaven audit checkpoint" in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_witness_file_is_read_within_a_bound(make_haven, cli, tmp_path):
    haven = make_haven()
    big = tmp_path / "big.json"
    big.write_text(" " * (1 << 20) + "{}")
    code, out, _ = cli(haven, None, "audit", "verify", "--skip-landing", "--json",
                       "--checkpoint", str(big))
    assert code == 7 and "larger than 1 MiB" in json.loads(out)["reason"]
    assert json.loads(out)["checkpoints"][0]["problem"] == "form"

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opened without waiting for a writer, then refused
    for device in ("/dev/zero", str(fifo), str(tmp_path)):
        code, _, err = cli(haven, None, "audit", "verify", "--skip-landing",
                           "--checkpoint", device)
        assert code == 2 and "not a regular file" in err, device
        code, _, err = cli(haven, None, "audit", "prove", "1", "--checkpoint", device)
        assert code == 2 and "not a regular file" in err, device
    witness = tmp_path / "w.json"
    assert cli(haven, None, "audit", "checkpoint", "--out", str(witness))[0] == 0
    code, _, err = cli(haven, None, "audit", "verify", "--skip-landing", "--checkpoint",
                       str(witness), "--public-key", "/dev/zero")
    assert code == 2 and "is not a public key file" in err
