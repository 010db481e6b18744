"""The one artefact writer: every file set that leaves the haven, and every preview kept inside
it, is written here and nowhere else (issue 12, "one door out").

A release, a publication, provider feedback (and later a partner exchange or a disposal
certificate) each hand this module their files as writers, the scan of what they hold, the
person_ids they hold (lineage) and the domain rows to record. The order is fixed:

1. the scan must be clean (a leak stops everything before a byte is written);
2. every file is written into a private staging folder beside its destination, hashed, and
   listed in a manifest together with the audit checkpoint the artefact carries;
3. one control-plane transaction records the artefact, its lineage, the caller's own rows and
   every audit entry;
4. only then are the files renamed into place, and the staging mark cleared.

An error before 3 removes the staging folder and records nothing; a kill before 3 can leave an
owner-only ``.artefact-*`` folder in the destination that nothing refers to (safe to delete).
A kill between 3 and 4 leaves a recorded artefact whose files wait in staging, and
``finish_pending`` (run before every write and by ``artefacts list``) completes the rename.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import ArtefactWritten
from carehaven.control.kinds import ArtefactKind
from carehaven.control.models import Artefact, ArtefactPerson
from carehaven.errors import CarehavenError, ExitCode, UsageError
from carehaven.faults import checkpoint as fault
from carehaven.haven import Haven
from carehaven.pseudonymise.manifest import sha256_file

#: ``ArtefactKind``'s values, as a type the checker can hold a caller to (a unit test keeps the two
#: the same).
Kind = Literal["release", "publication", "feedback", "preview", "exchange", "certificate"]
#: Kinds that leave the haven: they are written under ``outputs`` or outside the haven.
LEAVING: frozenset[str] = frozenset(ArtefactKind) - {ArtefactKind.PREVIEW}
#: Kinds that carry the latest signed audit checkpoint, so a recipient holds a witness copy.
CARRY_CHECKPOINT: frozenset[str] = frozenset({"release", "publication", "exchange"})
MANIFEST_SUFFIX = ".manifest.json"
CHECKPOINT_SUFFIX = ".checkpoint.json"
#: Lineage rows inserted per statement: bounded, so a large release never builds one huge query.
_LINEAGE_BATCH = 20_000


class Scanned(Protocol):
    """What the leak scan of an artefact's content answers (``pseudonymise.scan.ScanResult``)."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


class ArtefactLeakError(CarehavenError):
    exit_code = ExitCode.LEAK_FOUND


@dataclass(frozen=True)
class Part:
    """One file of an artefact: its name in the folder and the function that writes it (given
    the path to write); ``extra`` names files the same function writes beside it."""

    name: str
    write: Callable[[Path], object]
    extra: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.extra)


@dataclass
class Outgoing:
    """Everything the writer needs to know about one artefact."""

    kind: Kind
    tier: str
    recipient: str | None
    folder: Path
    #: Names the manifest and checkpoint files: ``<stem>.manifest.json``.
    stem: str
    parts: Sequence[Part]
    rows: int
    scan: Scanned | None
    #: The caller's own manifest fields; the writer adds the label, files and checkpoint.
    manifest: dict[str, Any] = field(default_factory=dict)
    #: The person_ids whose rows the artefact holds (lineage); duplicates are ignored.
    people: Iterable[str] = ()


@dataclass(frozen=True)
class Written:
    artefact_id: int
    label: str
    files: list[Path]
    manifest: Path
    manifest_sha256: str
    checkpoint: Path | None
    people: int


#: Called inside the artefact's transaction, with the new row and its manifest's sha256: the
#: caller records its own rows and audit entries there, so they commit (or fail) with it.
OnCommit = Callable[[Session, Artefact, str], None]


