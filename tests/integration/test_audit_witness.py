"""The rewrite attack (issue 12, item 6): an intruder with the schema owner's access drops the
append-only triggers, rewrites the log and recomputes every hash and the head. The chain alone
then verifies; a witness's signed checkpoint does not (nor, unless the intruder also deleted
them, the haven's own recorded checkpoints: tests/integration/test_audit_guards.py). On SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from carehaven.audit import checkpoint as cp
from carehaven.audit.merkle import log_root
from carehaven.audit.signing import key_id, public_pem
from carehaven.cli import main
from carehaven.haven import Haven
from tests.audit_attacks import as_owner as _as_owner
from tests.audit_attacks import drop_triggers as _drop_triggers
from tests.audit_attacks import rechain as _rechain
from tests.audit_attacks import restore_triggers
from tests.audit_attacks import with_entries as _with_entries

SIZE = 12  # entries when the witness signs: init, P001, and ten more


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``main`` in this process against a haven: (exit code, stdout, stderr)."""

    def run(haven: Haven, *args: str) -> tuple[int, str, str]:
        if haven.settings.control_url:
            monkeypatch.setenv("CAREHAVEN_CONTROL_URL", haven.settings.control_url)
        capsys.readouterr()
        code = main(["--haven", str(haven.paths.root), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _witnessed(haven: Haven, cli, tmp_path: Path, add: int = SIZE - 2) -> tuple[Path, Path]:
    """A haven of SIZE entries (``add`` of them made here), its checkpoint kept by a witness
    outside it (with the public key the witness pins), and a few entries appended after."""
    _with_entries(haven, add)
    witness = tmp_path / "witness" / "checkpoint.json"
    witness.parent.mkdir()
    code, out, err = cli(haven, "audit", "checkpoint", "--out", str(witness), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["size"] == SIZE and json.loads(witness.read_text())["root"] == doc["root"]
    pinned = witness.parent / "audit-signing.pub"
    pinned.write_text(doc["public_key"])
    _with_entries(haven, 5)  # the log grows after the checkpoint
    return witness, pinned


def _verify(cli, haven: Haven, *args: str) -> tuple[int, dict, str]:
    code, out, err = cli(haven, "audit", "verify", "--skip-landing", *args, "--json")
    return code, json.loads(out), err


def test_an_untouched_log_extends_its_checkpoint(make_haven, control_backend, cli, tmp_path):
    haven = make_haven(control_backend)
    witness, pinned = _witnessed(haven, cli, tmp_path)
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness), "--public-key",
                              str(pinned))
    assert code == 0 and report["ok"] is True
    # Stable for scripts: fields are added, never renamed.
    assert {"ok", "entries", "first_bad", "reason", "chain", "tree", "checkpoints",
            "landing"} <= set(report)
    assert report["triggers"] == {"ok": True, "failed": [], "reason": None}
    assert [c["ok"] for c in report["stored_checkpoints"]] == [True]
    (seen,) = report["checkpoints"]
    assert seen["ok"] and seen["key"] == "pinned" and seen["size"] == SIZE
    assert seen["consistency"]["from"] == SIZE and seen["consistency"]["to"] == SIZE + 6
    assert len(seen["consistency"]["proof"]) >= 1
    # The plain text says so too, and an entry proves its inclusion in the witnessed tree.
    code, out, _ = cli(haven, "audit", "verify", "--checkpoint", str(witness), "--skip-landing")
    assert code == 0 and "only grew since" in out
    code, out, _ = cli(haven, "audit", "prove", "5", "--checkpoint", str(witness), "--json")
    proof = json.loads(out)
    assert code == 0 and proof["verified"] and proof["tree_size"] == SIZE
    assert proof["root"] == json.loads(witness.read_text())["root"]


def test_a_rewritten_entry_is_caught_only_by_the_witness(make_haven, control_backend, cli,
                                                         tmp_path):
    """The attack of item 6: the chain walk says ok, the checkpoint exits 7."""
    haven = make_haven(control_backend)
    witness, pinned = _witnessed(haven, cli, tmp_path)
    _drop_triggers(haven)
    _rechain(haven, 7, lambda conn: conn.execute(text(
        "UPDATE audit_log SET actor = 'mallory', details = '{\"code\":\"X\",\"kind\":\"partner\"}' "
        "WHERE seq = 7")))

    code, report, _ = _verify(cli, haven)
    assert report["chain"]["ok"] is True  # the chain walk alone is fooled
    assert code == 7 and report["ok"] is False  # the recorded checkpoint and triggers are not

    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness))
    assert code == 7 and report["ok"] is False and report["chain"]["ok"] is True
    assert f"at or before entry {SIZE}" in report["reason"]
    assert report["checkpoints"][0]["problem"] == "root"
    code, _, err = cli(haven, "audit", "verify", "--checkpoint", str(witness), "--public-key",
                       str(pinned), "--skip-landing")
    assert code == 7 and "no longer give the Merkle root" in err and "Traceback" not in err
    # An inclusion proof against the witness is refused too, with the same sentence.
    code, _, err = cli(haven, "audit", "prove", "3", "--checkpoint", str(witness))
    assert code == 7 and "Merkle root" in err


