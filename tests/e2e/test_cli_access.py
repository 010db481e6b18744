"""People and roles on the command line (issue 6): who may run what, for which organisation;
and who acts at all (issue 12): a person who proves it with a token or a password.

A few commands run as a user's shell runs them (``run``: a child process); the rest call the
same entry point in this process, which is many times faster.
"""

from __future__ import annotations

import io
import json
import sys
from functools import partial
from pathlib import Path

import pytest

from carehaven.access.auth import TOKEN_ENV
from carehaven.access.users import Permission, acting_user, add_user, require
from carehaven.cli import main
from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.errors import AccessDeniedError
from carehaven.haven import init_haven, open_haven
from tests.e2e.test_cli import run
from tests.helpers import episodes_file
from tests.people import token_for, user_env

pytestmark = pytest.mark.slow

EPISODE = ["--dataset", "ndtms-episode", "--period", "2025Q2"]


class Cli:
    """``main`` in this process, acting as a user: (exit code, stdout, stderr). Standard input
    is never a terminal here, as in a script: nobody can be asked for a password."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, env: dict[str, str], *args: str) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            m.delenv(TOKEN_ENV, raising=False)
            m.delenv("CAREHAVEN_USER", raising=False)
            m.setattr(sys, "stdin", io.StringIO(""))
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
    haven = init_haven(Settings.load(haven=root / "haven"), actor="test")
    for code, name in (("P001", "Riverside Recovery"), ("P002", "Hillside Hope")):
        haven.add_organisation(code, "treatment-service", name, actor="test")
    add_user(haven, "boss", "Boss", None, roles=["data-team"], actor="test")
    for user, org, role in [("alice", "P001", "submitter"), ("bob", "P002", "submitter"),
                            ("ann", None, "analyst")]:
        add_user(haven, user, user.title(), org, roles=[role], actor="user:boss")
    # The IPS team and the auditor carry what the data team lacks: someone else adds them.
    for user, role in [("ivy", "ips-team"), ("aud", "auditor")]:
        add_user(haven, user, user.title(), None, roles=[role], actor="test")
    for org in ("P001", "P002"):
        (root / f"{org}.csv").write_bytes(episodes_file(5, provider_code=org))
    submit(haven, root / "P002.csv", dataset="ndtms-episode", org="P002", period="2025Q2",
           actor="user:bob")
    haven.close()
    return root / "haven"


def test_each_submitter_sees_only_its_own_organisation(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    _as = partial(user_env, haven_dir)
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
    _as = partial(user_env, haven_dir)
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


def test_naming_a_user_is_not_enough(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    for env in ({"CAREHAVEN_USER": "boss"}, {"CAREHAVEN_USER": "mallory"},
                {"CAREHAVEN_USER": "", "USER": "boss"}):
        code, out, err = cli(env, *h, "orgs", "list")  # no token, no terminal: refused
        assert code == 13 and out == ""
        assert "is not enough" in err and "CAREHAVEN_TOKEN" in err and "auth token create" in err
    code, _, err = cli({"CAREHAVEN_USER": "boss"}, *h, "users", "grant", "alice", "analyst")
    assert code == 13
    code, out, _ = cli(user_env(haven_dir, "aud"), *h, "audit", "show", "--limit", "400",
                       "--json")
    denied = [(e["actor"], e["subject"], json.loads(e["details"])["permission"])
              for e in json.loads(out) if e["action"] == "access.denied"]
    tried = {(subject, permission) for actor, subject, permission in denied
             if actor.startswith("cli:")}  # nobody proved who they are: the OS account's entry
    assert {("user:boss", "authenticate"), ("user:mallory", "authenticate")} <= tried
    assert cli(user_env(haven_dir, "alice"), *h, "orgs", "list")[0] == 0  # any user may list


def test_a_bad_token_is_refused(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    good = token_for(haven_dir, "bob")
    wrong = good[:-3] + ("xyz" if not good.endswith("xyz") else "abc")
    for token, says in [(wrong, "not a valid token"), ("chv1.tk-0123.abc", "not a valid token")]:
        code, out, err = cli({TOKEN_ENV: token}, *h, "orgs", "list")
        assert code == 13 and says in err and token not in err + out
    code, out, _ = cli({TOKEN_ENV: good}, *h, "auth", "token", "create", "--label", "spare",
                       "--expires-days", "1", "--json")
    spare = json.loads(out)
    assert code == 0 and spare["token"].startswith(f"chv1.{spare['id']}.")
    assert cli({TOKEN_ENV: spare["token"]}, *h, "orgs", "list")[0] == 0
    assert cli({TOKEN_ENV: good}, *h, "auth", "token", "revoke", spare["id"])[0] == 0
    code, _, err = cli({TOKEN_ENV: spare["token"]}, *h, "orgs", "list")
    assert code == 13 and "revoked" in err
    # Another user's token: the same answer as one that does not exist, unless you manage users.
    code, _, err = cli(user_env(haven_dir, "alice"), *h, "auth", "token", "revoke", spare["id"])
    absent = cli(user_env(haven_dir, "alice"), *h, "auth", "token", "revoke",
                 "tk-0000000000000000")
    assert code == absent[0] == 13
    assert err.replace(spare["id"], "ID") == absent[2].replace("tk-0000000000000000", "ID")
    code, out, _ = cli({TOKEN_ENV: good}, *h, "auth", "token", "list", "--json")
    listed = {t["id"]: t for t in json.loads(out)}
    assert listed[spare["id"]]["state"] == "revoked"
    assert listed[good.split(".")[1]]["last_used_at"] is not None
    code, out, _ = cli({TOKEN_ENV: good}, *h, "auth", "token", "list")
    assert code == 0 and spare["id"] in out and spare["token"].split(".")[2] not in out
    assert good.split(".")[2] not in out


def test_a_token_for_alice_with_as_bob_is_refused(haven_dir: Path, cli: Cli) -> None:
    h = ["--haven", str(haven_dir)]
    alice = user_env(haven_dir, "alice")
    code, _, err = cli({**alice, "CAREHAVEN_USER": "bob"}, *h, "orgs", "list")
    assert code == 13 and "belongs to another user, not bob" in err
    code, out, err = cli(alice, *h, "auth", "whoami", "--json")
    assert code == 0 and json.loads(out)["username"] == "alice"
    assert json.loads(out)["via"].startswith("token:tk-")


def test_only_the_ips_team_may_see_identifiable_ips_data(haven_dir: Path) -> None:  # SHR-6
    haven = open_haven(Settings.load(haven=haven_dir))

    def proved(user: str) -> dict[str, str]:
        return {TOKEN_ENV: token_for(haven_dir, user)}

    try:
        require(haven, acting_user(haven, environ=proved("ivy")),
                Permission.READ_IPS_IDENTIFIABLE)
        for user in ("boss", "alice", "ann", "aud"):
            with pytest.raises(AccessDeniedError):
                require(haven, acting_user(haven, environ=proved(user)),
                        Permission.READ_IPS_IDENTIFIABLE)
    finally:
        haven.close()


def test_two_founders_end_single_operator_mode(tmp_path: Path, cli: Cli) -> None:
    h = ["--haven", str(tmp_path / "haven")]
    owner = {"USER": "owner"}
    assert cli(owner, *h, "init")[0] == 0
    assert cli(owner, *h, "orgs", "add", "P001", "--kind", "treatment-service", "--name",
               "R")[0] == 0
    code, _, err = cli(owner, *h, "users", "add", "r.lee", "--name", "Rob Lee", "--org",
                       "P001", "--role", "submitter", "--token-out", str(tmp_path / "x"))
    assert code == 2 and "two founders" in err and "data-team" in err
    assert not (tmp_path / "x").exists()
    code, _, err = cli(owner, *h, "users", "add", "a.khan@haven", "--name", "Asha Khan",
                       "--role", "data-team")
    assert code == 2 and "--token-out" in err  # a founder must be able to prove it
    code, _, err = cli(owner, *h, "users", "add", "a.khan@haven", "--name", "Asha Khan",
                       "--role", "data-team", "--role", "ips-team", "--token-out",
                       str(tmp_path / "x"))
    assert code == 13 and "cannot be given to a new account" in err
    first = tmp_path / "a.khan.token"
    code, out, err = cli(owner, *h, "users", "add", "a.khan@haven", "--name", "Asha Khan",
                         "--role", "data-team", "--token-out", str(first), "--json")
    assert code == 0, err
    assert json.loads(out)["grants"][0]["role"] == "data-team"
    assert first.stat().st_mode & 0o777 == 0o600 and "CAREHAVEN_TOKEN" in err
    assert "founder 1 of 2" in err and "still acts as the haven's owner" in err
    token = first.read_text().strip()
    assert token not in out + err
    boss = {**owner, TOKEN_ENV: token}
    # One founder: a command without a token that names nobody still runs as the owner, and a
    # token authenticates its user as ever.
    code, out, _ = cli(owner, *h, "auth", "whoami", "--json")
    assert code == 0 and json.loads(out)["actor"] == "cli:owner"
    code, out, _ = cli(boss, *h, "auth", "whoami", "--json")
    assert code == 0 and json.loads(out)["actor"] == "user:a.khan@haven"
    assert cli({**owner, "CAREHAVEN_USER": "a.khan@haven"}, *h, "orgs", "list")[0] == 13
    code, _, err = cli(owner, *h, "users", "add", "r.lee", "--name", "Rob Lee", "--org",
                       "P001", "--role", "submitter", "--token-out", str(tmp_path / "x"))
    assert code == 2 and "registers only data-team users" in err
    # The owner made the founder's account: it is nobody's second person for a release.
    code, _, err = cli(owner, *h, "release", "propose", "--agreement", "A-1", "--dataset",
                       "ndtms-episode")
    assert code == 13 and "independent of nobody" in err
    # The second founder, another person, ends the mode.
    ben = tmp_path / "b.lee.token"
    code, _, err = cli(owner, *h, "users", "add", "b.lee", "--name", "Ben Lee", "--role",
                       "data-team", "--token-out", str(ben))
    assert code == 0 and "single-operator mode is over" in err, err
    assert cli(owner, *h, "orgs", "list")[0] == 13  # the OS account is nobody now
    assert cli({**owner, "CAREHAVEN_USER": "a.khan@haven"}, *h, "orgs", "list")[0] == 13
    code, _, err = cli(owner, *h, "users", "add", "c.ode", "--name", "C", "--role",
                       "data-team", "--token-out", str(tmp_path / "y"))
    assert code == 13 and not (tmp_path / "y").exists()  # no third founder
    rlee = tmp_path / "r.lee.token"
    assert cli(boss, *h, "users", "add", "r.lee", "--name", "Rob Lee", "--org", "P001",
               "--role", "submitter", "--token-out", str(rlee))[0] == 0
    code, _, err = cli(boss, *h, "users", "add", "x", "--name", "X", "--token-out", str(rlee))
    assert code == 2 and "already exists" in err  # an existing file is never overwritten
    assert cli(boss, *h, "users", "grant", "r.lee", "analyst")[0] == 0
    # a.khan made r.lee's account: the auditor's role must come from someone independent.
    code, _, err = cli(boss, *h, "users", "grant", "r.lee", "auditor")
    assert code == 13 and "a.khan@haven created the account of r.lee" in err
    assert "granted only by someone independent" in err
    code, out, _ = cli(boss, *h, "users", "list", "--json")
    people = {u["username"]: u for u in json.loads(out)}
    assert {(g["role"], g["org"]) for g in people["r.lee"]["grants"]} == {
        ("submitter", "P001"), ("analyst", None)}
    assert people["r.lee"]["created_by"] == "user:a.khan@haven"
    assert people["b.lee"]["created_by"] == "cli:owner"
    assert people["a.khan@haven"]["grants"][0]["last_used_at"] is not None
    code, out, _ = cli(boss, *h, "users", "list")
    assert code == 0 and "r.lee" in out and "every organisation" in out
    assert cli({TOKEN_ENV: rlee.read_text().strip()}, *h, "users", "list")[0] == 13
    assert cli(boss, *h, "users", "grant", "a.khan@haven", "ips-team")[0] == 13  # themselves
    assert cli(boss, *h, "users", "revoke", "r.lee", "analyst")[0] == 0
    code, out, _ = cli(boss, *h, "audit", "show", "--json")
    actors = [(e["actor"], e["action"]) for e in json.loads(out)]
    assert ("cli:owner", "user.added") in actors and ("cli:owner", "token.issued") in actors
    assert ("user:a.khan@haven", "role.revoked") in actors
    assert cli(boss, *h, "audit", "verify")[0] == 0


def _founded(tmp_path: Path, cli: Cli) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A new haven whose owner registered the two founders, operator and other (data-team);
    each person's environment, acting with their first token."""
    h = ["--haven", str(tmp_path / "haven")]
    assert cli({}, *h, "init")[0] == 0
    envs: dict[str, dict[str, str]] = {}
    for name in ("operator", "other"):
        envs[name] = _add(tmp_path, cli, h, {}, name, "data-team")
    return h, envs


