"""The leak scanner: does a file hold any value that identifies a person?

Every cell (of every column, whatever its type, as text) is compared, exactly and normalised
(upper case, spaces and hyphens removed), with:

- every direct identifier in the personal tier of at least six characters once normalised (NHS
  and NI numbers, postcodes, names, local references); shorter values such as initials, and dates
  of birth, are too common to judge out of context and are checked per person below;
- every person_id, and every haven-internal NHS-number token;
- the pseudonyms of every other recipient (and of the same recipient under other key
  generations) that has ever had an extract;
- when the file's own pseudonyms resolve to people: each row's cells against that person's own
  date of birth (any match), and their initials (a column matching in 5% or more of its rows).

Hits are counted by kind and column; no value is ever reported.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven.access.permissions import Permission
from carehaven.audit import record
from carehaven.audit.events import FileScanned
from carehaven.control.models import Extract
from carehaven.errors import CarehavenError, ExitCode, UsageError
from carehaven.governance.policy.model import IPS_DATASETS
from carehaven.haven import Haven
from carehaven.haven.keys import MasterKey
from carehaven.pseudonymise.keys import generation, recipient_key
from carehaven.pseudonymise.manifest import find_manifest, sha256_file
from carehaven.pseudonymise.personal import (
    PERSON_DATASETS,
    PersonalTier,
    ensure_personal,
    events_table,
)
from carehaven.pseudonymise.pseudonym import pseudonyms
from carehaven.specs import FieldClass, load_spec

if TYPE_CHECKING:
    from carehaven.access.users import Actor

MIN_GLOBAL = 6
#: Two or three letters often equal a row's own person's initials by chance (a referral source
#: "MH", a disability code): a column leaks initials when at least this share of its rows do.
INITIALS_SHARE = 0.05
_NORM = "upper(regexp_replace({}, '[\\s\\-]', '', 'g'))"
Progress = Callable[[str], None]


class LeakFoundError(CarehavenError):
    exit_code = ExitCode.LEAK_FOUND


@dataclass(frozen=True)
class Allowed:
    """The pseudonyms a file may carry: one recipient's, under one key generation."""

    recipient: str
    generation: int


@dataclass
class ScanResult:
    rows: int
    cells: int
    by_kind: Counter[str] = field(default_factory=Counter)
    by_column: Counter[str] = field(default_factory=Counter)
    coarse_only: bool = False

    @property
    def hits(self) -> int:
        return sum(self.by_kind.values())

    @property
    def ok(self) -> bool:
        return self.hits == 0

    def coarse(self) -> ScanResult:
        """Only whether the file holds any identifying value: no kinds, columns or counts."""
        flat = ScanResult(rows=self.rows, cells=self.cells)
        if not self.ok:
            flat.by_kind["identifying values"] = 1
            flat.coarse_only = True
        return flat

    def summary(self) -> str:
        if self.coarse_only:
            return ("It holds identifying values. The haven did not write this file, so the "
                    "scan says no more: which columns or how many would make it a look-up.")
        if self.ok:
            return f"No identifier found in {self.rows:,} rows ({self.cells:,} cells)."
        kinds = ", ".join(f"{n:,} {k}" for k, n in self.by_kind.most_common())
        cols = ", ".join(sorted(self.by_column))
        return f"{self.hits:,} identifying values found ({kinds}) in column(s): {cols}."


def _short_fields() -> tuple[list[str], list[str]]:
    """D fields holding dates, and D fields that are initials: checked per person only."""
    dates, initials = set(), set()
    for name in PERSON_DATASETS:
        for f in load_spec(name).fields:
            if f.field_class == FieldClass.DIRECT and f.type == "date":
                dates.add(f.name)
            if f.field_class == FieldClass.DIRECT and "initial" in f.name.lower():
                initials.add(f.name)
    return sorted(dates), sorted(initials)