def test_a_second_witness_narrows_down_where(make_haven, cli, tmp_path):
    haven = make_haven()
    early = tmp_path / "early.json"
    assert cli(haven, "audit", "checkpoint", "--out", str(early))[0] == 0  # 2 entries
    witness, _ = _witnessed(haven, cli, tmp_path, add=SIZE - 3)  # early's entry is the 3rd
    _drop_triggers(haven)
    _rechain(haven, 9, lambda conn: conn.execute(text(
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 9")))
    code, report, _ = _verify(cli, haven, "--checkpoint", str(early), "--checkpoint",
                              str(witness))
    assert code == 7
    first, second = report["checkpoints"]
    assert first["ok"] and not second["ok"]
    assert "after entry 2 and at or before entry" in second["reason"]


def test_an_inserted_or_removed_entry_is_caught(make_haven, control_backend, cli, tmp_path):
    haven = make_haven(control_backend)
    witness, _ = _witnessed(haven, cli, tmp_path)
    _drop_triggers(haven)

    def remove(conn) -> None:  # delete entry 4, close the gap
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 1 WHERE seq > 4"))

    _rechain(haven, 4, remove)
    assert _verify(cli, haven)[1]["chain"]["ok"] is True
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness))
    assert code == 7 and "altered, inserted or removed" in report["reason"]


def test_a_deleted_tail_and_a_moved_head_are_caught(make_haven, control_backend, cli,
                                                    tmp_path):
    """Second attack: entries from 9 on are deleted and the head moved back to 8."""
    haven = make_haven(control_backend)
    witness, _ = _witnessed(haven, cli, tmp_path)
    _drop_triggers(haven)
    _as_owner(haven, "DELETE FROM audit_log WHERE seq > 8")
    _rechain(haven, 8)  # only moves the head: entries 1..8 are untouched
    assert _verify(cli, haven)[1]["chain"]["ok"] is True  # a consistent, shorter chain
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness))
    assert code == 7 and report["first_bad"] == 9
    assert report["checkpoints"][0]["problem"] == "shorter"
    assert f"witnessed {SIZE}" in report["reason"] and "removed" in report["reason"]


