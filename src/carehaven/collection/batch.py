"""Many returns in one go: the files a manifest lists, or a folder's files named for what they are.

A batch only says which files to submit as what, and submits a return that others refer to
before them (``in_loading_order``); each file is then submitted on its own by
``collection.submit`` (its own atomic submission, its own checks and audit entries), so a
batch changes nothing a single ``submit`` would not. A manifest or folder that cannot be read
whole is refused before any file is submitted (docs/submit-manifest.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carehaven.collection.masking import shape
from carehaven.errors import UsageError

#: Fields an entry of a manifest may have; ``rows`` is what ``carehaven synth`` writes beside
#: the others (informational, not checked), so its manifest is a valid one as it stands.
REQUIRED = ("path", "dataset", "org", "period")
OPTIONAL = ("rows",)
#: A manifest is a small file; a larger one is a mistake (a return named instead of it).
MAX_MANIFEST_BYTES = 10 * 1024 * 1024
#: A period as a file name carries it: a quarter 2025Q2 or a month 2025-06.
_PERIOD = re.compile(r"[0-9]{4}(Q[1-4]|-[0-9]{2})", re.IGNORECASE)
#: Words a file name may carry besides its organisation, dataset and period: v2, 3.
_COUNTER = re.compile(r"v?[0-9]{1,2}", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One file to submit, and as what; ``number`` counts from 1 in the manifest or folder."""

    number: int
    path: Path
    dataset: str
    org: str
    period: str

    @property
    def slot(self) -> tuple[str, str, str]:
        return (self.org, self.dataset, self.period.upper())


def from_manifest(manifest: Path) -> list[Entry]:
    """The entries of a manifest file; a path in it is relative to the manifest's folder."""
    where = manifest.name
    if not manifest.is_file():
        raise UsageError(f"There is no manifest file {where} in {manifest.parent}.")
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise UsageError(
            f"Manifest {where} is over {MAX_MANIFEST_BYTES // (1024 * 1024)} MB; a manifest "
            "lists files, it does not hold them."
        )
    try:
        document = json.loads(manifest.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"Manifest {where} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"Manifest {where} is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    if not isinstance(document, dict) or "files" not in document:
        raise UsageError(
            f'Manifest {where} must be a JSON object with a "files" list: '
            '{"files": [{"path": ..., "dataset": ..., "org": ..., "period": ...}]}.'
        )
    files = document["files"]
    if not isinstance(files, list) or not files:
        raise UsageError(f'Manifest {where}: "files" must be a list of at least one entry.')
    entries = [_entry(where, manifest.parent, i, raw) for i, raw in enumerate(files, start=1)]
    _refuse_repeats(entries, f"Manifest {where}", "entries")
    return entries


def _entry(where: str, base: Path, number: int, raw: Any) -> Entry:
    said = f"Manifest {where}, entry {number} (files[{number - 1}])"
    if not isinstance(raw, dict):
        raise UsageError(f"{said} must be an object with {', '.join(REQUIRED)}.")
    unknown = sorted(str(k) for k in raw if k not in REQUIRED + OPTIONAL)
    if unknown:
        raise UsageError(
            f"{said}: unknown field {unknown[0]!r}; an entry has {', '.join(REQUIRED)} "
            f"(and, optionally, {', '.join(OPTIONAL)})."
        )
    for name in REQUIRED:
        if name not in raw:
            raise UsageError(f"{said}: field {name!r} is missing.")
        value = raw[name]
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{said}: field {name!r} must be a non-empty string.")
    rows = raw.get("rows")
    if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
        raise UsageError(f"{said}: field 'rows' must be a whole number of rows, if given.")
    path = Path(raw["path"])
    return Entry(
        number=number,
        path=path if path.is_absolute() else base / path,
        dataset=raw["dataset"].strip(),
        org=raw["org"].strip(),
        period=raw["period"].strip(),
    )


def from_folder(folder: Path, datasets: Collection[str]) -> list[Entry]:
    """The returns in ``folder``: its own ``.csv`` files, whose names carry organisation,
    dataset and period (``P001_ndtms-episode_2025Q2.csv``), and those in a subfolder named
    after a dataset, whose names carry organisation and period (``ndtms-episode/P001_2025Q2.csv``,
    as ``carehaven synth`` writes them). Other subfolders (``truth/``) are not read."""
    found: list[tuple[str | None, Path]] = [(None, f) for f in _csv_files(folder)]
    for dataset in sorted(datasets):
        if (folder / dataset).is_dir():
            found += [(dataset, f) for f in _csv_files(folder / dataset)]
    if not found:
        raise UsageError(
            f"Folder {folder} holds no .csv returns, neither in itself nor in a subfolder "
            "named after a dataset (carehaven spec list)."
        )
    entries = [
        _named(folder, number, in_dataset, file, datasets)
        for number, (in_dataset, file) in enumerate(found, start=1)
    ]
    _refuse_repeats(entries, f"Folder {folder}", "files")
    return entries


def _csv_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix.casefold() == ".csv" and not p.is_dir()
    )