def _add(tmp_path: Path, cli: Cli, h: list[str], by: dict[str, str], name: str,
         *roles: str) -> dict[str, str]:
    """``by`` adds ``name`` with ``roles`` and a first token; the new person's environment."""
    file = tmp_path / f"{name}.token"
    code, _, err = cli(by, *h, "users", "add", name, "--name", name.title(),
                       *(x for r in roles for x in ("--role", r)), "--token-out", str(file))
    assert code == 0, err
    return {TOKEN_ENV: file.read_text().strip()}


def test_sibling_accounts_are_one_person(tmp_path: Path, cli: Cli) -> None:
    """The outside tester's escalation: op2 (data-team, made by a founder) makes s1 and s2,
    keeps both first tokens, and tries to give s2 (then s1) the IPS team's access and the
    auditor's. The two accounts share a creator, so they are one person: refused, audited."""
    h, env = _founded(tmp_path, cli)
    env["op2"] = _add(tmp_path, cli, h, env["operator"], "op2", "data-team")
    for sibling in ("s1", "s2"):
        env[sibling] = _add(tmp_path, cli, h, env["op2"], sibling, "data-team")
    for granter, grantee, role, says in [
        ("s1", "s2", "ips-team", "s1 and s2 were both made by op2"),
        ("s1", "s2", "auditor", "Nobody holds both auditor and data-team"),
        ("s2", "s1", "ips-team", "s2 and s1 were both made by op2"),
        ("s2", "op2", "ips-team", "op2 created your account"),
    ]:
        code, out, err = cli(env[granter], *h, "users", "grant", grantee, role)
        assert code == 13 and says in err, (granter, grantee, role, err)
        assert "Traceback" not in err and env[granter][TOKEN_ENV] not in out + err
    code, out, _ = cli(env["other"], *h, "users", "list", "--json")
    held = {(u["username"], g["role"]) for u in json.loads(out) for g in u["grants"]}
    assert held == {(name, "data-team") for name in ("operator", "other", "op2", "s1", "s2")}
    code, out, _ = cli(env["other"], *h, "audit", "show", "--limit", "100", "--json")
    denied = [(e["actor"], e["subject"], json.loads(e["details"])["permission"])
              for e in json.loads(out) if e["action"] == "access.denied"]
    assert denied == [("user:s1", "user:s2", "manage-users"), ("user:s1", "user:s2",
                      "manage-users"), ("user:s2", "user:s1", "manage-users"),
                      ("user:s2", "user:op2", "manage-users")]
    # The other founder is independent of them all, and so may grant it.
    assert cli(env["other"], *h, "users", "grant", "s1", "ips-team")[0] == 0