def check_folder(haven: Haven, kind: str, folder: Path) -> Path:
    """Where an artefact may be written: previews only under ``previews``; anything leaving
    the haven under ``outputs`` or outside the haven, never among its databases, keys,
    landing zone or reports."""
    where = folder.resolve()
    root = haven.paths.root
    inside = where == root or where.is_relative_to(root)
    if kind == "preview":
        if not where.is_relative_to(haven.paths.previews):
            raise UsageError("A preview is written only under the haven's previews folder.")
    elif inside and not where.is_relative_to(haven.paths.outputs):
        raise UsageError(
            f"{folder} is inside the haven but not in its outputs folder; write it to "
            f"{haven.paths.outputs} or to a folder outside the haven."
        )
    elif where.is_relative_to(haven.paths.previews):
        raise UsageError("Nothing that leaves the haven is written among the previews.")
    if where.exists() and not where.is_dir():
        raise UsageError(f"{folder} is a file; the output must be a folder.")
    return where


def _names(out: Outgoing) -> list[str]:
    names = [n for p in out.parts for n in p.names] + [out.stem + MANIFEST_SUFFIX]
    if out.kind in CARRY_CHECKPOINT:
        names.append(out.stem + CHECKPOINT_SUFFIX)
    if len(set(names)) != len(names) or any("/" in n or n.startswith(".") for n in names):
        raise ValueError(f"artefact file names must be plain and distinct: {names}")
    return names


def write(
    haven: Haven, out: Outgoing, *, actor: str, on_commit: OnCommit | None = None
) -> Written:
    """Scan, stage, record in one transaction, then rename: the only way an artefact is made."""
    if out.kind != "certificate" and out.scan is None:
        raise ValueError(f"a {out.kind} artefact must be scanned before it is written")
    if out.scan is not None and not out.scan.ok:
        raise ArtefactLeakError(f"Nothing was written: {out.scan.summary()}")
    folder = check_folder(haven, out.kind, out.folder)
    names = _names(out)
    targets = [folder / n for n in names]
    # A link, even a dangling one, is refused too: the rename would replace it blindly.
    clash = next((t for t in targets if t.exists() or t.is_symlink()), None)
    if clash is not None:
        raise UsageError(f"{clash} already exists; choose another folder or move it away.")
    finish_pending(haven)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".artefact-{secrets.token_hex(6)}"
    staging.mkdir(mode=0o700)
    committed = False
    try:
        for part in out.parts:
            part.write(staging / part.name)
        files = [_describe(staging / n) for p in out.parts for n in p.names]
        people = sorted(set(out.people))
        with haven.transaction() as session:
            cp = _checkpoint(session) if out.kind in CARRY_CHECKPOINT else None
            row = Artefact(
                kind=out.kind,
                tier=out.tier,
                recipient=out.recipient,
                directory=str(folder),
                files=files,
                rows=out.rows,
                people=len(people),
                checkpoint_id=cp[0] if cp else None,
                staging=str(staging),
                created_at=clock.now(),
                created_by=actor,
            )
            session.add(row)
            session.flush()
            manifest_path = staging / (out.stem + MANIFEST_SUFFIX)
            checkpoint_path: Path | None = None
            if out.kind in CARRY_CHECKPOINT:
                checkpoint_path = staging / (out.stem + CHECKPOINT_SUFFIX)
                body = cp[1] if cp else {"checkpoint": None,
                                         "note": "No audit checkpoint had been signed yet."}
                checkpoint_path.write_text(json.dumps(body, indent=2) + "\n")
            manifest = {
                "artefact": row.label,
                "kind": out.kind,
                "tier": out.tier,
                "recipient": out.recipient,
                "for_release": out.kind in LEAVING,
                **out.manifest,
                "rows": out.rows,
                "people": len(people),
                "files": files
                + ([_describe(checkpoint_path)] if checkpoint_path is not None else []),
                "audit_checkpoint": (
                    {"id": cp[0], "size": cp[1].get("size"), "root": cp[1].get("root")}
                    if cp else None
                ),
                "created_at": clock.now().isoformat(timespec="seconds"),
            }
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
            manifest_sha = sha256_file(manifest_path)
            _lineage(session, row.id, people)
            if on_commit is not None:
                on_commit(session, row, manifest_sha)
            record(
                session,
                ArtefactWritten(
                    artefact=row.label,
                    kind=out.kind,
                    tier=out.tier,
                    recipient=out.recipient or "",
                    files=len(names),
                    rows=out.rows,
                    people=len(people),
                    manifest_sha256=manifest_sha,
                    checkpoint=f"C-{cp[0]}" if cp else "",
                ),
                actor=actor,
            )
            artefact_id, label = row.id, row.label
        committed = True
        fault(haven.settings, "artefact-committed")
        _move_into_place(staging, folder, names)
        _clear_staging(haven, artefact_id)
    finally:
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
    return Written(
        artefact_id=artefact_id,
        label=label,
        files=[folder / n for p in out.parts for n in p.names],
        manifest=folder / (out.stem + MANIFEST_SUFFIX),
        manifest_sha256=manifest_sha,
        checkpoint=folder / (out.stem + CHECKPOINT_SUFFIX) if checkpoint_path else None,
        people=len(people),
    )


