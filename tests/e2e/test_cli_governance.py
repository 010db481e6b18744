"""The governance commands as the issue walks through them (issue 6): recipients, agreements,
release propose / approve (by another person) / show, access review (SHR-1 to SHR-12)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from carehaven.identity.link import link
from tests.e2e.test_cli import run
from tests.linkage import build
from tests.people import user_env

pytestmark = pytest.mark.slow

FIELDS = "age_at_referral,sex,referral_date,substance_1"


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linked haven whose owner registered its two founders, admin and admin2; admin added
    alice and carol, admin2 added bob (all data-team). alice and bob were made under different
    founders, so are independent (SHR-12); alice and carol were both made by admin, so are
    not."""
    root = tmp_path_factory.mktemp("cli-governance")
    haven, _ = build(root / "haven", root / "returns", people=600, seed=5, periods=("2025Q1",))
    link(haven, actor="test")
    haven.close()
    h = str(root / "haven")
    for founder in ("admin", "admin2"):
        r = run("--haven", h, "users", "add", founder, "--name", founder.title(), "--role",
                "data-team", "--token-out", str(root / f"{founder}.token"))
        assert r.returncode == 0, r.stderr
    for user, by in (("alice", "admin"), ("bob", "admin2"), ("carol", "admin")):
        r = run("--haven", h, "users", "add", user, "--name", user.title(), "--role", "data-team",
                env={"CAREHAVEN_TOKEN": (root / f"{by}.token").read_text().strip()})
        assert r.returncode == 0, r.stderr
    return root / "haven"


def _ok(*args: str, user: str = "alice") -> dict[str, object]:
    haven_dir = Path(args[args.index("--haven") + 1])
    r = run(*args, "--json", env=user_env(haven_dir, user))
    assert r.returncode == 0, r.stderr + r.stdout
    value: dict[str, object] = json.loads(r.stdout)
    return value


def test_the_issue_walkthrough(haven_dir: Path, tmp_path: Path) -> None:
    h = ["--haven", str(haven_dir)]
    added = _ok(*h, "recipients", "add", "NDEC", "--kind", "research", "--name",
                "National Drug Evidence Centre")
    assert added["code"] == "NDEC" and added["kind"] == "research"
    expires = (date.today() + timedelta(days=365)).isoformat()
    deal = _ok(*h, "agreements", "add", "--recipient", "NDEC", "--tier", "de-personalised",
               "--datasets", "ndtms-episode", "--fields", FIELDS, "--purposes",
               "research,statistics", "--lawful-basis", "6.1.e,9.2.j", "--expires", expires,
               "--no-reidentification-signed")
    assert str(deal["agreement_id"]).startswith("A-")
    assert deal["fields"] == {"ndtms-episode": FIELDS.split(",")}

    proposed = _ok(*h, "release", "propose", "--agreement", str(deal["agreement_id"]),
                   "--dataset", "ndtms-episode", "--purpose", "research")
    assert proposed["decision"] == "allow" and str(proposed["release_id"]).startswith("R-")
    assert all(set(r) == {"requirement", "text"} for r in proposed["reasons"])  # type: ignore[attr-defined]
    rid = str(proposed["release_id"])

    alice = user_env(haven_dir, "alice")
    own = run(*h, "release", "approve", rid, "--as", "alice", "--json", env=alice)
    assert own.returncode == 14, own.stdout + own.stderr
    assert "another person" in own.stderr or "another person" in own.stdout
    # The proposer naming the second person proves nothing: refused before the release code.
    posing = run(*h, "release", "approve", rid, "--as", "bob", "--json", env=alice)
    assert posing.returncode == 13, posing.stdout + posing.stderr
    assert "belongs to another user, not bob" in posing.stderr
    assert _ok(*h, "release", "show", rid)["status"] == "proposed"
    log = run(*h, "audit", "show", "--limit", "20", "--json", env=user_env(haven_dir, "admin"))
    denied = [e for e in json.loads(log.stdout) if e["action"] == "access.denied"]
    assert (denied[-1]["actor"], denied[-1]["subject"]) == ("user:alice", "user:bob")

    approved = _ok(*h, "release", "approve", rid, "--as", "bob", "--out", str(tmp_path / "r"),
                   user="bob")
    assert set(approved) == {"release_id", "status", "files", "manifest"}
    assert approved["status"] == "written"
    table = pq.read_table(tmp_path / "r" / "ndtms-episode.parquet")
    assert table.column_names == ["pseudonym", *FIELDS.split(",")]

    shown = _ok(*h, "release", "show", rid)
    assert shown["approved_by"] == "user:bob" and shown["proposed_by"] == "user:alice"
    assert shown["people"] and shown["rows"] == table.num_rows

    text = run(*h, "release", "show", rid, env=user_env(haven_dir, "bob"))
    assert text.returncode == 0 and rid in text.stdout

    review = _ok(*h, "access", "review")
    assert any(a["agreement"] == deal["agreement_id"] for a in review["access"])  # type: ignore[attr-defined]