def scan_table(
    table: pa.Table,
    tier: PersonalTier,
    session: Session,
    master: MasterKey,
    *,
    allowed: Allowed | None,
    progress: Progress | None = None,
    carries: frozenset[str] = frozenset(),
    skip_datasets: frozenset[str] = frozenset(),
) -> ScanResult:
    """Scan ``table``; ``carries`` names columns agreed to hold identifiers (a processor's
    personal-tier fields, a provider's own client references), which are not counted as
    identifier hits there. Person ids, tokens and other recipients' pseudonyms always are."""
    con: DuckDBBackend = tier.con
    raw = con.con
    result = ScanResult(rows=table.num_rows, cells=table.num_rows * table.num_columns)
    if table.num_rows == 0:
        return result
    if progress:
        progress(f"scanning {table.num_rows:,} rows for identifiers")
    strings = pa.table(
        {f"c{i}": table.column(i).cast(pa.string()) for i in range(table.num_columns)}
    )
    names = dict(enumerate(table.column_names))
    raw.register("__scan_in", strings)
    try:
        raw.execute(
            "CREATE OR REPLACE TEMP TABLE __scan_cells AS "  # noqa: S608 (a fixed expression)
            "SELECT __r, name, value, " + _NORM.format("value") + " AS norm FROM ("
            "SELECT row_number() OVER () AS __r, * FROM __scan_in) "
            "UNPIVOT (value FOR name IN (COLUMNS(* EXCLUDE __r)))"
        )
    finally:
        raw.unregister("__scan_in")
    people = _dictionary(raw, tier, session, master, allowed, skip_datasets)
    agreed = [f"c{i}" for i, n in names.items() if n in carries]
    hits = raw.execute(
        "SELECT d.kind, c.name, count(*) FROM __scan_cells c "
        "JOIN __scan_dict d ON c.norm = d.norm "
        "WHERE NOT (d.kind = 'identifier' AND list_contains($agreed::VARCHAR[], c.name)) "
        "GROUP BY ALL",
        {"agreed": agreed},
    ).fetchall()
    personal = [
        hit
        for hit in _per_person(raw, tier, people, session, master, allowed, names)
        if hit[1] not in agreed
    ]
    for kind, col, n in [*hits, *personal]:
        result.by_kind[kind] += int(n)
        result.by_column[names[int(col[1:])]] += int(n)
    raw.execute("DROP TABLE IF EXISTS __scan_cells; DROP TABLE IF EXISTS __scan_dict")
    return result


def _people(raw: duckdb.DuckDBPyConnection) -> pa.Array:
    got = raw.execute("SELECT person_id FROM __scan_people").arrow()
    table = got.read_all() if hasattr(got, "read_all") else got
    return table["person_id"]


def _dictionary(
    raw: duckdb.DuckDBPyConnection,
    tier: PersonalTier,
    session: Session,
    master: MasterKey,
    allowed: Allowed | None,
    skip_datasets: frozenset[str] = frozenset(),
) -> pa.Array:
    """Build ``__scan_dict``; returns every person_id of the personal tier. The identifiers
    of ``skip_datasets`` are left out (IPS identifiers, for someone who may not see them)."""
    dates, initials = _short_fields()
    # Table names below are the personal tier's own (a run number), never input.
    events = " UNION ".join(
        f'SELECT DISTINCT person_id FROM "{events_table(d, tier.run)}"'  # noqa: S608
        for d in PERSON_DATASETS
    )
    raw.execute("CREATE OR REPLACE TEMP TABLE __scan_people AS " + events)
    raw.execute(
        "CREATE OR REPLACE TEMP TABLE __scan_dict AS "  # noqa: S608
        "SELECT DISTINCT norm, kind FROM ("
        f"SELECT {_NORM.format('value')} AS norm, 'identifier' AS kind "
        f'FROM "{tier.identifiers.get_name()}" WHERE NOT list_contains($short, field) '
        "AND NOT list_contains($skip::VARCHAR[], dataset) "
        "UNION ALL SELECT upper(person_id), 'person_id' FROM __scan_people "
        f"UNION ALL SELECT upper(nhs_token), 'NHS-number token' FROM \"{tier.tokens.get_name()}\""
        ") WHERE length(norm) >= $min",
        {"short": [*dates, *initials], "min": MIN_GLOBAL, "skip": sorted(skip_datasets)},
    )
    people = _people(raw)
    # Without a matching manifest the file's own recipient is unknown, so every pseudonym is
    # flagged; the label says why rather than blaming another recipient.
    label = (
        "pseudonym of another recipient or key generation"
        if allowed is not None
        else "pseudonym (file not matched to an extract manifest)"
    )
    pairs = session.execute(
        select(Extract.recipient, Extract.key_generation)
        .where(Extract.recipient.is_not(None), Extract.key_generation.is_not(None))
        .distinct()
    ).all()
    for recipient, gen in pairs:
        if recipient is None or gen is None:
            continue
        if allowed is not None and (recipient, gen) == (allowed.recipient, allowed.generation):
            continue
        key = recipient_key(master, recipient, generation(session, gen))
        raw.register("__scan_other", pseudonyms(people, key).select(["pseudonym"]))
        try:
            raw.execute(
                "INSERT INTO __scan_dict SELECT DISTINCT upper(pseudonym), $label "
                "FROM __scan_other",
                {"label": label},
            )
        finally:
            raw.unregister("__scan_other")
    return people


