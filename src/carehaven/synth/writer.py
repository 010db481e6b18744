"""Writes return files, the manifest and the truth folder."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from carehaven.synth.dates import iso, opt_iso
from carehaven.synth.invalid import Plant
from carehaven.synth.model import SynthFile, SynthOrganisation
from carehaven.synth.population import Person
from carehaven.synth.table import Table

if TYPE_CHECKING:
    from _csv import Writer as CsvWriter

TRUTH = "truth"


def _writer(handle: TextIO) -> CsvWriter:
    return csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def write_table(out: Path, table: Table) -> SynthFile:
    path = out / table.path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = _writer(handle)
        w.writerow(table.header)
        w.writerows(table.rows)
    return SynthFile(table.path, table.dataset, table.org, table.period.label, len(table.rows))


def remove_stale(out: Path, keep: set[str]) -> None:
    """Delete files an earlier run listed in ``out/manifest.json`` that this run does not write.

    Only files the generator itself wrote (listed in its own manifest) are ever removed.
    """
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(old, dict) or old.get("generator") != "carehaven.synth":
        return
    for entry in old.get("files", []):
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or rel in keep:
            continue
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not rel.endswith(".csv"):
            continue
        stale = out / rel
        if stale.is_file():
            stale.unlink()


def write_manifest(
    out: Path,
    *,
    seed: int,
    people: int,
    invalid_rate: float,
    periods: Sequence[str],
    organisations: Sequence[SynthOrganisation],
    files: Sequence[SynthFile],
) -> None:
    manifest = {
        "generator": "carehaven.synth",
        "seed": seed,
        "people": people,
        "invalid_rate": invalid_rate,
        "periods": list(periods),
        "organisations": [{"code": o.code, "kind": o.kind, "name": o.name} for o in organisations],
        "files": [
            {"path": f.path, "dataset": f.dataset, "org": f.org, "period": f.period, "rows": f.rows}
            for f in files
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def write_truth(
    out: Path,
    people: Sequence[Person],
    tables: Sequence[Table],
    plants: Sequence[Plant],
    care_events: Sequence[dict[str, str]] = (),
) -> None:
    folder = out / TRUTH
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "people.csv").open("w", encoding="utf-8", newline="") as handle:
        w = _writer(handle)
        w.writerow(
            (
                "person",
                "first_name",
                "last_name",
                "initials",
                "sex",
                "date_of_birth",
                "ethnicity",
                "nhs_number",
                "nino",
                "date_of_death",
                "home_district",
                "home_postcode",
                "la_of_residence",
                "moves",
                "treatment",
                "social_care",
            )
        )
        for p in people:
            home = p.homes[0]
            w.writerow(
                (
                    p.pid,
                    p.first,
                    p.last,
                    p.initials,
                    p.sex,
                    iso(p.born),
                    p.ethnicity,
                    p.nhs,
                    p.nino,
                    opt_iso(p.died),
                    home.district,
                    home.postcode,
                    home.la,
                    len(p.homes) - 1,
                    "Y" if p.treatment else "N",
                    "Y" if p.social_care else "N",
                )
            )
    with (folder / "homes.csv").open("w", encoding="utf-8", newline="") as handle:
        w = _writer(handle)
        w.writerow(("person", "since", "district", "postcode", "la"))
        for p in people:
            for h in p.homes:
                w.writerow((p.pid, iso(h.since), h.district, h.postcode, h.la))
    with (folder / "records.csv").open("w", encoding="utf-8", newline="") as handle:
        w = _writer(handle)
        w.writerow(("path", "row", "person", "event"))
        for t in tables:
            path = t.path
            w.writerows(
                (path, i + 2, pid, event)
                for i, (pid, event) in enumerate(zip(t.people, t.events, strict=True))
            )
    if care_events:
        with (folder / "cld-events.csv").open("w", encoding="utf-8", newline="") as handle:
            w = _writer(handle)
            w.writerow(tuple(care_events[0]))
            w.writerows(tuple(e.values()) for e in care_events)
    with (folder / "invalid.csv").open("w", encoding="utf-8", newline="") as handle:
        w = _writer(handle)
        w.writerow(("path", "row", "field", "rule"))
        w.writerows((p.path, p.row, p.field, p.rule) for p in plants)
