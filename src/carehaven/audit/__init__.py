"""The append-only, hash-chained audit log (ARCHITECTURE "Every change ... is audited").

Entries are typed events (events.py) whose fields can only hold codes, ids and counts, so an
identifier value has no field to travel in. ``record`` appends in the caller's ORM
transaction, ``append`` in a plain-SQL one (control.rows); ``verify`` walks the chain and names
the first entry that does not fit.

The names below are loaded when first used (PEP 562): importing ``carehaven.audit.events``
must not pull in SQLAlchemy and the signing library, which only appending and verifying need
(issue 13 item 8).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carehaven.audit.chain import append, record
    from carehaven.audit.entry import GENESIS, canonical, entry_hash
    from carehaven.audit.events import AuditEvent
    from carehaven.audit.verification import VerifyResult, verify

_WHERE = {
    "GENESIS": "entry", "canonical": "entry", "entry_hash": "entry", "record": "chain",
    "append": "chain",
    "AuditEvent": "events", "VerifyResult": "verification", "verify": "verification",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"carehaven.audit.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'carehaven.audit' has no attribute {name!r}")


__all__ = [
    "GENESIS", "AuditEvent", "VerifyResult", "append", "canonical", "entry_hash", "record",
    "verify",
]