def test_a_sibling_is_not_a_second_person(haven_dir: Path, tmp_path: Path) -> None:
    """The outside tester's release: alice and carol were both made by admin, who may hold
    both first tokens, so carol approving alice's proposal is one person approving their own
    release (SHR-12): refused (exit 13) and audited; the release stays proposed, unwritten."""
    h = ["--haven", str(haven_dir)]
    _ok(*h, "recipients", "add", "UNI", "--kind", "research", "--name", "A University")
    expires = (date.today() + timedelta(days=365)).isoformat()
    deal = _ok(*h, "agreements", "add", "--recipient", "UNI", "--tier", "de-personalised",
               "--datasets", "ndtms-episode", "--fields", FIELDS, "--purposes", "research",
               "--lawful-basis", "6.1.e,9.2.j", "--expires", expires,
               "--no-reidentification-signed")
    proposed = _ok(*h, "release", "propose", "--agreement", str(deal["agreement_id"]),
                   "--dataset", "ndtms-episode", "--purpose", "research")
    rid = str(proposed["release_id"])
    out = tmp_path / "r"
    r = run(*h, "release", "approve", rid, "--out", str(out), "--json",
            env=user_env(haven_dir, "carol"))
    assert r.returncode == 13, r.stdout + r.stderr
    assert "not a second person" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(r.stdout)["error"]["exit_code"] == 13
    assert not out.exists()
    assert _ok(*h, "release", "show", rid)["status"] == "proposed"
    log = run(*h, "audit", "show", "--limit", "20", "--json", env=user_env(haven_dir, "admin2"))
    refused = [e for e in json.loads(log.stdout) if e["action"] == "release.refused"]
    assert refused[-1]["actor"] == "user:carol" and refused[-1]["subject"] == f"release:{rid}"
    assert "not-independent" in refused[-1]["details"]


def test_police_are_denied_with_the_requirement(haven_dir: Path) -> None:
    """SHR-3 whatever the agreement says; the CLI exits 14 and prints the reasons."""
    h = ["--haven", str(haven_dir)]
    _ok(*h, "recipients", "add", "MET", "--kind", "police", "--name", "Metropolitan Police")
    expires = (date.today() + timedelta(days=100)).isoformat()
    deal = _ok(*h, "agreements", "add", "--recipient", "MET", "--tier", "anonymised",
               "--datasets", "ndtms-episode", "--fields", "sex,substance_1", "--purposes",
               "research", "--lawful-basis", "6.1.e", "--expires", expires)
    r = run(*h, "release", "propose", "--agreement", str(deal["agreement_id"]), "--dataset",
            "ndtms-episode", "--json", env=user_env(haven_dir, "alice"))
    assert r.returncode == 14
    body = json.loads(r.stdout)
    assert body["decision"] == "deny" and body["release_id"] is None
    assert "SHR-3" in {x["requirement"] for x in body["reasons"]}


def test_bad_input_gets_a_sentence(haven_dir: Path) -> None:
    h = ["--haven", str(haven_dir)]
    env = user_env(haven_dir, "alice")
    r = run(*h, "agreements", "add", "--recipient", "NOBODY", "--tier", "anonymised",
            "--datasets", "ndtms-episode", "--fields", "sex", "--purposes", "research",
            "--lawful-basis", "6.1.e", "--expires", "2030-01-01", env=env)
    assert r.returncode == 9 and "NOBODY" in r.stderr and "Traceback" not in r.stderr
    r = run(*h, "agreements", "add", "--recipient", "NDEC", "--tier", "anonymised",
            "--datasets", "ndtms-episode", "--fields", "initials", "--purposes", "research",
            "--lawful-basis", "6.1.e", "--expires", "2030-01-01", env=env)
    assert r.returncode == 2 and "initials" in r.stderr
    r = run(*h, "release", "approve", "R-999", "--as", "bob", env=user_env(haven_dir, "bob"))
    assert r.returncode == 9 and "R-999" in r.stderr
    r = run(*h, "release", "propose", "--agreement", "A-1", "--dataset", "ndtms-episode",
            env={"CAREHAVEN_USER": "mallory"})
    assert r.returncode == 13 and "is not enough" in r.stderr
