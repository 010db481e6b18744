"""Small builders shared by tests: valid rows for a spec, and CSV bytes from rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

EPISODE = {
    "provider_code": "P001", "client_ref": "C1", "episode_id": "E1", "consent_ndtms": "Y",
    "initials": "AB", "date_of_birth": "1980-05-01", "sex": "1", "postcode_district": "B12",
    "la_of_residence": "E08000025", "referral_source": "SELF", "referral_date": "2025-04-02",
    "treatment_start_date": "2025-04-10", "substance_1": "HER", "treatment_modality": "PHARM",
}


def episode(**changes: str) -> dict[str, str]:
    """A valid ndtms-episode row for P001 in 2025Q2, with ``changes`` applied."""
    row = dict(EPISODE)
    row.update(changes)
    return row


def declared_header(keys: Sequence[str]) -> list[str]:
    """Every column of the one spec that declares all of ``keys``: a return carries each column
    its spec declares, even an empty one (issue 13 item 1); else ``keys`` as they are."""
    from carehaven.specs.registry import available, load_spec

    fits = [s for s in map(load_spec, available()) if set(keys) <= set(s.field_names)]
    return list(fits[0].field_names) if len(fits) == 1 else list(keys)


def csv_bytes(rows: Sequence[Mapping[str, str]], header: Sequence[str] | None = None) -> bytes:
    """The rows as CSV, under ``header``, or by default every column of the rows' spec."""
    cols = list(header) if header is not None else declared_header(list(rows[0]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([row.get(c, "") for c in cols])
    return out.getvalue().encode()


def episodes_file(n: int, **changes: str) -> bytes:
    return csv_bytes([episode(client_ref=f"C{i}", episode_id=f"E{i}", **changes)
                      for i in range(n)])
