"""What the CLI's ``submissions`` and ``report`` commands do today, as functions the portal
calls, until the lead's ``collection.listing`` / ``report.readable`` land (issue 14 part 0);
then each is replaced by that function and this module goes. The queries and the access rules
are the CLI's own, unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic

from carehaven.access.permissions import Permission
from carehaven.access.users import Actor, require, require_visible
from carehaven.errors import NotFoundError
from carehaven.haven import Haven


class RowsPublic(pydantic.BaseModel):
    total: int
    accepted: int
    rejected: int


class SubmissionPublic(pydantic.BaseModel):
    submission_id: str
    org: str
    dataset: str
    period: str
    status: str
    rows: RowsPublic
    findings: int
    superseded_by: str | None
    received_at: datetime
    sha256: str


_COLUMNS = ("SELECT id, org_code, dataset, period, status, rows_total, rows_accepted, "
            "rows_rejected, findings, superseded_by, received_at, sha256 FROM submissions")


def _public(row: Any) -> SubmissionPublic:
    from carehaven.control.rows import as_datetime

    (sid, org, dataset, period, status, total, accepted, rejected, findings, superseded,
     received, sha) = row
    when = as_datetime(received)
    return SubmissionPublic(
        submission_id=sid, org=org, dataset=dataset, period=period, status=status,
        rows=RowsPublic(total=total or 0, accepted=accepted or 0, rejected=rejected or 0),
        findings=findings or 0, superseded_by=superseded,
        received_at=when if when.tzinfo else when.replace(tzinfo=UTC), sha256=sha)


def submissions(haven: Haven, actor: Actor, *, org: str | None = None) -> list[SubmissionPublic]:
    """The submissions ``actor`` may read, newest first (``carehaven submissions``)."""
    from carehaven.control.rows import in_list

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
    found = haven.rows.fetch(_COLUMNS + (" WHERE " + " AND ".join(where) if where else "")
                             + " ORDER BY received_at DESC", params)
    return [_public(r) for r in found]


def submission(haven: Haven, actor: Actor, submission_id: str) -> SubmissionPublic:
    """One submission; another organisation's reads as one that does not exist (404)."""
    row = haven.rows.first(_COLUMNS + " WHERE id = :id", {"id": submission_id})
    require(haven, actor, Permission.READ_SUBMISSIONS, row[1] if row else None,
            message=f"There is no submission {submission_id} that you may read.")
    if row is None:
        raise NotFoundError(f"There is no submission {submission_id} in this haven.")
    return _public(row)


def readable(haven: Haven, actor: Actor, submission_id: str) -> tuple[dict[str, Any], Any]:
    """A submission's validation report (summary, findings), as ``carehaven report`` loads
    it."""
    from carehaven.collection import report as reports

    submission(haven, actor, submission_id)
    folder = haven.paths.reports / submission_id
    if "/" in submission_id or not (folder / reports.SUMMARY_FILE).is_file():
        raise NotFoundError(f"There is no report of submission {submission_id}.")
    return reports.load(folder)
