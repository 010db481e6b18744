"""Published tables as the public sees them (issue 14 part 6): each table's counts of cells and
of suppressed cells, the disclosure policy that protected it, and its files. Read from the
control plane and the published folders; never the sealed cube a publication row keeps."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carehaven.errors import NotFoundError
from carehaven.haven import Haven
from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.publish.check import CheckResult
    from carehaven.publish.definitions import TableDef
    from carehaven.publish.publish import PublishResult, Revision

#: A publication's label as ``publications`` makes it (``T-<id>``).
LABEL = re.compile(r"T-([1-9][0-9]{0,17})")
#: The kinds of file a publication folder holds that the public may download.
DOWNLOADS = {".csv": "text/csv; charset=utf-8",
             ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             ".png": "image/png", ".json": "application/json"}


class PartProfile(Public):
    """One published part (the period's table, the year to date): how many cells it has and
    how many were hidden."""

    part: str
    cells: int
    hidden: int


class PolicyPublic(Public):
    threshold: int | None
    round_base: int | None
    dominance: bool
    safety_range: float


class FilePublic(Public):
    name: str
    size_bytes: int


class PublicationPublic(Public):
    """What the statistics page and ``/api/publications`` show of a published table."""

    publication: str  # T-<id>
    name: str
    title: str
    description: str
    period: str
    cells: int
    suppressed_primary: int
    suppressed_secondary: int
    parts: list[PartProfile]
    policy: PolicyPublic | None
    published_at: datetime
    files: list[FilePublic]


def _parts(statuses: str) -> list[PartProfile]:
    try:
        raw = json.loads(statuses)
    except ValueError:
        return []
    parts = raw.get("parts") if isinstance(raw, dict) and "parts" in raw else {
        k: v for k, v in (raw.items() if isinstance(raw, dict) else []) if k != "sealed"}
    out = []
    for label, cells in (parts or {}).items():
        rows = cells if isinstance(cells, list) else []
        # Each cell is [code, ..., hidden, figure shown]: hidden is the last but one.
        hidden = sum(1 for c in rows if isinstance(c, list) and len(c) >= 2 and c[-2])
        out.append(PartProfile(part=str(label), cells=len(rows), hidden=hidden))
    return out


def _files(directory: Path) -> list[FilePublic]:
    if not directory.is_dir():
        return []
    return [FilePublic(name=p.name, size_bytes=p.stat().st_size)
            for p in sorted(directory.iterdir())
            if p.is_file() and not p.is_symlink() and p.suffix in DOWNLOADS]


def publications(haven: Haven) -> list[PublicationPublic]:
    """Every published table, newest first."""
    from carehaven.publish.definitions import definitions

    defs = definitions()
    rows = haven.rows.fetch(
        "SELECT id, name, period, cells, suppressed_primary, suppressed_secondary, statuses, "
        "directory, created_at FROM publications ORDER BY created_at DESC, id DESC")
    out = []
    for pid, name, period, cells, primary, secondary, statuses, directory, created in rows:
        defn = defs.get(name)
        policy = None if defn is None else PolicyPublic(
            threshold=defn.policy.threshold, round_base=defn.policy.round_base,
            dominance=defn.policy.dominance is not None, safety_range=defn.policy.safety_range)
        from carehaven.control.rows import as_datetime

        when = as_datetime(created)
        out.append(PublicationPublic(
            publication=f"T-{pid}", name=name, title=defn.title if defn else name,
            description=defn.description if defn else "", period=period, cells=cells,
            suppressed_primary=primary, suppressed_secondary=secondary,
            parts=_parts(statuses), policy=policy,
            published_at=when if when.tzinfo else when.replace(tzinfo=UTC),
            files=_files(Path(directory)),
        ))
    return out


def publication(haven: Haven, label: str) -> PublicationPublic:
    found = next((p for p in publications(haven) if p.publication == label), None)
    if found is None:
        raise NotFoundError(f"There is no published table {label}.")
    return found


def published_file(haven: Haven, label: str, name: str) -> Path:
    """The file ``name`` of publication ``label``: only a name its folder lists (never a path
    the client made up). One row and one folder read, not the whole listing (the statistics
    page asks once per table)."""
    number = LABEL.fullmatch(label)
    row = haven.rows.first("SELECT directory FROM publications WHERE id = :id",
                           {"id": int(number.group(1))}) if number else None
    if row is None:
        raise NotFoundError(f"There is no published table {label}.")
    folder = Path(row[0])
    if name not in {f.name for f in _files(folder)}:
        raise NotFoundError(f"Publication {label} has no file {name}.")
    return folder / name


def preview(path: Path, limit: int = 200) -> tuple[list[str], list[list[str]]]:
    """The first ``limit`` rows of a published CSV, for the page."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(io.StringIO(handle.read(2_000_000)))
        header = next(reader, [])
        return header, [row for _, row in zip(range(limit), reader, strict=False)]


class DefinitionPublic(Public):
    """A table carehaven can publish (``publish --list``)."""

    name: str
    dataset: str
    description: str

    @classmethod
    def of(cls, d: TableDef) -> DefinitionPublic:
        return cls(name=d.name, dataset=d.dataset, description=d.description)


class RevisionPublic(Public):
    """A republication of a period with different figures (issue 13 item 9)."""

    replaces: list[str]
    changed: int
    now_suppressed: int
    below_threshold: int

    @classmethod
    def of(cls, r: Revision) -> RevisionPublic:
        return cls(replaces=r.replaces, changed=r.changed, now_suppressed=r.now_suppressed,
                   below_threshold=r.small)


class PublishOutcome(Public):
    """What ``publish`` wrote and how the table was protected."""

    files: list[str]
    cells: int
    suppressed_primary: int
    suppressed_secondary: int
    safe: bool
    revision: RevisionPublic | None

    @classmethod
    def of(cls, p: PublishResult) -> PublishOutcome:
        return cls(files=[str(f) for f in p.files], cells=p.cells,
                   suppressed_primary=p.suppressed_primary,
                   suppressed_secondary=p.suppressed_secondary, safe=p.safe,
                   revision=RevisionPublic.of(p.revision) if p.revision else None)


class CheckOutcome(Public):
    """An intruder's attack on a published CSV (``disclosure check``)."""

    safe: bool
    cells_checked: int
    unsafe: list[dict[str, Any]]

    @classmethod
    def of(cls, r: CheckResult) -> CheckOutcome:
        return cls(safe=r.safe, cells_checked=r.cells_checked, unsafe=r.unsafe)
