"""A dataset at a tier, built from the personal tier and written through the artefact writer.

Two callers: ``carehaven preview`` (the data team looks at a tier inside the haven; the files
are written under ``previews/``, marked not for release, with pseudonyms under a key no
recipient ever holds) and ``release approve`` (the one door out: a recipient's pseudonyms, the
agreed fields and rows only). The rows come from the personal tier through ``derive.py`` (and,
for the anonymised tier, ``anonymise.py``); the result is scanned for identifiers, and
``governance.artefact`` writes it, records it with its lineage and audit entries in one
transaction, and only then moves the files into place.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import ExtractWritten
from carehaven.control.kinds import Tier
from carehaven.control.models import Artefact, Extract
from carehaven.csvsafe import write_arrow_csv
from carehaven.data import connect
from carehaven.errors import UsageError
from carehaven.governance.artefact import Outgoing, Part, write
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
from carehaven.pseudonymise.manifest import manifest_name
from carehaven.pseudonymise.personal import PERSON_DATASETS, ensure_personal
from carehaven.pseudonymise.pseudonym import pseudonym_lookup
from carehaven.pseudonymise.scan import Allowed, LeakFoundError, ScanResult, scan_table
from carehaven.specs import Spec, load_spec

if TYPE_CHECKING:
    from carehaven.access.users import Actor

TIERS: tuple[str, ...] = tuple(Tier)
#: What the data team may preview inside the haven.
EXTRACTABLE: tuple[str, ...] = (Tier.DE_PERSONALISED, Tier.ANONYMISED)
#: What a release may write: the personal tier only for a processor under contract (SHR-1).
RELEASABLE: tuple[str, ...] = (Tier.PERSONAL, Tier.DE_PERSONALISED, Tier.ANONYMISED)
#: The key name of preview pseudonyms. Registered recipient codes cannot hold "_", so no
#: recipient ever holds this key, and the scanner flags these pseudonyms in anything else.
PREVIEW_KEY = "HAVEN_PREVIEW"
Progress = Callable[[str], None]
Purpose = Literal["preview", "release"]


@dataclass
class ExtractResult:
    extract_id: str
    artefact: str
    tier: str
    rows: int
    files: list[Path]
    manifest: Path
    manifest_sha256: str
    key_id: str | None
    scan: ScanResult
    anonymisation: Anonymisation | None
    people: int = 0
    checkpoint: Path | None = None



@dataclass(frozen=True)
class Request:
    dataset: str
    tier: str
    #: preview: inside the haven, never for release; release: for ``recipient`` (its key).
    purpose: Purpose = "preview"
    recipient: str | None = None
    k: int = 10
    l_div: int = 2
    max_suppression: float = 0.05
    sensitive: str | None = None  # default: the dataset's declared sensitive field
    #: Only these fields (data minimisation, SHR-7); None keeps every column of the tier.
    fields: tuple[str, ...] | None = None
    #: Keep only people who consented to this sharing (CON-1): the dataset must record consent.
    consenting_only: bool = False
    #: Row scope (SHR-9): only rows of these submissions; None: every submission in force.
    submissions: tuple[str, ...] | None = None

    @property
    def key_name(self) -> str | None:
        """Whose pseudonym key the rows get: the recipient's, or the preview key."""
        if self.tier == "anonymised":
            return None
        return PREVIEW_KEY if self.purpose == "preview" else self.recipient


#: The field that records each dataset's consent to sharing beyond the collection (CON-1).
CONSENT_FIELD = {"ips-episode": "consent_dhsc"}
#: Called inside the transaction that records the artefact, so a caller's rows commit with it.
OnCommit = Callable[[Session, Extract, Artefact], None]


def _check(req: Request) -> Spec:
    allowed = EXTRACTABLE if req.purpose == "preview" else RELEASABLE
    if req.tier not in TIERS:
        raise UsageError(f"Unknown tier {req.tier!r}; choose {' or '.join(allowed)}.")
    if req.tier == "personal" and req.purpose == "preview":
        raise UsageError(
            "The personal tier is never previewed; identifiers leave the personal tier only "
            "in a release to a processor under contract (SHR-1)."
        )
    if req.tier == "aggregate":
        raise UsageError("Aggregate tables are made by 'carehaven publish'.")
    if req.dataset not in PERSON_DATASETS:
        raise UsageError(
            f"{req.dataset} is not about people; choose one of {', '.join(PERSON_DATASETS)}."
        )
    spec = load_spec(req.dataset)
    if req.purpose == "release":
        if not req.recipient:
            raise UsageError("A release names its recipient.")
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


