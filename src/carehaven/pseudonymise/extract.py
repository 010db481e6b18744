"""``extract``: a dataset at the de-personalised or anonymised tier, as Parquet, CSV and manifest.

The rows come from the personal tier through the derivations of ``derive.py`` (and, for the
anonymised tier, ``anonymise.py``); the result is scanned for identifiers before anything is
written, written under a temporary name, and moved into place only when its control-plane record
and audit entry commit.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import ExtractWritten
from carehaven.control.models import Extract
from carehaven.data import connect
from carehaven.errors import UsageError
from carehaven.haven import Haven
from carehaven.pseudonymise.anonymise import (
    Anonymisation,
    QuasiIdentifier,
    apply,
    frequency_table,
    search,
)
from carehaven.pseudonymise.derive import columns, depersonalised, with_pseudonyms
from carehaven.pseudonymise.keys import check_recipient, current_generation, recipient_key
from carehaven.pseudonymise.manifest import manifest_name, sha256_file
from carehaven.pseudonymise.personal import PERSON_DATASETS, ensure_personal
from carehaven.pseudonymise.pseudonym import pseudonym_lookup
from carehaven.pseudonymise.scan import Allowed, LeakFoundError, ScanResult, scan_table
from carehaven.specs import Spec, load_spec

TIERS = ("personal", "de-personalised", "anonymised", "aggregate")
EXTRACTABLE = ("de-personalised", "anonymised")
Progress = Callable[[str], None]


@dataclass
class ExtractResult:
    extract_id: str
    tier: str
    rows: int
    files: list[Path]
    manifest: Path
    key_id: str | None
    scan: ScanResult
    anonymisation: Anonymisation | None
    people: int | None = None  # distinct people written, when lineage was kept

    def as_json(self) -> dict[str, Any]:
        return {
            "files": [str(f) for f in self.files],
            "manifest": str(self.manifest),
            "tier": self.tier,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class Request:
    dataset: str
    tier: str
    recipient: str | None = None
    k: int = 10
    l_div: int = 2
    max_suppression: float = 0.05
    sensitive: str | None = None  # default: the dataset's declared sensitive field
    #: Only these fields (data minimisation, SHR-7); None keeps every column of the tier.
    fields: tuple[str, ...] | None = None
    #: Keep only people who consented to this sharing (CON-1): the dataset must record consent.
    consenting_only: bool = False
    #: A release label: the person_ids written are kept as its lineage (``release_people``).
    lineage: str | None = None


#: The field that records each dataset's consent to sharing beyond the collection (CON-1).
CONSENT_FIELD = {"ips-episode": "consent_dhsc"}
LINEAGE_TABLE = "release_people"
#: Called inside the transaction that records the extract, so a caller's rows commit with it.
OnCommit = Callable[[Session, Extract], None]


def _check(req: Request) -> Spec:
    if req.tier not in TIERS:
        raise UsageError(f"Unknown tier {req.tier!r}; choose {' or '.join(EXTRACTABLE)}.")
    if req.tier == "personal":
        raise UsageError(
            "The personal tier is never extracted; identifiers leave the haven only through a "
            "release under a contract (SHR-1)."
        )
    if req.tier == "aggregate":
        raise UsageError("Aggregate tables are made by 'carehaven publish', not by extract.")
    if req.dataset not in PERSON_DATASETS:
        raise UsageError(
            f"{req.dataset} is not about people; extract one of {', '.join(PERSON_DATASETS)}."
        )
    spec = load_spec(req.dataset)
    if req.tier == "de-personalised" and not req.recipient:
        raise UsageError(
            "A de-personalised extract needs --recipient: pseudonyms are per recipient."
        )
    if req.recipient is not None:
        check_recipient(req.recipient)
    if req.k < 2:
        raise UsageError("--k must be at least 2.")
    if req.l_div < 1:
        raise UsageError("--l must be at least 1.")
    if not 0.0 <= req.max_suppression <= 0.5:
        raise UsageError("--max-suppression must be between 0 and 0.5.")
    sensitive = _sensitive(req, spec)
    if req.fields is not None:
        known = {c.name for c in columns(spec, req.tier)}
        unknown = [f for f in req.fields if f not in known]
        if unknown:
            raise UsageError(
                f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a column of "
                f"the {req.tier} {req.dataset}; choose from {', '.join(sorted(known))}."
            )
        if not req.fields:
            raise UsageError("An extract needs at least one field.")
    if req.consenting_only and req.dataset not in CONSENT_FIELD:
        raise UsageError(f"{req.dataset} records no consent to sharing, so it cannot be limited "
                         "to people who consented.")
    if req.tier == "anonymised":
        if sensitive is not None and sensitive not in {c.name for c in columns(spec, req.tier)}:
            raise UsageError(f"{sensitive} is not a column of the anonymised {req.dataset}.")
        if not _quasi_identifiers(spec):
            raise UsageError(f"{req.dataset} declares no quasi-identifiers to generalise.")
        if not _quasi_identifiers(spec, req.fields):
            names = ", ".join(q.name for q in _quasi_identifiers(spec))
            raise UsageError(
                f"The fields asked for hold none of the quasi-identifiers of {req.dataset}, so "
                f"there is nothing to anonymise them by; include at least one of {names}."
            )
    return spec


def _sensitive(req: Request, spec: Spec) -> str | None:
    """The sensitive field for l-diversity: asked for or the spec's, if the extract keeps it."""
    sensitive = req.sensitive or spec.sensitive
    if req.fields is not None and sensitive not in req.fields:
        return None
    return sensitive