def _describe(path: Path) -> dict[str, object]:
    return {"name": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _checkpoint(session: Session) -> tuple[int, dict[str, Any]] | None:
    """The latest signed audit checkpoint, as the witness document an artefact carries."""
    from carehaven.audit import checkpoint

    row = checkpoint.latest(session)
    if row is None:
        return None
    return row.id, checkpoint.document(row)


def _lineage(session: Session, artefact_id: int, people: Sequence[str]) -> None:
    for start in range(0, len(people), _LINEAGE_BATCH):
        batch = people[start : start + _LINEAGE_BATCH]
        session.execute(
            insert(ArtefactPerson),
            [{"artefact_id": artefact_id, "person_id": p} for p in batch],
        )


def _move_into_place(staging: Path, folder: Path, names: Sequence[str]) -> None:
    for name in names:
        source = staging / name
        if source.exists():  # absent when a crashed earlier attempt already moved it
            source.replace(folder / name)
    shutil.rmtree(staging, ignore_errors=True)


def _clear_staging(haven: Haven, artefact_id: int) -> None:
    with haven.transaction() as session:
        row = session.get(Artefact, artefact_id)
        if row is not None:
            row.staging = None


def finish_pending(haven: Haven) -> int:
    """Complete the renames a crash interrupted after their artefact was recorded; returns how
    many artefacts were finished. Staging folders of artefacts never recorded are removed."""
    with haven.sessions() as session:
        pending = list(session.scalars(select(Artefact).where(Artefact.staging.is_not(None))))
    for row in pending:
        staging = Path(row.staging or "")
        folder = Path(row.directory)
        names = [str(f["name"]) for f in row.files]
        names += [p.name for p in staging.glob("*")] if staging.is_dir() else []
        _move_into_place(staging, folder, list(dict.fromkeys(names)))
        _clear_staging(haven, row.id)
    return len(pending)


def people_of(session: Session, artefact_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ArtefactPerson.person_id)
            .where(ArtefactPerson.artefact_id == artefact_id)
            .order_by(ArtefactPerson.person_id)
        )
    )


def artefacts_holding(session: Session, person_ids: Sequence[str]) -> dict[str, list[Artefact]]:
    """For each person_id, every artefact whose files hold rows about them (lineage)."""
    found: dict[str, list[Artefact]] = {p: [] for p in person_ids}
    if not person_ids:
        return found
    rows = session.execute(
        select(ArtefactPerson.person_id, Artefact)
        .join(Artefact, Artefact.id == ArtefactPerson.artefact_id)
        .where(ArtefactPerson.person_id.in_(list(person_ids)))
        .order_by(Artefact.id)
    ).all()
    for person, artefact in rows:
        found[str(person)].append(artefact)
    return found


def verify_files(row: Artefact) -> list[str]:
    """The files of an artefact that are missing or no longer match their recorded sha256."""
    bad = []
    for f in row.files:
        path = Path(row.directory) / str(f["name"])
        if not path.is_file():
            bad.append(f"{f['name']} is missing")
        elif sha256_file(path) != f["sha256"]:
            bad.append(f"{f['name']} was changed")
    return bad


__all__ = [
    "CARRY_CHECKPOINT",
    "LEAVING",
    "ArtefactLeakError",
    "Kind",
    "OnCommit",
    "Outgoing",
    "Part",
    "Scanned",
    "Written",
    "artefacts_holding",
    "check_folder",
    "finish_pending",
    "people_of",
    "verify_files",
    "write",
]
