"""The tier commands as a user runs them (issue 4; issue 12 item 1): previews inside the haven,
releases as the one door out, scan, keys rotate, artefacts list / find."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from carehaven.access.users import add_user
from carehaven.cli import main
from carehaven.config import Settings
from carehaven.haven import open_haven
from carehaven.identity.link import current_run
from carehaven.pseudonymise.personal import events_table
from tests.e2e.test_cli import run as real_run
from tests.linkage import build, query
from tests.people import user_env

pytestmark = pytest.mark.slow

CLASSES = {"D", "Q", "S", "O", "pseudonym"}
RESULT_KEYS = {"extract", "artefact", "files", "manifest", "tier", "rows", "people"}
EXPIRES = (date.today() + timedelta(days=365)).isoformat()


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two quarters of returns about ~1000 people, linked from the command line; two data-team
    users, so that a release has a second person to approve it."""
    root = tmp_path_factory.mktemp("cli-tiers")
    haven, _ = build(root / "haven", root / "returns", people=1000, seed=11,
                     periods=("2025Q1", "2025Q2"))  # fmt: skip
    haven.close()
    r = real_run("--haven", str(root / "haven"), "link", "--json")  # the real console script
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["records"] > summary["people"] > 0
    haven = open_haven(Settings.load(haven=root / "haven"))
    for name in ("alice", "bob"):
        add_user(haven, name, name.title(), None, roles=["data-team"], actor="test")
    haven.close()
    return root / "haven"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


_STATE: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _STATE["capsys"], _STATE["monkeypatch"] = capsys, monkeypatch


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """The command line's entry point in this process (many times faster than a child);
    the fixture's ``link`` runs the real console script."""
    capsys, monkeypatch = _STATE["capsys"], _STATE["monkeypatch"]
    with monkeypatch.context() as m:
        for key in ("CAREHAVEN_USER", "CAREHAVEN_TOKEN"):
            m.delenv(key, raising=False)
        for key, value in (env or {}).items():
            m.setenv(key, value)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
    return Ran(code, out, err)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as(h: str, user: str, *args: str) -> dict[str, Any]:
    r = run("--haven", h, *args, "--json", env=user_env(Path(h), user))
    assert r.returncode == 0, r.stderr + r.stdout
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def _release(h: str, recipient: str, out: Path) -> dict[str, Any]:
    """A de-personalised ndtms-episode release for ``recipient``: proposed, approved, shown."""
    if recipient not in {r["code"] for r in _as(h, "alice", "recipients", "list")}:
        _as(h, "alice", "recipients", "add", recipient, "--kind", "research")
    deal = _as(h, "alice", "agreements", "add", "--recipient", recipient, "--tier",
               "de-personalised", "--datasets", "ndtms-episode", "--fields", "all",
               "--purposes", "research", "--lawful-basis", "6.1.e,9.2.j", "--expires",
               EXPIRES, "--no-reidentification-signed")
    proposed = _as(h, "alice", "release", "propose", "--agreement", deal["agreement_id"],
                   "--dataset", "ndtms-episode")
    _as(h, "bob", "release", "approve", proposed["release_id"], "--out", str(out))
    return _as(h, "bob", "release", "show", proposed["release_id"])


