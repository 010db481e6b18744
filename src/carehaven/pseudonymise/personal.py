"""The personal tier: identifiers in one table keyed by person_id, events in tables without them.

Built from the accepted rows in force and the registry of the link run in force, and numbered by
that run: ``personal_identifiers_N`` holds every direct identifier (D field) as
``(person_id, dataset, _submission_id, _row, field, value)``; ``personal_<dataset>_N`` holds each
dataset's rows with ``person_id`` and every field that is not D; ``personal_tokens_N`` holds the
haven-internal NHS-number token of each person who has one. Only code that needs identifiers
(derivations, the leak scanner, rights requests) reads the identifiers table.

The tables are written under temporary names and renamed together in one transaction, so a crash
leaves either the earlier set or the complete new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlalchemy.orm import Session

from carehaven.data import in_force_rows
from carehaven.haven.keys import MasterKey
from carehaven.identity.counts import reviews_with_person
from carehaven.identity.link import current_run, in_force
from carehaven.identity.registry_tables import NotLinkedError, Registry, registry
from carehaven.pseudonymise.kernel import hmac_hex
from carehaven.pseudonymise.keys import nhs_token_key
from carehaven.specs import FieldClass, Spec, load_spec

#: Datasets whose rows belong to a person: linked sources, and reviews through their episode.
PERSON_DATASETS = ("ndtms-episode", "ndtms-review", "ips-episode", "cld-event")
ROW_KEY = ("_submission_id", "_row")
Progress = Callable[[str], None]


def identifiers_table(run: int) -> str:
    return f"personal_identifiers_{run}"


def tokens_table(run: int) -> str:
    return f"personal_tokens_{run}"


def events_table(dataset: str, run: int) -> str:
    return f"personal_{dataset.replace('-', '_')}_{run}"


def _all_tables(run: int) -> list[str]:
    return [
        identifiers_table(run),
        tokens_table(run),
        *(events_table(d, run) for d in PERSON_DATASETS),
    ]


@dataclass(frozen=True)
class PersonalTier:
    run: int
    con: DuckDBBackend

    @property
    def identifiers(self) -> ir.Table:
        return self.con.table(identifiers_table(self.run))

    @property
    def tokens(self) -> ir.Table:
        return self.con.table(tokens_table(self.run))

    def events(self, dataset: str) -> ir.Table:
        if dataset not in PERSON_DATASETS:
            raise KeyError(dataset)
        return self.con.table(events_table(dataset, self.run))


def ensure_personal(
    session: Session, con: DuckDBBackend, master: MasterKey, progress: Progress | None = None
) -> PersonalTier:
    """The personal tier of the link run in force, building it first if this run has none.

    The caller holds the haven's writer lock.
    """
    run = current_run(session)
    if run is None:
        raise NotLinkedError("Nothing has been linked yet; run 'carehaven link' first.")
    have = set(con.list_tables())
    if not all(t in have for t in _all_tables(run)):
        if progress:
            progress(f"building the personal tier for link run {run}")
        _build(session, con, master, run)
        for stale in sorted(have):
            if stale.startswith("personal_") and not stale.endswith(f"_{run}"):
                con.raw_sql(f'DROP TABLE IF EXISTS "{stale}"')
    return PersonalTier(run, con)


def _build(session: Session, con: DuckDBBackend, master: MasterKey, run: int) -> None:
    reg = registry(session, con)
    ids: list[ir.Table] = []
    staged: list[tuple[str, str]] = []
    for dataset in PERSON_DATASETS:
        spec = load_spec(dataset)
        rows = _rows_with_person(session, con, reg, spec)
        direct = [f for f in spec.fields if f.field_class == FieldClass.DIRECT]
        keep = [f.name for f in spec.fields if f.field_class != FieldClass.DIRECT]
        events = rows.select(*ROW_KEY, "person_id", "linkable", *keep)
        staged.append(
            (_materialise(con, events, events_table(dataset, run)), events_table(dataset, run))
        )
        for f in direct:
            value = rows[f.name].cast("string")
            ids.append(
                rows.filter(value.notnull() & (value != "")).select(
                    "person_id",
                    dataset=ibis.literal(dataset),
                    _submission_id=rows._submission_id,
                    _row=rows._row,
                    field=ibis.literal(f.name),
                    value=value,
                )
            )
    identifiers = ids[0].union(*ids[1:]) if len(ids) > 1 else ids[0]
    staged.append((_materialise(con, identifiers, identifiers_table(run)), identifiers_table(run)))
    staged.append((_tokens(con, reg.profiles, master, run), tokens_table(run)))
    con.raw_sql("BEGIN TRANSACTION")
    try:
        for tmp, final in staged:
            con.raw_sql(f'DROP TABLE IF EXISTS "{final}"')
            con.raw_sql(f'ALTER TABLE "{tmp}" RENAME TO "{final}"')
        con.raw_sql("COMMIT")
    except Exception:
        con.raw_sql("ROLLBACK")
        raise


def _rows_with_person(session: Session, con: DuckDBBackend, reg: Registry, spec: Spec) -> ir.Table:
    subs = [s.id for s in in_force(session, spec.name)]
    rows = in_force_rows(con, spec, subs)
    if spec.name == "ndtms-review":
        episodes = [s.id for s in in_force(session, "ndtms-episode")]
        return reviews_with_person(con, reg, rows, episodes)
    return reg.rows_with_person(rows, spec.name)


def _materialise(con: DuckDBBackend, expr: ir.Table, final: str) -> str:
    tmp = f"_building_{final}"
    sql = ibis.to_sql(expr, dialect="duckdb")
    con.raw_sql(f'CREATE OR REPLACE TABLE "{tmp}" AS {sql}')
    return tmp


def _tokens(con: DuckDBBackend, profiles: ir.Table, master: MasterKey, run: int) -> str:
    """Each person's NHS-number token: a keyed hash that joins health and care records inside
    the haven without carrying the number itself (PSE-3, IDN-4)."""
    have = profiles.filter(profiles.nhs.notnull()).select("person_id", "nhs").distinct()
    arrow = have.to_pyarrow()
    tokens = pa.table(
        {
            "person_id": arrow["person_id"],
            "nhs_token": hmac_hex(arrow["nhs"], nhs_token_key(master)),
        }
    )
    tmp = f"_building_{tokens_table(run)}"
    con.raw_sql(f'DROP TABLE IF EXISTS "{tmp}"')
    con.con.register("_tokens_arrow", tokens)
    try:
        con.raw_sql(f'CREATE TABLE "{tmp}" AS SELECT DISTINCT * FROM _tokens_arrow')  # noqa: S608
    finally:
        con.con.unregister("_tokens_arrow")
    return tmp


def nhs_tokens(numbers: pa.Array, master: MasterKey) -> pa.Array:
    """Tokens for standardised NHS numbers from outside the haven, to join on the same key."""
    return hmac_hex(numbers, nhs_token_key(master))
