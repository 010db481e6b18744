"""What has been written, and which artefacts hold a person (rights requests, withdrawal).

Both read the artefact writer's records: ``artefacts`` for what was written and
``artefact_people`` for who is in it. That lineage is the only one kept, so a preview, a
release, a publication's people or a provider's feedback are all found the same way, before and
after a ``keys rotate``, whether or not their files still exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from carehaven.control.models import Artefact, Extract, Publication, Release
from carehaven.governance.artefact import artefacts_holding, finish_pending, verify_files
from carehaven.haven import Haven


def _subjects(session: Any) -> dict[int, str]:
    """The domain label each artefact was made for (X-, R-, T-), by artefact id."""
    out: dict[int, str] = {}
    for model in (Extract, Publication, Release):
        rows = session.execute(select(model.artefact_id, model.id).where(
            model.artefact_id.is_not(None)))
        prefix = {Extract: "X", Publication: "T", Release: "R"}[model]
        for artefact_id, own in rows:
            # A release's extract and the release share one artefact: the release names it.
            if prefix == "X" and artefact_id in out:
                continue
            out[int(artefact_id)] = f"{prefix}-{own}"
    return out


def _json(row: Artefact, subject: str | None) -> dict[str, Any]:
    return {
        "id": row.label,
        "kind": row.kind,
        "for": subject,
        "tier": row.tier,
        "recipient": row.recipient,
        "rows": row.rows,
        "people": row.people,
        "directory": row.directory,
        "files": [str(f["name"]) for f in row.files],
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "created_by": row.created_by,
    }


def list_artefacts(haven: Haven, *, check: bool = False) -> list[dict[str, Any]]:
    """Every artefact written, oldest first; ``check`` also re-hashes each file. A rename that
    a crash interrupted after its artefact was recorded is finished first."""
    with haven.writer():
        finish_pending(haven)
    with haven.sessions() as session:
        rows = list(session.scalars(select(Artefact).order_by(Artefact.id)))
        subjects = _subjects(session)
    out = []
    for r in rows:
        entry = _json(r, subjects.get(r.id))
        if check:
            entry["problems"] = verify_files(r)
        out.append(entry)
    return out


def find_person(haven: Haven, person_id: str) -> list[dict[str, Any]]:
    """Every artefact whose files hold rows about ``person_id``, from the lineage."""
    with haven.sessions() as session:
        found = artefacts_holding(session, [person_id])[person_id]
        subjects = _subjects(session)
    return [_json(a, subjects.get(a.id)) for a in found]
