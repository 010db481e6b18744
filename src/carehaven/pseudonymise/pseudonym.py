"""Pseudonyms: HMAC-SHA256 of person_id under a recipient's key (PSE-3).

The same recipient gets the same pseudonym for a person in every release made with one key
generation; two recipients' pseudonyms for a person are unrelated, so their extracts cannot be
joined. A pseudonym is the first 128 bits of the HMAC, in lower-case hex.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from carehaven.pseudonymise.kernel import hmac_hex
from carehaven.pseudonymise.keys import RecipientKey


def pseudonyms(person_ids: pa.Array | pa.ChunkedArray, key: RecipientKey) -> pa.Table:
    """``(person_id, pseudonym)`` for each person id given."""
    return pa.table({"person_id": person_ids, "pseudonym": hmac_hex(person_ids, key.material)})


def pseudonym_lookup(rows: ir.Table, key: RecipientKey) -> ir.Table:
    """A small table mapping each person in ``rows`` to their pseudonym under ``key``."""
    people = rows.select("person_id").distinct().to_pyarrow()["person_id"]
    return ibis.memtable(pseudonyms(people, key))
