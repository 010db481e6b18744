"""People and roles on the command line (issue 6): who may run what, for which organisation.

A few commands run as a user's shell runs them (``run``: a child process); the rest call the
same entry point in this process, which is many times faster.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carehaven.cli import main
from carehaven.collection import submit
from carehaven.config import Settings
from carehaven.errors import AccessDeniedError
from carehaven.governance.access import Permission, acting_user, add_user, require
from carehaven.haven import init_haven, open_haven
from tests.e2e.test_cli import run
from tests.helpers import episodes_file

pytestmark = pytest.mark.slow

EPISODE = ["--dataset", "ndtms-episode", "--period", "2025Q2"]


def _as(user: str) -> dict[str, str]:
    return {"CAREHAVEN_USER": user}


class Cli:
    """``main`` in this process, acting as a user: (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, env: dict[str, str], *args: str) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            self.capsys.readouterr()
            code = main(list(args))
            out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch)


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two providers with one submitter each, a data team, an analyst, the IPS team and an
    auditor; P002 has already submitted a return."""
    root = tmp_path_factory.mktemp("cli-access")
    haven = init_haven(Settings(haven=root / "haven"), actor="test")
    for code, name in (("P001", "Riverside Recovery"), ("P002", "Hillside Hope")):
        haven.add_organisation(code, "treatment-service", name, actor="test")
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="test")
    for user, org, role in [("alice", "P001", "submitter"), ("bob", "P002", "submitter"),
                            ("ann", None, "analyst"), ("ivy", None, "ips-team"),
                            ("aud", None, "auditor")]:
        add_user(haven, user, user.title(), org, roles=[role], actor="user:boss")
    for org in ("P001", "P002"):
        (root / f"{org}.csv").write_bytes(episodes_file(5, provider_code=org))
    submit(haven, root / "P002.csv", dataset="ndtms-episode", org="P002", period="2025Q2",
           actor="user:bob")
    haven.close()
    return root / "haven"


def test_each_submitter_sees_only_its_own_organisation(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    own = run(*h, "submit", str(haven_dir.parent / "P001.csv"), *EPISODE, "--org", "P001",
              "--json", env=_as("alice"))
    assert own.returncode == 0, own.stderr
    alice_sub = json.loads(own.stdout)["submission_id"]
    code, _, err = cli(_as("alice"), *h, "submit", str(haven_dir.parent / "P002.csv"),
                       *EPISODE, "--org", "P002")
    assert code == 13 and "submit returns for organisation P002" in err

    seen = {}
    for user in ("alice", "bob", "boss"):
        code, out, err = cli(_as(user), *h, "submissions", "--json")
        assert code == 0, err
        seen[user] = {s["submission_id"]: s["org"] for s in json.loads(out)}
    assert set(seen["alice"].values()) == {"P001"} and alice_sub in seen["alice"]
    assert set(seen["bob"].values()) == {"P002"}
    assert seen["boss"] == {**seen["alice"], **seen["bob"]}
    (bob_sub,) = seen["bob"]
    assert cli(_as("alice"), *h, "submissions", "--org", "P002")[0] == 13

    code, out, _ = cli(_as("alice"), *h, "report", alice_sub, "--format", "json", "--stdout")
    assert code == 0 and json.loads(out)["org"] == "P001"
    theirs = cli(_as("alice"), *h, "report", bob_sub, "--format", "json", "--stdout")
    absent = cli(_as("alice"), *h, "report", "sub-000000000000", "--stdout")
    # Another organisation's submission and a missing one look the same to a submitter.
    assert theirs[0] == absent[0] == 13
    assert theirs[1] == absent[1] == ""
    assert theirs[2].replace(bob_sub, "ID") == absent[2].replace("sub-000000000000", "ID")
    assert "P002" not in theirs[2]
    # The data team reads every organisation, and is told plainly what does not exist.
    assert cli(_as("boss"), *h, "report", bob_sub, "--stdout")[0] == 0
    assert cli(_as("boss"), *h, "report", "sub-000000000000")[0] == 9

    feedback = haven_dir.parent / "fb.csv"
    assert cli(_as("alice"), *h, "feedback", "--org", "P002", "--out", str(feedback))[0] == 13
    assert not feedback.exists()


def test_an_analyst_may_not_link_and_refusals_are_audited(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    r = run(*h, "link", "--json", env=_as("ann"))
    assert r.returncode == 13
    assert json.loads(r.stdout)["error"]["exit_code"] == 13
    assert "run-pipeline" in r.stderr and "Traceback" not in r.stderr
    assert cli(_as("ann"), *h, "audit", "verify")[0] == 13

    code, out, err = cli(_as("aud"), *h, "audit", "show", "--limit", "100", "--json")
    assert code == 0, err
    denied = [e for e in json.loads(out) if e["action"] == "access.denied"]
    assert {(e["actor"], json.loads(e["details"])["permission"]) for e in denied} >= {
        ("user:ann", "run-pipeline"), ("user:ann", "read-audit")}
    code, out, _ = cli(_as("aud"), *h, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_a_name_that_is_not_a_user_is_refused(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    r = run(*h, "orgs", "list", env=_as("mallory"))
    assert r.returncode == 13
    assert "mallory is not an active user" in r.stderr and "CAREHAVEN_USER" in r.stderr
    code, _, err = cli({"CAREHAVEN_USER": "", "USER": "stranger"}, *h, "orgs", "list")
    assert code == 13 and "stranger is not an active user" in err  # the OS account
    assert cli(_as("alice"), *h, "orgs", "list")[0] == 0  # any user may list organisations


def test_only_the_ips_team_may_see_identifiable_ips_data(haven_dir: Path) -> None:  # SHR-6
    haven = open_haven(Settings(haven=haven_dir))
    try:
        require(haven, acting_user(haven, "ivy"), Permission.READ_IPS_IDENTIFIABLE)
        for user in ("boss", "alice", "ann", "aud"):
            with pytest.raises(AccessDeniedError):
                require(haven, acting_user(haven, user), Permission.READ_IPS_IDENTIFIABLE)
    finally:
        haven.close()


def test_the_first_user_ends_single_operator_mode(tmp_path: Path, cli: Cli) -> None:
    h = ["--haven", str(tmp_path / "haven")]
    owner = {"CAREHAVEN_USER": "", "USER": "owner"}
    boss = {**owner, "CAREHAVEN_USER": "a.khan@haven"}
    assert cli(owner, *h, "init")[0] == 0
    assert cli(owner, *h, "orgs", "add", "P001", "--kind", "treatment-service", "--name",
               "R")[0] == 0
    code, _, err = cli(owner, *h, "users", "add", "r.lee", "--name", "Rob Lee", "--org",
                       "P001", "--role", "submitter")
    assert code == 2 and "data-team" in err
    code, out, err = cli(owner, *h, "users", "add", "a.khan@haven", "--name", "Asha Khan",
                         "--role", "data-team", "--json")
    assert code == 0, err
    assert json.loads(out)["grants"][0]["role"] == "data-team"
    assert "CAREHAVEN_USER=a.khan@haven" in err
    assert cli(owner, *h, "orgs", "list")[0] == 13  # the OS account is nobody now
    assert cli(boss, *h, "users", "add", "r.lee", "--name", "Rob Lee", "--org", "P001",
               "--role", "submitter")[0] == 0
    assert cli(boss, *h, "users", "grant", "r.lee", "auditor")[0] == 0
    code, out, _ = cli(boss, *h, "users", "list", "--json")
    people = {u["username"]: u for u in json.loads(out)}
    assert {(g["role"], g["org"]) for g in people["r.lee"]["grants"]} == {
        ("submitter", "P001"), ("auditor", None)}
    assert people["a.khan@haven"]["grants"][0]["last_used_at"] is not None
    code, out, _ = cli(boss, *h, "users", "list")
    assert code == 0 and "r.lee" in out and "every organisation" in out
    assert cli({**owner, "CAREHAVEN_USER": "r.lee"}, *h, "users", "list")[0] == 13
    assert cli(boss, *h, "users", "grant", "a.khan@haven", "ips-team")[0] == 13  # themselves
    assert cli(boss, *h, "users", "revoke", "r.lee", "auditor")[0] == 0
    code, out, _ = cli(boss, *h, "audit", "show", "--json")
    actors = [(e["actor"], e["action"]) for e in json.loads(out)]
    assert ("cli:owner", "user.added") in actors
    assert ("user:a.khan@haven", "role.revoked") in actors
    assert cli(boss, *h, "audit", "verify")[0] == 0