def test_a_checkpoint_resigned_with_another_key_is_caught(make_haven, control_backend, cli,
                                                          tmp_path):
    """Third attack: the intruder rewrites the log, signs a new checkpoint of it with their own
    key and swaps the witness's file. Pinning the key catches it; so does this haven's own key,
    unless the intruder replaced that file too, which is why the witness must pin the key."""
    haven = make_haven(control_backend)
    witness, pinned = _witnessed(haven, cli, tmp_path)
    _drop_triggers(haven)
    _rechain(haven, 3, lambda conn: conn.execute(text(
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")))

    theirs = Ed25519PrivateKey.generate()
    doc = json.loads(witness.read_text())
    doc["root"] = log_root(haven.engine, SIZE).hex()
    doc["key_id"] = key_id(theirs.public_key())
    doc["public_key"] = public_pem(theirs.public_key())
    body = cp.statement(haven_key_id=doc["haven_key_id"], size=SIZE, root=doc["root"],
                        signed_at=doc["signed_at"], key=doc["key_id"])
    doc["signature"] = base64.b64encode(theirs.sign(body)).decode()
    witness.write_text(json.dumps(doc))

    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness), "--public-key",
                              str(pinned))
    assert code == 7 and "not with the key given with --public-key" in report["reason"]
    assert report["checkpoints"][0]["problem"] == "key"
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness))
    assert code == 7 and "not with this haven's audit signing key" in report["reason"]

    # The intruder also swaps the haven's key file, deletes the haven's record of its
    # checkpoints and puts the triggers back: only the pinned key still catches it.
    key_file = haven.paths.audit_key
    key_file.write_bytes(theirs.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    _as_owner(haven, "DELETE FROM audit_checkpoints")
    restore_triggers(haven)
    assert _verify(cli, haven, "--checkpoint", str(witness))[0] == 0  # unpinned: fooled
    assert _verify(cli, haven, "--checkpoint", str(witness), "--public-key",
                   str(pinned))[0] == 7


@pytest.mark.parametrize("field", ["size", "root", "signed_at", "haven_key_id"])
def test_an_altered_witness_file_is_caught(make_haven, cli, tmp_path, field):
    haven = make_haven()
    witness, pinned = _witnessed(haven, cli, tmp_path)
    doc = json.loads(witness.read_text())
    doc[field] = {"size": SIZE - 1, "root": "0" * 64,
                  "signed_at": "2020-01-01T00:00:00.000000Z",
                  "haven_key_id": "mk-0000000000000000"}[field]
    witness.write_text(json.dumps(doc))
    code, report, _ = _verify(cli, haven, "--checkpoint", str(witness), "--public-key",
                              str(pinned))
    assert code == 7 and "does not verify" in report["reason"]
    assert report["checkpoints"][0]["problem"] == "signature"


def test_a_file_that_is_no_checkpoint_is_named(make_haven, cli, tmp_path):
    haven = make_haven()
    junk = tmp_path / "junk.json"
    junk.write_text("{\"format\": \"something else\"}")
    code, report, _ = _verify(cli, haven, "--checkpoint", str(junk))
    assert code == 7 and "is not a carehaven audit checkpoint" in report["reason"]
    code, _, err = cli(haven, "audit", "verify", "--checkpoint", str(tmp_path / "absent.json"))
    assert code == 2 and "no checkpoint file" in err


def test_checkpoints_are_recorded_and_audited(make_haven, cli, tmp_path):
    """The table keeps every checkpoint; the log records its signing; the artefact writer's
    ``witness`` gives the same document the witness was given."""
    haven = make_haven()
    target = tmp_path / "w.json"
    assert cli(haven, "audit", "checkpoint", "--out", str(target))[0] == 0
    with haven.sessions() as session:
        row = cp.latest(session)
        assert row is not None and row.size == 2 and row.created_by.startswith("cli:")
        assert cp.witness(session) == json.loads(target.read_text())
    _, out, _ = cli(haven, "audit", "show", "--json")
    last = json.loads(out)[-1]
    assert last["action"] == "audit.checkpoint-signed"
    assert json.loads(last["details"]) == {"checkpoint": "C-1", "size": 2, "root": row.root,
                                           "key_id": row.key_id}
    with pytest.raises(ValueError, match="attached"):
        cp.document(row)  # detached: the caller must give the key and the haven's key id


def test_prove_names_an_entry_outside_the_tree(make_haven, cli):
    haven = make_haven()
    code, _, err = cli(haven, "audit", "prove", "99")
    assert code == 9 and "not in the audit log" in err
    code, out, _ = cli(haven, "audit", "prove", "2", "--json")
    proof = json.loads(out)
    assert code == 0 and proof["leaf_index"] == 1 and proof["tree_size"] == 2
    assert len(proof["path"]) == 1


def test_another_havens_checkpoint_is_named(make_haven, cli, tmp_path):
    ours, theirs = make_haven(), make_haven()
    other = tmp_path / "theirs.json"
    assert cli(theirs, "audit", "checkpoint", "--out", str(other))[0] == 0
    code, report, _ = _verify(cli, ours, "--checkpoint", str(other))
    assert code == 7 and report["checkpoints"][0]["problem"] == "haven"
    assert "another haven" in report["reason"]