def _check_written(manifest_path: Path, out: Path, dataset: str, tier: str) -> dict[str, Any]:
    """The files and manifest of one tier's artefact are as promised; returns the manifest."""
    assert manifest_path == out / f"{dataset}.manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    assert set(manifest) >= {"artefact", "kind", "dataset", "tier", "spec_version", "rows",
                             "key_id", "columns", "files"}  # fmt: skip
    assert (manifest["dataset"], manifest["tier"]) == (dataset, tier)
    assert manifest["rows"] > 0 and manifest["spec_version"]
    classes = [c["class"] for c in manifest["columns"]]
    assert set(classes) <= CLASSES and "D" not in classes
    parquet = pq.read_table(out / f"{dataset}.parquet")
    assert parquet.num_rows == manifest["rows"]
    assert [c["name"] for c in manifest["columns"]] == parquet.column_names
    assert "person_id" not in parquet.column_names
    with (out / f"{dataset}.csv").open(newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == manifest["rows"] + 1  # and a header
    for f in manifest["files"]:
        assert _sha256(out / f["name"]) == f["sha256"]
    return manifest


def _pseudonyms(path: Path) -> list[str]:
    values = pq.read_table(path, columns=["pseudonym"])["pseudonym"].to_pylist()
    return [str(v) for v in values]


def test_preview_release_scan_rotate_list_find(haven_dir: Path, tmp_path: Path) -> None:
    h = str(haven_dir)
    out, other, third = tmp_path / "out", tmp_path / "other", tmp_path / "third"

    # A preview: inside the haven, marked not for release, under a key no recipient holds.
    preview = _as(h, "alice", "preview", "--dataset", "ndtms-episode", "--tier",
                  "de-personalised")
    assert set(preview) == RESULT_KEYS
    folder = Path(preview["manifest"]).parent
    assert folder.is_relative_to((haven_dir / "previews").resolve())
    seen = _check_written(Path(preview["manifest"]), folder, "ndtms-episode", "de-personalised")
    assert seen["for_release"] is False and seen["recipient"] == "HAVEN_PREVIEW"
    previewed = _pseudonyms(folder / "ndtms-episode.parquet")

    # A de-personalised release for NDEC: pseudonyms, no identifiers, with its checkpoint.
    ndec = _release(h, "NDEC", out)
    manifest = _check_written(out / "ndtms-episode.manifest.json", out, "ndtms-episode",
                              "de-personalised")
    assert manifest["recipient"] == "NDEC" and manifest["for_release"] is True
    assert manifest["artefact"] == ndec["artefact"]
    assert str(manifest["key_id"]).startswith("pk-")
    assert manifest["columns"][0] == {"name": "pseudonym", "class": "pseudonym"}
    mine = _pseudonyms(out / "ndtms-episode.parquet")
    assert all(len(p) == 32 for p in mine) and not set(mine) & set(previewed)

    # An anonymised preview of another dataset: k-anonymous, l-diverse, no pseudonym.
    anon = _as(h, "alice", "preview", "--dataset", "cld-event", "--tier", "anonymised",
               "--k", "10")
    anon_folder = Path(anon["manifest"]).parent
    anon_manifest = _check_written(Path(anon["manifest"]), anon_folder, "cld-event",
                                   "anonymised")
    assert anon_manifest["key_id"] is None
    assert "pseudonym" not in {c["name"] for c in anon_manifest["columns"]}
    report = anon_manifest["anonymisation"]
    assert report["k"] == 10 and report["rows_in"] >= anon["rows"]
    released = pq.read_table(anon_folder / "cld-event.parquet").to_pylist()
    qis = [q["name"] for q in report["quasi_identifiers"]]
    classes: dict[tuple[Any, ...], list[Any]] = {}
    for row in released:
        classes.setdefault(tuple(row[q] for q in qis), []).append(row[report["sensitive"]])
    assert all(len(c) >= 10 and len(set(c)) >= 2 for c in classes.values())

    # Each file scans clean where it was written.
    for path in (out / "ndtms-episode.parquet", out / "ndtms-episode.csv",
                 folder / "ndtms-episode.parquet", anon_folder / "cld-event.parquet"):
        r = run("--haven", h, "scan", str(path), "--json", env=user_env(haven_dir, "alice"))
        assert r.returncode == 0, (path, r.stdout, r.stderr)
        assert json.loads(r.stdout) == {"ok": True, "hits": 0}

    # Another recipient's pseudonyms of the same people are different.
    _release(h, "OTHER", other)
    theirs = _pseudonyms(other / "ndtms-episode.parquet")
    assert len(theirs) == len(mine) and not set(theirs) & set(mine)

    # NDEC's CSV with OTHER's (or the preview's) pseudonyms added is a leak; no value printed.
    for name, leak_values in (("other", theirs), ("preview", previewed)):
        tampered = tmp_path / f"tampered-{name}" / "ndtms-episode.csv"
        tampered.parent.mkdir()
        with (out / "ndtms-episode.csv").open(newline="") as src, \
                tampered.open("w", newline="") as dst:
            reader, writer = csv.reader(src), csv.writer(dst)
            writer.writerow([*next(reader), "leak"])
            for row, leak in zip(reader, leak_values, strict=False):
                writer.writerow([*row, leak])
        r = run("--haven", h, "scan", str(tampered), "--json",
                env=user_env(haven_dir, "alice"))
        assert r.returncode == 11, r.stderr
        # The haven did not write this file: a yes, but not which column nor how many, or the
        # scan would be a way to look values up (issue 12).
        assert json.loads(r.stdout) == {"ok": False, "hits": None}
        r2 = run("--haven", h, "scan", str(tampered), env=user_env(haven_dir, "alice"))
        assert r2.returncode == 11
        assert "holds identifying values" in r2.stdout and "leak" not in r2.stdout
        for printed in (r.stdout, r.stderr, r2.stdout, r2.stderr):
            assert not any(p in printed for p in {*leak_values, *mine})  # values never are
            assert "Traceback" not in printed

    # After a rotation NDEC gets new pseudonyms, under a new key id.
    rotated_gen = _as(h, "alice", "keys", "rotate")
    assert rotated_gen["generation"] == 2
    again = _release(h, "NDEC", third)
    rotated = _check_written(third / "ndtms-episode.manifest.json", third, "ndtms-episode",
                             "de-personalised")
    assert rotated["key_id"] != manifest["key_id"]
    assert rotated["key_generation"] == manifest["key_generation"] + 1
    assert again["rows"] == ndec["rows"]
    assert not set(_pseudonyms(third / "ndtms-episode.parquet")) & set(mine)
    # The first NDEC release, written under the earlier generation, still scans clean.
    r = run("--haven", h, "scan", str(out / "ndtms-episode.parquet"), "--json",
            env=user_env(haven_dir, "alice"))
    assert (r.returncode, json.loads(r.stdout)) == (0, {"ok": True, "hits": 0}), r.stderr

    # Every artefact is listed, with what it was for.
    listed = _as(h, "alice", "artefacts", "list")
    assert [(a["kind"], a["recipient"]) for a in listed] == [
        ("preview", "HAVEN_PREVIEW"), ("release", "NDEC"), ("preview", None),
        ("release", "OTHER"), ("release", "NDEC"),
    ]
    assert [a["for"] for a in listed if a["kind"] == "release"] == [
        ndec["release_id"], _as(h, "alice", "release", "list")[1]["release_id"],
        again["release_id"],
    ]

    # A rights request finds a person in every artefact that holds them, across the rotation.
    haven = open_haven(Settings.load(haven=haven_dir))
    try:
        with haven.sessions() as session:
            link_run = current_run(session)
        assert link_run is not None
        table = events_table("ndtms-episode", link_run)
        (person,) = query(
            haven,
            f'SELECT person_id FROM "{table}" WHERE linkable '
            "GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1",
        )[0]
    finally:
        haven.close()
    found = _as(h, "alice", "artefacts", "find", "--person", str(person))
    assert [(f["kind"], f["recipient"]) for f in found if f["recipient"]] == [
        ("preview", "HAVEN_PREVIEW"), ("release", "NDEC"), ("release", "OTHER"),
        ("release", "NDEC"),
    ]
    r = run("--haven", h, "artefacts", "find", "--person", str(person),
            env=user_env(haven_dir, "alice"))
    assert r.returncode == 0 and str(person) not in r.stderr


def test_preview_and_release_refusals(haven_dir: Path, tmp_path: Path) -> None:
    h = str(haven_dir)
    env = user_env(haven_dir, "alice")

    r = run("--haven", h, "preview", "--dataset", "ndtms-episode", "--tier", "personal",
            env=env)
    assert r.returncode == 2
    assert "never previewed" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout

    for dataset in ("no-such-dataset", "hmrc-return"):
        r = run("--haven", h, "preview", "--dataset", dataset, "--tier", "anonymised",
                env=env)
        assert r.returncode != 0, dataset
        assert dataset in r.stderr
        assert "Traceback" not in r.stderr + r.stdout

    # A release is never written among the haven's own folders, nor over existing files.
    release = _as(h, "alice", "release", "list")[0]["release_id"]
    deal = _as(h, "alice", "release", "show", release)["agreement"]
    for inside in (haven_dir / "landing", haven_dir / "previews" / "x", haven_dir / "keys"):
        proposed = _as(h, "alice", "release", "propose", "--agreement", deal, "--dataset",
                       "ndtms-episode")
        r = run("--haven", h, "release", "approve", proposed["release_id"], "--out",
                str(inside), env=user_env(haven_dir, "bob"))
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr + r.stdout
    assert not (haven_dir / "keys" / "ndtms-episode.parquet").exists()
    out = tmp_path / "out"
    out.mkdir()
    (out / "ndtms-episode.csv").write_text("mine\n")
    r = run("--haven", h, "release", "approve", proposed["release_id"], "--out", str(out),
            "--json", env=user_env(haven_dir, "bob"))
    assert r.returncode == 2
    assert "already exists" in r.stderr
    assert json.loads(r.stdout)["error"]["exit_code"] == 2
    assert (out / "ndtms-episode.csv").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["ndtms-episode.csv"]