def _named(
    folder: Path, number: int, in_dataset: str | None, file: Path, datasets: Collection[str]
) -> Entry:
    """What a file's name says it is, or a sentence saying what it lacks."""
    # Only the name's shape is shown: a name can hold a person's names or numbers.
    said = f"File {number} in {folder} ({shape(file.stem)}{file.suffix.casefold()})"
    words = [w for w in file.stem.split("_") if w]
    named = [w for w in words if w.casefold() in datasets]
    periods = [w for w in words if _PERIOD.fullmatch(w)]
    rest = [w for w in words if w not in named and w not in periods and not _COUNTER.fullmatch(w)]
    kinds = {w.casefold() for w in named} | ({in_dataset} if in_dataset else set())
    if len(kinds) != 1:
        raise UsageError(
            f"{said}: its name names {'no' if not kinds else 'more than one'} dataset; name it "
            "ORG_DATASET_PERIOD.csv, put it in a folder named after its dataset, or list it "
            "in a --manifest."
        )
    if len(set(periods)) != 1:
        raise UsageError(
            f"{said}: its name carries {'no' if not periods else 'more than one'} period "
            "(a quarter 2025Q2 or a month 2025-06); name it ORG_PERIOD.csv or list it in a "
            "--manifest."
        )
    if len(rest) != 1:
        raise UsageError(
            f"{said}: its name does not carry exactly one organisation code besides the "
            "dataset and period; name it ORG_PERIOD.csv or list it in a --manifest."
        )
    return Entry(number, file, kinds.pop(), rest[0], periods[0].upper())


def _refuse_repeats(entries: Iterable[Entry], said: str, what: str) -> None:
    """Two files for one organisation, dataset and period would supersede each other in an
    order nobody chose: refused, so the batch says what it means."""
    first: dict[tuple[str, str, str], int] = {}
    for e in entries:
        if e.slot in first:
            raise UsageError(
                f"{said}: {what} {first[e.slot]} and {e.number} are both {e.org} {e.dataset} "
                f"{e.period}; submit one file per organisation, dataset and period."
            )
        first[e.slot] = e.number


def in_loading_order(entries: list[Entry]) -> list[Entry]:
    """``entries`` with every return another names first (ndtms-episode before ndtms-review and
    ips-episode, whose episode_id names its rows), otherwise as listed: a review submitted
    before its episode would be judged against episodes not yet in the haven."""
    from carehaven.specs.registry import loading_order

    return sorted(entries, key=lambda e: loading_order(e.dataset))


def matching(
    entries: list[Entry], *, dataset: str | None, org: str | None, period: str | None
) -> list[Entry]:
    """The entries of one dataset, organisation or period, when the command names it."""
    return [
        e for e in entries
        if (dataset is None or e.dataset == dataset)
        and (org is None or e.org == org)
        and (period is None or e.period.upper() == period.upper())
    ]
