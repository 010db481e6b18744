"""Which submissions a person may see, and one of them (issue 14 part 0).

The command line's ``submissions`` and ``report`` and the web portal's pages ask these, so
scoping is the same at every door: a reader of some organisations sees only theirs, and hears
the same about another organisation's submission as about one that does not exist (the web
answers 404). Plain SQL (``haven.rows``), so a listing starts without SQLAlchemy (ADR 0015).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from carehaven.access.permissions import Permission
from carehaven.control.rows import in_list, parse_stamp
from carehaven.errors import NotFoundError

if TYPE_CHECKING:
    from carehaven.access.users import Actor
    from carehaven.haven import Haven

_COLUMNS = ("id, org_code, dataset, period, status, rows_total, rows_accepted, rows_rejected, "
            "findings, superseded_by, received_at, sha256, file_name, message")


@dataclass(frozen=True)
class SubmissionView:
    """A submission as its readers see it: counts and status, never a row of the file."""

    submission_id: str
    org: str
    dataset: str
    period: str
    status: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    superseded_by: str | None
    received_at: datetime
    sha256: str
    file_name: str
    message: str


def _view(row: tuple[object, ...]) -> SubmissionView:
    (sid, org, dataset, period, status, total, accepted, rejected, findings, superseded_by,
     received, sha256, file_name, message) = row
    when = parse_stamp(received)
    assert when is not None  # a NOT NULL column
    return SubmissionView(
        str(sid), str(org), str(dataset), str(period), str(status), int(str(total)),
        int(str(accepted)), int(str(rejected)), int(str(findings)),
        None if superseded_by is None else str(superseded_by), when, str(sha256),
        str(file_name), str(message),
    )


def submissions(
    haven: Haven,
    actor: Actor,
    *,
    org: str | None = None,
    dataset: str | None = None,
    period: str | None = None,
    limit: int | None = None,
) -> list[SubmissionView]:
    """The submissions ``actor`` may read, newest first; refused (AccessDenied, audited) when
    they may read none, or name an organisation they may not read."""
    from carehaven.access.users import require, require_visible

    where: list[str] = []
    params: dict[str, object] = {}
    if org:
        require(haven, actor, Permission.READ_SUBMISSIONS, org)
        where.append("org_code = :org")
        params["org"] = org
    else:
        visible = require_visible(haven, actor, Permission.READ_SUBMISSIONS)
        if visible is not None:
            among, chosen = in_list("org", sorted(visible))
            where.append(f"org_code IN {among}")
            params.update(chosen)
    if dataset:
        where.append("dataset = :dataset")
        params["dataset"] = dataset
    if period:
        where.append("period = :period")
        params["period"] = period
    sql = (f"SELECT {_COLUMNS} FROM submissions"  # noqa: S608 (fixed text; values are bound)
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY received_at DESC, id")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_view(r) for r in haven.rows.fetch(sql, params)]


def submission(
    haven: Haven,
    actor: Actor,
    submission_id: str,
    *,
    permission: Permission = Permission.READ_SUBMISSIONS,
    doing: str = "read",
) -> SubmissionView:
    """One submission ``actor`` holds ``permission`` for. Another organisation's reads as
    missing: AccessDenied (audited, exit 13) with a not-found sentence that conceals (404)."""
    from carehaven.access.users import require

    found = haven.rows.first(f"SELECT {_COLUMNS} FROM submissions WHERE id = :id",  # noqa: S608
                             {"id": submission_id})
    require(haven, actor, permission, None if found is None else str(found[1]),
            message=f"There is no submission {submission_id} that you may {doing}.")
    if found is None:
        raise NotFoundError(f"There is no submission {submission_id} in this haven.")
    return _view(found)