def _per_person(
    raw: duckdb.DuckDBPyConnection,
    tier: PersonalTier,
    people: pa.Array,
    session: Session,
    master: MasterKey,
    allowed: Allowed | None,
    names: dict[int, str],
) -> list[tuple[str, str, int]]:
    """Cells equal to their own row's person's date of birth, or columns of their initials."""
    if allowed is None:
        return []
    pcols = [f"c{i}" for i, n in names.items() if n == "pseudonym"]
    if not pcols:
        return []
    dates, initials = _short_fields()
    key = recipient_key(master, allowed.recipient, generation(session, allowed.generation))
    raw.register("__scan_own", pseudonyms(people, key))
    try:
        rows = raw.execute(
            "WITH who AS (SELECT c.__r, o.person_id FROM __scan_cells c "  # noqa: S608
            "JOIN __scan_own o ON c.value = o.pseudonym WHERE c.name = $pcol), "
            "own AS (SELECT DISTINCT person_id, value, field "
            f'FROM "{tier.identifiers.get_name()}" WHERE list_contains($wanted, field)), '
            "hits AS (SELECT list_contains($dates, own.field) AS dob, c.name, "
            "count(DISTINCT c.__r) AS n FROM __scan_cells c JOIN who USING (__r) "
            "JOIN own ON own.person_id = who.person_id AND c.value = own.value "
            "WHERE c.name <> $pcol GROUP BY ALL) "
            "SELECT CASE WHEN dob THEN 'own date of birth' ELSE 'own initials' END, name, n "
            "FROM hits WHERE dob OR n >= greatest(3, $share * (SELECT count(*) FROM who))",
            {
                "pcol": pcols[0],
                "wanted": [*dates, *initials],
                "dates": dates,
                "share": INITIALS_SHARE,
            },
        ).fetchall()
    finally:
        raw.unregister("__scan_own")
    return [(str(k), str(c), int(n)) for k, c, n in rows]


def read_file(path: Path) -> pa.Table:
    """A Parquet or CSV file as an Arrow table (CSV read entirely as text)."""
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
            text = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
            return pacsv.read_csv(path, convert_options=text)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid):
        # The engine's message can quote a cell, so it is not shown.
        raise UsageError(f"{path} cannot be read as a {path.suffix[1:]} file.") from None
    raise UsageError(f"{path}: scan reads .parquet and .csv files.")


def allowed_for(path: Path) -> Allowed | None:
    """The recipient and key generation of the extract ``path`` belongs to, from its manifest
    (only if the manifest lists the file with the same sha256)."""
    return _from_manifest(path)[0]


def _from_manifest(path: Path) -> tuple[Allowed | None, frozenset[str]]:
    """What the manifest beside ``path`` (listing it with its current sha256) lets the file
    hold: the recipient's own pseudonyms, and, in a personal-tier release to a processor, the
    identifier columns the agreement names."""
    found = find_manifest(path)
    if found is None:
        return None, frozenset()
    manifest = json.loads(found.read_text())
    allowed = None
    if manifest.get("recipient") and manifest.get("key_generation"):
        allowed = Allowed(str(manifest["recipient"]), int(manifest["key_generation"]))
    carries: frozenset[str] = frozenset()
    if manifest.get("tier") == "personal" and manifest.get("kind") == "release":
        carries = frozenset(
            str(c["name"]) for c in manifest.get("columns", []) if c.get("class") == "D"
        )
    return allowed, carries


def scan_file(
    haven: Haven, path: Path, *, who: Actor | None = None, progress: Progress | None = None
) -> ScanResult:
    """Scan ``path`` against the haven's personal tier (building it if this link run has none).

    When a person asks (``who``), the scan must not become a way to look identifiers up: a
    file the haven did not write (no manifest lists it) gets only a yes or no for the whole
    file, never which columns or how many; IPS identifiers are left out for anyone without the
    IPS team's permission (SHR-6); and every scan is audited (its sha256, size and answer)."""
    from carehaven.data import connect

    table = read_file(path)
    allowed, carries = _from_manifest(path)
    ours = find_manifest(path) is not None
    skip: frozenset[str] = frozenset()
    if who is not None and not who.may(Permission.READ_IPS_IDENTIFIABLE):
        skip = IPS_DATASETS
    master = haven.master_key
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            with haven.sessions() as session:
                tier = ensure_personal(session, con, master, progress)
                result = scan_table(table, tier, session, master, allowed=allowed,
                                    progress=progress, carries=carries, skip_datasets=skip)
        finally:
            con.disconnect()
    if who is None:
        return result
    with haven.transaction() as session:
        record(
            session,
            FileScanned(sha256=sha256_file(path), rows=table.num_rows,
                        result="clean" if result.ok else "identifying",
                        written_here=int(ours), ips_checked=int(not skip)),
            actor=who.label,
        )
    return result if ours else result.coarse()