def preview_folder(haven: Haven, req: Request) -> Path:
    """A new folder under the haven's previews for one preview."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    return haven.paths.previews / f"{req.dataset}-{req.tier}-{stamp}-{secrets.token_hex(3)}"


def extract(
    haven: Haven,
    req: Request,
    out: Path,
    *,
    who: Actor,
    progress: Progress | None = None,
    on_commit: OnCommit | None = None,
) -> ExtractResult:
    """Build ``req``'s rows from the personal tier and write them to ``out`` as Parquet, CSV
    (formula-safe) and manifest, through the artefact writer (a preview or a release).
    ``who`` is the person it is written for: identifiable IPS rows need the IPS team's
    permission (SHR-6)."""
    from carehaven.governance import ips

    spec = _check(req)
    ips.guard(haven, who, req.dataset, req.tier)
    actor = who.label
    sensitive = _sensitive(req, spec)
    l_div = req.l_div if sensitive is not None else 1
    master = haven.master_key
    anonymisation: Anonymisation | None = None
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            key = gen_id = None
            if req.key_name is not None:
                with haven.transaction() as session:
                    gen = current_generation(session, master, actor=actor)
                    gen_id = gen.id
                    key = recipient_key(master, req.key_name, gen)
            with haven.sessions() as session:
                tier = ensure_personal(session, con, master, progress)
                events = tier.events(req.dataset)
                if req.submissions is not None:  # a row scope: only these submissions' rows
                    events = events.filter(events._submission_id.isin(list(req.submissions)))
                rows = depersonalised(spec, events, tier.identifiers, req.tier)
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
                allowed = Allowed(req.key_name or "", gen_id) if gen_id is not None else None
                carries = frozenset(c.name for c in columns(spec, req.tier) if c.cls == "D")
                scan = scan_table(
                    table, tier, session, master, allowed=allowed, progress=progress,
                    carries=carries,
                )
                if not scan.ok:
                    raise LeakFoundError(
                        f"The {req.tier} {req.purpose} of {req.dataset} was not written: "
                        f"{scan.summary()}"
                    )
                link_run = tier.run
                people = released.select("person_id").distinct().to_pyarrow()["person_id"]
        finally:
            con.disconnect()
        return _write(
            haven, req, spec, table, out, key.key_id if key else None, gen_id, link_run, scan,
            anonymisation, people.to_pylist(), actor, on_commit,
        )


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
    key_id: str | None,
    gen_id: int | None,
    link_run: int,
    scan: ScanResult,
    anonymisation: Anonymisation | None,
    people: list[str],
    actor: str,
    on_commit: OnCommit | None,
) -> ExtractResult:
    stem = req.dataset
    recipient = req.key_name if key_id else (req.recipient if req.purpose == "release" else None)
    classes = {c.name: c.cls for c in columns(spec, req.tier)} | {"pseudonym": "pseudonym"}
    manifest: dict[str, Any] = {
        "dataset": req.dataset,
        "spec_version": spec.version,
        "key_id": key_id,
        "key_generation": gen_id,
        "columns": [{"name": n, "class": classes[n]} for n in table.column_names],
    }
    if req.purpose == "preview":
        manifest["note"] = (
            "A preview for the data team inside the haven; not for release. Data leaves the "
            "haven only through 'carehaven release'."
        )
    if anonymisation is not None:
        manifest["anonymisation"] = anonymisation.report()
    made: dict[str, Extract] = {}

    def record_extract(session: Session, artefact: Artefact, manifest_sha: str) -> None:
        row = Extract(
            dataset=req.dataset,
            tier=req.tier,
            recipient=req.key_name if key_id else None,
            key_generation=gen_id,
            key_id=key_id,
            spec_version=spec.version,
            link_run=link_run,
            rows=table.num_rows,
            directory=artefact.directory,
            manifest_sha256=manifest_sha,
            created_at=clock.now(),
            created_by=actor,
            artefact_id=artefact.id,
        )
        session.add(row)
        session.flush()
        record(
            session,
            ExtractWritten(
                row.label, req.dataset, req.tier, recipient or "", key_id or "",
                table.num_rows, manifest_sha,
            ),
            actor=actor,
        )
        made["row"] = row
        if on_commit is not None:
            on_commit(session, row, artefact)

    written = write(
        haven,
        Outgoing(
            kind=req.purpose,
            tier=req.tier,
            recipient=recipient,
            folder=out,
            stem=stem,
            parts=[
                Part(f"{stem}.parquet", lambda p: pq.write_table(table, p, compression="zstd")),
                Part(f"{stem}.csv", lambda p: write_arrow_csv(table, p)),
            ],
            rows=table.num_rows,
            scan=scan,
            manifest=manifest,
            people=people,
        ),
        actor=actor,
        on_commit=record_extract,
    )
    return ExtractResult(
        extract_id=made["row"].label,
        artefact=written.label,
        tier=req.tier,
        rows=table.num_rows,
        files=written.files,
        manifest=written.manifest,
        manifest_sha256=written.manifest_sha256,
        key_id=key_id,
        scan=scan,
        anonymisation=anonymisation,
        people=written.people,
        checkpoint=written.checkpoint,
    )


__all__ = [
    "CONSENT_FIELD",
    "EXTRACTABLE",
    "PREVIEW_KEY",
    "RELEASABLE",
    "TIERS",
    "ExtractResult",
    "Request",
    "extract",
    "manifest_name",
    "preview_folder",
]