def _quasi_identifiers(
    spec: Spec, keep: tuple[str, ...] | None = None
) -> list[QuasiIdentifier]:
    out = []
    for c in columns(spec, "anonymised"):
        if c.hierarchy is None or (keep is not None and c.name not in keep):
            continue
        enum = spec.field(c.name).enum if c.name in spec.field_names else None
        out.append(QuasiIdentifier(c.name, c.hierarchy, enum))
    return out


def extract(
    haven: Haven,
    req: Request,
    out: Path,
    *,
    actor: str,
    progress: Progress | None = None,
    on_commit: OnCommit | None = None,
) -> ExtractResult:
    spec = _check(req)
    sensitive = _sensitive(req, spec)
    l_div = req.l_div if sensitive is not None else 1
    targets = [
        out / f"{req.dataset}.parquet",
        out / f"{req.dataset}.csv",
        out / manifest_name(req.dataset),
    ]
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; --out names a folder.")
    clash = [t for t in targets if t.exists()]
    if clash:
        raise UsageError(f"{clash[0]} already exists; choose another --out or move it away.")
    master = haven.master_key
    anonymisation: Anonymisation | None = None
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            key = gen_id = None
            if req.tier == "de-personalised":
                with haven.transaction() as session:
                    gen = current_generation(session, master, actor=actor)
                    gen_id = gen.id
                    key = recipient_key(master, req.recipient or "", gen)
            with haven.sessions() as session:
                tier = ensure_personal(session, con, master, progress)
                rows = depersonalised(spec, tier.events(req.dataset), tier.identifiers, req.tier)
                if req.consenting_only:
                    rows = rows.filter(rows[CONSENT_FIELD[req.dataset]] == "Y")
                if req.fields is not None:
                    rows = rows.select("person_id", *req.fields)
                if progress:
                    progress(f"deriving the {req.tier} rows of {req.dataset}")
                released = rows
                if key is not None:
                    rows = with_pseudonyms(rows, pseudonym_lookup(rows, key))
                    table = _ordered(rows)
                else:
                    # A record repeated in later returns is one record; classes are then
                    # checked for k distinct people, not only k rows.
                    rows = rows.distinct()
                    qis = _quasi_identifiers(spec, req.fields)
                    freq = frequency_table(rows, qis, sensitive, "person_id").to_pyarrow()
                    if progress:
                        progress(f"searching generalisations of {len(qis)} quasi-identifiers")
                    anonymisation = search(
                        freq,
                        qis,
                        k=req.k,
                        l_div=l_div,
                        max_suppression=req.max_suppression,
                        sensitive=sensitive,
                    )
                    safe = apply(
                        rows,
                        qis,
                        anonymisation.chosen.node,
                        k=req.k,
                        l_div=l_div,
                        sensitive=sensitive,
                        people="person_id",
                    )
                    released = safe
                    table = _ordered(safe.drop("person_id"))
                    anonymisation.suppressed_actual = anonymisation.rows - table.num_rows
                    _check_suppression(anonymisation, req)
                allowed = Allowed(req.recipient or "", gen_id) if gen_id is not None else None
                scan = scan_table(table, tier, session, master, allowed=allowed, progress=progress)
                if not scan.ok:
                    raise LeakFoundError(
                        f"The {req.tier} extract of {req.dataset} was not written: {scan.summary()}"
                    )
                link_run = tier.run
                people = _keep_lineage(con, req.lineage, released) if req.lineage else None
        finally:
            con.disconnect()
        try:
            result = _write(
                haven,
                req,
                spec,
                table,
                out,
                targets,
                key.key_id if key else None,
                gen_id,
                link_run,
                scan,
                anonymisation,
                actor,
                on_commit,
            )
        except BaseException:
            if req.lineage:
                _drop_lineage(haven, req.lineage)
            raise
        result.people = people
        return result


def _keep_lineage(con: DuckDBBackend, label: str, rows: ir.Table) -> int:
    """Record which person_ids went into release ``label``, so that a later withdrawal,
    erasure or correction finds every release it touches. Returns how many people."""
    if LINEAGE_TABLE not in con.list_tables():
        con.create_table(
            LINEAGE_TABLE, schema=ibis.schema({"release": "string", "person_id": "string"})
        )
    people = rows.select(
        release=ibis.literal(label), person_id=rows.person_id.cast("string")
    ).distinct()
    con.con.execute("DELETE FROM release_people WHERE release = ?", [label])
    con.insert(LINEAGE_TABLE, people)
    count = con.con.execute(
        "SELECT count(*) FROM release_people WHERE release = ?", [label]
    ).fetchone()
    return int(count[0]) if count else 0


