"""Reading the registry in force: which person each accepted row belongs to."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlalchemy.orm import Session

from carehaven.errors import CarehavenError, ExitCode
from carehaven.identity.link import current_run, table_name


class NotLinkedError(CarehavenError):
    exit_code = ExitCode.NOT_FOUND


@dataclass(frozen=True)
class Registry:
    run: int
    records: ir.Table  # dataset, _submission_id, _row, profile_id
    profiles: ir.Table  # profile_id, person_id, source, org, local_ref, linkable, ...

    def rows_with_person(self, rows: ir.Table, dataset: str) -> ir.Table:
        """``rows`` (a dataset's in-force rows) with ``person_id``; rows not yet linked drop out."""
        rec = self.records.filter(self.records.dataset == dataset)
        joined = rows.join(rec, ["_submission_id", "_row"])
        prof = self.profiles.select("profile_id", "person_id", "linkable")
        return joined.join(prof, "profile_id")


def registry(session: Session, con: DuckDBBackend) -> Registry:
    run = current_run(session)
    if run is None:
        raise NotLinkedError("Nothing has been linked yet; run 'carehaven link' first.")
    return Registry(
        run,
        con.table(table_name("identity_records", run)),
        con.table(table_name("identity_profiles", run)),
    )


def submissions_table(rows: list[tuple[str, str, str]]) -> ir.Table:
    """A small in-memory table of (submission id, organisation, period)."""
    return ibis.memtable(
        {
            "_submission_id": [r[0] for r in rows],
            "_org": [r[1] for r in rows],
            "_period": [r[2] for r in rows],
        },
        schema={"_submission_id": "string", "_org": "string", "_period": "string"},
    )
