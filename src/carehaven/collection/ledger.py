"""The control plane's record of submissions, in plain SQL (control.rows).

A ``submit`` reads and writes only these rows and the audit chain; doing it without SQLAlchemy's
ORM keeps a 1,000-row submit under 1.5 s as a process (issue 13 item 8, ADR 0014). The ORM
models (control/models.py) and the migrations stay the tables' definition; the statements here
write what the ORM would (timestamps as ``Rows.stamp``, JSON as text), and the same rows are
read back through the ORM by every other command.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Protocol

from carehaven.audit.chain import append
from carehaven.audit.events import SpecRegistered, SubmissionSuperseded
from carehaven.consent.notices import NoticeVersion
from carehaven.control.kinds import SubmissionStatus
from carehaven.control.rows import Row, Tx, parse_stamp
from carehaven.specs import Spec


class Query(Protocol):
    """What reads need: ``Rows`` (a statement of its own) or ``Tx`` (inside a transaction)."""

    def fetch(self, sql: str, params: dict[str, object] | None = None) -> list[Row]: ...


@dataclass(frozen=True)
class SubmissionRow:
    id: str
    org_code: str
    dataset: str
    period: str
    status: str
    received_at: datetime  # aware, UTC
    sha256: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    superseded_by: str | None

    @property
    def in_force(self) -> bool:
        return self.status == SubmissionStatus.ACCEPTED.value and self.superseded_by is None


_COLUMNS = (
    "id, org_code, dataset, period, status, received_at, sha256, rows_total, rows_accepted, "
    "rows_rejected, findings, superseded_by"
)


def _submission(r: Row) -> SubmissionRow:
    received = parse_stamp(r[5])
    assert received is not None  # the column is NOT NULL
    return SubmissionRow(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), received, str(r[6]),
        int(r[7]), int(r[8]), int(r[9]), int(r[10]), None if r[11] is None else str(r[11]),
    )


def submission(q: Query, submission_id: str) -> SubmissionRow | None:
    found = q.fetch(f"SELECT {_COLUMNS} FROM submissions WHERE id = :id",  # noqa: S608
                    {"id": submission_id})
    return _submission(found[0]) if found else None


def slot(q: Query, org: str, dataset: str, period: str) -> list[SubmissionRow]:
    """Every submission for one organisation, dataset and period, newest first."""
    found = q.fetch(
        f"SELECT {_COLUMNS} FROM submissions WHERE org_code = :org AND dataset = :dataset "  # noqa: S608
        "AND period = :period ORDER BY received_at DESC",
        {"org": org, "dataset": dataset, "period": period},
    )
    return [_submission(r) for r in found]


def in_force(q: Query, org: str, dataset: str) -> list[SubmissionRow]:
    """The submissions in force for one organisation and dataset, every period."""
    found = q.fetch(
        f"SELECT {_COLUMNS} FROM submissions WHERE org_code = :org AND dataset = :dataset "  # noqa: S608
        "AND status = :accepted AND superseded_by IS NULL ORDER BY period",
        {"org": org, "dataset": dataset, "accepted": SubmissionStatus.ACCEPTED.value},
    )
    return [_submission(r) for r in found]


def in_force_for(q: Query, org: str, dataset: str, period: str) -> SubmissionRow | None:
    """The submission in force for one organisation, dataset and period, if any."""
    return next((s for s in in_force(q, org, dataset) if s.period == period), None)


def notices(q: Query) -> list[NoticeVersion]:
    """Every published notice version (CON-3)."""
    found = q.fetch(
        "SELECT notice, version, published_on, change_note, date_stated FROM notice_versions"
    )
    return [
        NoticeVersion(
            notice=str(n), version=str(v), published_on=_date(p), change_note=str(c),
            date_stated=bool(d),
        )
        for n, v, p, c, d in found
    ]


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class NewSubmission:
    """A submission's control-plane row, as ``submit`` records it."""

    id: str
    org_code: str
    dataset: str
    spec_version: str
    period: str
    file_name: str
    sha256: str
    size_bytes: int
    received_at: datetime
    status: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    message: str
    summary: dict[str, Any]
    landing_key_id: str


def insert(tx: Tx, row: NewSubmission) -> None:
    values = {**asdict(row), "received_at": tx.stamp(row.received_at),
              "summary": json.dumps(row.summary)}
    names = list(values)
    placeholders = [tx.json(n) if n == "summary" else f":{n}" for n in names]
    tx.run(
        f"INSERT INTO submissions ({', '.join(names)}) VALUES ({', '.join(placeholders)})",  # noqa: S608
        values,
    )


def register_spec(tx: Tx, spec: Spec, when: datetime, *, actor: str) -> None:
    """Keep the spec version a submission used, once (so old reports stay readable)."""
    known = tx.fetch("SELECT 1 FROM dataset_specs WHERE name = :name AND version = :version",
                     {"name": spec.name, "version": spec.version})
    if known:
        return
    descriptor = spec.descriptor()
    sha = hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest()
    values = f"(:name, :version, :sha, {tx.json('descriptor')}, :at)"
    tx.run(
        f"INSERT INTO dataset_specs (name, version, sha256, descriptor, registered_at) VALUES {values}",  # noqa: S608, E501
        {"name": spec.name, "version": spec.version, "sha": sha,
         "descriptor": json.dumps(descriptor), "at": tx.stamp(when)},
    )
    append(tx, SpecRegistered(name=spec.name, version=spec.version, sha256=sha), actor=actor)


def retire(tx: Tx, previous: SubmissionRow, by: str, *, actor: str) -> str:
    """Take ``previous`` out of force in favour of submission ``by``, audited (the one way a
    submission is superseded: by a new return, or by confirming a held one)."""
    tx.run("UPDATE submissions SET superseded_by = :by WHERE id = :id",
           {"by": by, "id": previous.id})
    append(
        tx,
        SubmissionSuperseded(
            submission_id=previous.id, superseded_by=by, rows_retired=previous.rows_accepted
        ),
        actor=actor,
    )
    return previous.id


def set_status(tx: Tx, submission_id: str, status: SubmissionStatus) -> None:
    tx.run("UPDATE submissions SET status = :status WHERE id = :id",
           {"status": status.value, "id": submission_id})


__all__ = [
    "NewSubmission", "SubmissionRow", "in_force", "in_force_for", "insert", "notices",
    "register_spec", "retire", "set_status", "slot", "submission",
]