def _drop_lineage(haven: Haven, label: str) -> None:
    """Undo :func:`_keep_lineage` when the extract was not written (the caller holds the
    writer lock)."""
    con = connect(haven.paths.data_db)
    try:
        if LINEAGE_TABLE in con.list_tables():
            con.con.execute("DELETE FROM release_people WHERE release = ?", [label])
    finally:
        con.disconnect()


def releases_of(haven: Haven, person_ids: list[str]) -> dict[str, list[str]]:
    """For each person_id given, the releases whose artefacts held them (lineage)."""
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            if LINEAGE_TABLE not in con.list_tables() or not person_ids:
                return {p: [] for p in person_ids}
            found = con.con.execute(
                "SELECT person_id, release FROM release_people "
                "WHERE person_id IN (SELECT unnest(?)) ORDER BY release",
                [person_ids],
            ).fetchall()
        finally:
            con.disconnect()
    out: dict[str, list[str]] = {p: [] for p in person_ids}
    for person, release in found:
        out[str(person)].append(str(release))
    return out


def _check_suppression(anonymisation: Anonymisation, req: Request) -> None:
    """The rows released must keep the promise of ``--max-suppression``."""
    limit = req.max_suppression * anonymisation.rows
    if anonymisation.suppressed_actual is not None and anonymisation.suppressed_actual > limit:
        raise UsageError(
            f"The anonymised extract of {req.dataset} was not written: it would suppress "
            f"{anonymisation.suppressed_actual} of {anonymisation.rows} rows, more than "
            f"--max-suppression {req.max_suppression:.0%} allows."
        )


def _ordered(rows: ir.Table) -> pa.Table:
    """Rows in a fixed order that says nothing about submissions (sorted by their values)."""
    return rows.order_by(list(rows.columns)).to_pyarrow()


def _write(
    haven: Haven,
    req: Request,
    spec: Spec,
    table: pa.Table,
    out: Path,
    targets: list[Path],
    key_id: str | None,
    gen_id: int | None,
    link_run: int,
    scan: ScanResult,
    anonymisation: Anonymisation | None,
    actor: str,
    on_commit: OnCommit | None = None,
) -> ExtractResult:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".extract-{secrets.token_hex(6)}"
    tmp.mkdir(mode=0o700)
    moved: list[Path] = []
    try:
        parquet, csv, manifest_path = (tmp / t.name for t in targets)
        pq.write_table(table, parquet, compression="zstd")
        pacsv.write_csv(table, csv)
        with haven.transaction() as session:
            row = Extract(
                dataset=req.dataset,
                tier=req.tier,
                recipient=req.recipient if key_id else None,
                key_generation=gen_id,
                key_id=key_id,
                spec_version=spec.version,
                link_run=link_run,
                rows=table.num_rows,
                directory=str(out.resolve()),
                manifest_sha256="",
                created_at=clock.now(),
                created_by=actor,
            )
            session.add(row)
            session.flush()
            label = row.label
            manifest = _manifest(
                req, spec, table, label, key_id, gen_id, [parquet, csv], anonymisation
            )
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
            row.manifest_sha256 = sha256_file(manifest_path)
            record(
                session,
                ExtractWritten(
                    label,
                    req.dataset,
                    req.tier,
                    req.recipient or "",
                    key_id or "",
                    table.num_rows,
                    row.manifest_sha256,
                ),
                actor=actor,
            )
            if on_commit is not None:
                on_commit(session, row)
            for src, dst in zip((parquet, csv, manifest_path), targets, strict=True):
                src.replace(dst)
                moved.append(dst)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExtractResult(
        label, req.tier, table.num_rows, targets[:2], targets[2], key_id, scan, anonymisation
    )


def _manifest(
    req: Request,
    spec: Spec,
    table: pa.Table,
    label: str,
    key_id: str | None,
    gen_id: int | None,
    files: list[Path],
    anonymisation: Anonymisation | None,
) -> dict[str, Any]:
    classes = {c.name: c.cls for c in columns(spec, req.tier)} | {"pseudonym": "pseudonym"}
    manifest: dict[str, Any] = {
        "extract": label,
        "dataset": req.dataset,
        "tier": req.tier,
        "spec_version": spec.version,
        "recipient": req.recipient if key_id else None,
        "key_id": key_id,
        "key_generation": gen_id,
        "rows": table.num_rows,
        "columns": [{"name": n, "class": classes[n]} for n in table.column_names],
        "files": [
            {"name": f.name, "sha256": sha256_file(f), "bytes": f.stat().st_size} for f in files
        ],
        "created_at": clock.now().isoformat(timespec="seconds"),
    }
    if anonymisation is not None:
        manifest["anonymisation"] = anonymisation.report()
    return manifest