def test_auditor_and_data_team_are_never_one_person(tmp_path: Path, cli: Cli) -> None:
    """The signing key is not the data team's: two data-team colleagues, independent of each
    other, cannot make each other the auditor, nor an auditor join the data team."""
    h, env = _founded(tmp_path, cli)
    for granter, grantee in [("operator", "other"), ("other", "operator")]:
        code, _, err = cli(env[granter], *h, "users", "grant", grantee, "auditor")
        assert code == 13 and "Nobody holds both auditor and data-team" in err
    env["dpo"] = _add(tmp_path, cli, h, env["other"], "dpo")
    code, _, err = cli(env["other"], *h, "users", "grant", "dpo", "auditor")
    assert code == 13 and "other created the account of dpo" in err  # not independent
    assert cli(env["operator"], *h, "users", "grant", "dpo", "auditor")[0] == 0
    code, _, err = cli(env["operator"], *h, "users", "grant", "dpo", "data-team")
    assert code == 13 and "Nobody holds both" in err
    code, _, err = cli(env["other"], *h, "users", "add", "both", "--name", "B", "--role",
                       "data-team", "--role", "auditor")
    assert code == 13 and "Nobody holds both" in err
    code, out, _ = cli(env["dpo"], *h, "audit", "show", "--limit", "100", "--json")
    assert code == 0  # the auditor reads the log
    denied = [(e["actor"], e["subject"]) for e in json.loads(out)
              if e["action"] == "access.denied"]
    assert denied == [("user:operator", "user:other"), ("user:other", "user:operator"),
                      ("user:other", "user:dpo"), ("user:operator", "user:dpo"),
                      ("user:other", "user:both")]
    code, out, _ = cli(env["dpo"], *h, "auth", "whoami", "--json")
    assert [g["role"] for g in json.loads(out)["roles"]] == ["auditor"]


