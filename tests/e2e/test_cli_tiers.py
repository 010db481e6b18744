"""The tier commands as a user runs them (issue 4): extract, scan, keys rotate, extracts."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from carehaven.config import Settings
from carehaven.haven import open_haven
from carehaven.identity.link import current_run
from carehaven.pseudonymise.personal import events_table
from tests.e2e.test_cli import run
from tests.linkage import build, query

pytestmark = pytest.mark.slow

CLASSES = {"D", "Q", "S", "O", "pseudonym"}
RESULT_KEYS = {"files", "manifest", "tier", "rows"}


@pytest.fixture(scope="module")
def haven_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A haven with two quarters of returns about ~1000 people, linked from the command line."""
    root = tmp_path_factory.mktemp("cli-tiers")
    haven, _ = build(root / "haven", root / "returns", people=1000, seed=11,
                     periods=("2025Q1", "2025Q2"))  # fmt: skip
    haven.close()
    r = run("--haven", str(root / "haven"), "link", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["records"] > summary["people"] > 0
    return root / "haven"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract(h: str, *args: str) -> dict[str, Any]:
    r = run("--haven", h, "extract", *args, "--json")
    assert r.returncode == 0, r.stderr
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def _check_written(result: dict[str, Any], out: Path, dataset: str, tier: str) -> dict[str, Any]:
    """The files and manifest of one extract are as promised; returns the manifest."""
    assert set(result) == RESULT_KEYS
    assert result["tier"] == tier
    files = [Path(f) for f in result["files"]]
    assert sorted(f.name for f in files) == [f"{dataset}.csv", f"{dataset}.parquet"]
    assert all(f.is_file() and f.parent == out for f in files)
    manifest_path = Path(result["manifest"])
    assert manifest_path == out / f"{dataset}.manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    assert set(manifest) >= {"dataset", "tier", "spec_version", "rows", "key_id", "columns",
                             "files"}  # fmt: skip
    assert (manifest["dataset"], manifest["tier"]) == (dataset, tier)
    assert manifest["rows"] == result["rows"] > 0
    assert manifest["spec_version"]
    classes = [c["class"] for c in manifest["columns"]]
    assert set(classes) <= CLASSES and "D" not in classes
    parquet = pq.read_table(out / f"{dataset}.parquet")
    assert parquet.num_rows == result["rows"]
    assert [c["name"] for c in manifest["columns"]] == parquet.column_names
    assert "person_id" not in parquet.column_names
    with (out / f"{dataset}.csv").open(newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == result["rows"] + 1  # and a header
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert listed == {f.name: _sha256(f) for f in files}
    return manifest


def _pseudonyms(path: Path) -> list[str]:
    values = pq.read_table(path, columns=["pseudonym"])["pseudonym"].to_pylist()
    return [str(v) for v in values]


def test_extract_scan_rotate_list_find(haven_dir: Path, tmp_path: Path) -> None:
    h = str(haven_dir)
    out, other, third = tmp_path / "out", tmp_path / "other", tmp_path / "third"

    # A de-personalised extract for NDEC: pseudonyms, no identifiers.
    ndec = _extract(h, "--dataset", "ndtms-episode", "--tier", "de-personalised",
                    "--recipient", "NDEC", "--out", str(out))  # fmt: skip
    manifest = _check_written(ndec, out, "ndtms-episode", "de-personalised")
    assert manifest["recipient"] == "NDEC"
    assert str(manifest["key_id"]).startswith("pk-")
    assert manifest["columns"][0] == {"name": "pseudonym", "class": "pseudonym"}
    mine = _pseudonyms(out / "ndtms-episode.parquet")
    assert all(len(p) == 32 for p in mine)

    # An anonymised extract of another dataset into the same folder: manifests are per dataset.
    anon = _extract(h, "--dataset", "cld-event", "--tier", "anonymised", "--k", "10",
                    "--out", str(out))  # fmt: skip
    anon_manifest = _check_written(anon, out, "cld-event", "anonymised")
    assert anon_manifest["key_id"] is None
    assert "pseudonym" not in {c["name"] for c in anon_manifest["columns"]}
    report = anon_manifest["anonymisation"]
    assert report["k"] == 10 and report["rows_in"] >= anon["rows"]
    # Each class of the quasi-identifiers as released holds k rows and l support reasons.
    released = pq.read_table(out / "cld-event.parquet").to_pylist()
    qis = [q["name"] for q in report["quasi_identifiers"]]
    classes: dict[tuple[Any, ...], list[Any]] = {}
    for row in released:
        classes.setdefault(tuple(row[q] for q in qis), []).append(row[report["sensitive"]])
    assert all(len(c) >= 10 and len(set(c)) >= 2 for c in classes.values())
    # The NDEC files are untouched by the second extract.
    assert json.loads((out / "ndtms-episode.manifest.json").read_text()) == manifest

    # Both files of an extract scan clean where they were written.
    for name in ("ndtms-episode.parquet", "ndtms-episode.csv", "cld-event.parquet"):
        r = run("--haven", h, "scan", str(out / name), "--json")
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        assert json.loads(r.stdout) == {"ok": True, "hits": 0}

    # Another recipient's pseudonyms of the same people are different.
    _extract(h, "--dataset", "ndtms-episode", "--tier", "de-personalised",
             "--recipient", "OTHER", "--out", str(other))  # fmt: skip
    theirs = _pseudonyms(other / "ndtms-episode.parquet")
    assert len(theirs) == len(mine) and not set(theirs) & set(mine)

    # NDEC's CSV with OTHER's pseudonyms added as a column is a leak; no value is printed.
    tampered = tmp_path / "tampered" / "ndtms-episode.csv"
    tampered.parent.mkdir()
    with (out / "ndtms-episode.csv").open(newline="") as src, tampered.open("w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow([*next(reader), "leak"])
        for row, leak in zip(reader, theirs, strict=True):
            writer.writerow([*row, leak])
    r = run("--haven", h, "scan", str(tampered), "--json")
    assert r.returncode == 11, r.stderr
    got = json.loads(r.stdout)
    assert got["ok"] is False and got["hits"] >= len(theirs)
    r2 = run("--haven", h, "scan", str(tampered))
    assert r2.returncode == 11
    assert re.search(r"column\(s\):[\w\s,]*\bleak\b", r2.stdout), r2.stdout  # named...
    for printed in (r.stdout, r.stderr, r2.stdout, r2.stderr):
        assert not any(p in printed for p in {*theirs, *mine})  # ...its values never are
        assert "Traceback" not in printed

    # The leak column alone (the file's own pseudonyms taken out) is found cell by cell.
    alone = tmp_path / "alone" / "ndtms-episode.csv"
    alone.parent.mkdir()
    with tampered.open(newline="") as src, alone.open("w", newline="") as dst:
        records, writer = csv.DictReader(src), csv.writer(dst)
        keep = [c for c in records.fieldnames or [] if c != "pseudonym"]
        writer.writerow(keep)
        writer.writerows([row[c] for c in keep] for row in records)
    r = run("--haven", h, "scan", str(alone), "--json")
    assert (r.returncode, json.loads(r.stdout)) == (11, {"ok": False, "hits": len(theirs)})
    assert not any(p in r.stdout + r.stderr for p in theirs)

    # After a rotation NDEC gets new pseudonyms, under a new key id.
    r = run("--haven", h, "keys", "rotate", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["generation"] == 2
    again = _extract(h, "--dataset", "ndtms-episode", "--tier", "de-personalised",
                     "--recipient", "NDEC", "--out", str(third))  # fmt: skip
    rotated = _check_written(again, third, "ndtms-episode", "de-personalised")
    assert rotated["key_id"] != manifest["key_id"]
    assert rotated["key_generation"] == manifest["key_generation"] + 1
    assert again["rows"] == ndec["rows"]
    assert not set(_pseudonyms(third / "ndtms-episode.parquet")) & set(mine)
    # The first NDEC extract, written under the earlier generation, still scans clean.
    r = run("--haven", h, "scan", str(out / "ndtms-episode.parquet"), "--json")
    assert (r.returncode, json.loads(r.stdout)) == (0, {"ok": True, "hits": 0}), r.stderr

    # Every extract is listed, with the key id its manifest records.
    r = run("--haven", h, "extracts", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    written = [
        (out, "ndtms-episode"), (out, "cld-event"), (other, "ndtms-episode"),
        (third, "ndtms-episode"),
    ]  # fmt: skip
    assert len(listed) == len(written)
    for entry, (folder, dataset) in zip(listed, written, strict=True):
        m = json.loads((folder / f"{dataset}.manifest.json").read_text())
        assert entry["id"] == m["extract"]
        assert (entry["dataset"], entry["tier"], entry["recipient"], entry["key_id"]) == (
            m["dataset"], m["tier"], m["recipient"], m["key_id"]
        )  # fmt: skip
        assert entry["rows"] == m["rows"]
        assert Path(entry["directory"]) == folder.resolve()
    assert [e["recipient"] for e in listed] == ["NDEC", None, "OTHER", "NDEC"]

    # A rights request finds a person in every pseudonymised extract, across the rotation.
    haven = open_haven(Settings(haven=haven_dir))
    try:
        with haven.sessions() as session:
            link_run = current_run(session)
        assert link_run is not None
        table = events_table("ndtms-episode", link_run)
        person, n = query(
            haven,
            f'SELECT person_id, count(*) FROM "{table}" WHERE linkable '
            "GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1",
        )[0]
    finally:
        haven.close()
    r = run("--haven", h, "extracts", "find", "--person", str(person), "--json")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert [(f["recipient"], f["rows"]) for f in found] == [("NDEC", n), ("OTHER", n), ("NDEC", n)]
    assert str(person) not in r.stderr


def test_extract_refusals(haven_dir: Path, tmp_path: Path) -> None:
    h = str(haven_dir)
    out = tmp_path / "out"

    r = run("--haven", h, "extract", "--dataset", "ndtms-episode", "--tier", "personal",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 2
    assert "personal tier is never extracted" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout

    r = run("--haven", h, "extract", "--dataset", "ndtms-episode", "--tier", "de-personalised",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 2
    assert "--recipient" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout

    r = run("--haven", h, "extract", "--dataset", "ndtms-episode", "--tier", "de-personalised",
            "--recipient", "not a code", "--out", str(out))  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout

    for dataset in ("no-such-dataset", "hmrc-return"):
        r = run("--haven", h, "extract", "--dataset", dataset, "--tier", "anonymised",
                "--out", str(out))  # fmt: skip
        assert r.returncode != 0, dataset
        assert dataset in r.stderr
        assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists()  # nothing was written by a refused extract

    # Files already there are never overwritten.
    out.mkdir()
    (out / "ndtms-episode.csv").write_text("mine\n")
    r = run("--haven", h, "extract", "--dataset", "ndtms-episode", "--tier", "de-personalised",
            "--recipient", "NDEC", "--out", str(out), "--json")  # fmt: skip
    assert r.returncode == 2
    assert "already exists" in r.stderr
    assert json.loads(r.stdout)["error"]["exit_code"] == 2
    assert "Traceback" not in r.stderr + r.stdout
    assert (out / "ndtms-episode.csv").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["ndtms-episode.csv"]
