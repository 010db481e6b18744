"""Finding a person in extracts already written, across key rotations (rights requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select

from carehaven.control.models import Extract
from carehaven.haven import Haven
from carehaven.pseudonymise.keys import generation, recipient_key
from carehaven.pseudonymise.manifest import find_manifest
from carehaven.pseudonymise.pseudonym import pseudonyms


def list_extracts(haven: Haven) -> list[dict[str, Any]]:
    with haven.sessions() as session:
        rows = list(session.scalars(select(Extract).order_by(Extract.id)))
    return [
        {
            "id": r.label,
            "dataset": r.dataset,
            "tier": r.tier,
            "recipient": r.recipient,
            "key_id": r.key_id,
            "key_generation": r.key_generation,
            "rows": r.rows,
            "directory": r.directory,
            "created_at": r.created_at.isoformat(timespec="seconds"),
        }
        for r in rows
    ]


def find_person(haven: Haven, person_id: str) -> list[dict[str, Any]]:
    """Each pseudonymised extract whose file holds rows about ``person_id``, with the count.

    The person's pseudonym is recomputed under the key generation the extract recorded, so
    extracts written before a ``keys rotate`` are found too. Anonymised extracts hold no
    pseudonym and cannot be searched (that is what anonymised means); an extract whose file has
    been moved or changed is reported as such.
    """
    master = haven.master_key
    found: list[dict[str, Any]] = []
    with haven.sessions() as session:
        extracts = list(
            session.scalars(
                select(Extract).where(Extract.key_generation.is_not(None)).order_by(Extract.id)
            )
        )
        for x in extracts:
            key = recipient_key(
                master, x.recipient or "", generation(session, x.key_generation or 0)
            )
            mine = pseudonyms(pa.array([person_id]), key)["pseudonym"][0].as_py()
            path = Path(x.directory) / f"{x.dataset}.parquet"
            entry = {
                "id": x.label,
                "dataset": x.dataset,
                "tier": x.tier,
                "recipient": x.recipient,
                "key_id": x.key_id,
            }
            if find_manifest(path) is None:
                found.append(entry | {"rows": None, "note": "file moved or changed"})
                continue
            col = pq.read_table(path, columns=["pseudonym"])["pseudonym"]
            n = int(pc.sum(pc.equal(col, mine)).as_py() or 0)
            if n:
                found.append(entry | {"rows": n})
    return found