def test_no_second_account_grants_its_maker_a_role(tmp_path: Path, cli: Cli) -> None:
    """boss makes boss2 (and holds its first token); boss2 may not give boss the IPS team's
    access, nor may boss give it to boss2 or to an account boss2 makes."""
    h = ["--haven", str(tmp_path / "haven")]
    assert cli({}, *h, "init")[0] == 0
    for founder in ("boss", "carol"):  # the haven's two founders
        assert cli({}, *h, "users", "add", founder, "--name", founder.title(), "--role",
                   "data-team", "--token-out", str(tmp_path / founder))[0] == 0
    boss = {TOKEN_ENV: (tmp_path / "boss").read_text().strip()}
    assert cli(boss, *h, "users", "add", "boss2", "--name", "Boss Two", "--role", "data-team",
               "--token-out", str(tmp_path / "boss2"))[0] == 0
    boss2 = {TOKEN_ENV: (tmp_path / "boss2").read_text().strip()}
    code, _, err = cli(boss2, *h, "users", "grant", "boss", "ips-team")
    assert code == 13 and "boss created your account" in err
    assert cli(boss, *h, "users", "grant", "boss2", "ips-team")[0] == 13
    assert cli(boss2, *h, "users", "add", "boss3", "--name", "Boss Three", "--role",
               "data-team", "--token-out", str(tmp_path / "boss3"))[0] == 0
    boss3 = {TOKEN_ENV: (tmp_path / "boss3").read_text().strip()}
    assert cli(boss3, *h, "users", "grant", "boss", "ips-team")[0] == 13  # at any depth
    assert cli(boss3, *h, "users", "grant", "boss2", "auditor")[0] == 13
    code, out, _ = cli(boss, *h, "users", "list", "--json")
    held = {(u["username"], g["role"]) for u in json.loads(out) for g in u["grants"]}
    assert held == {("boss", "data-team"), ("boss2", "data-team"), ("boss3", "data-team"),
                    ("carol", "data-team")}
    code, out, _ = cli(boss, *h, "audit", "show", "--limit", "100", "--json")
    denied = [e for e in json.loads(out) if e["action"] == "access.denied"]
    assert [(e["actor"], e["subject"]) for e in denied] == [
        ("user:boss2", "user:boss"), ("user:boss", "user:boss2"), ("user:boss3", "user:boss"),
        ("user:boss3", "user:boss2")]
