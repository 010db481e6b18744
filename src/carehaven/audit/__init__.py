"""The append-only, hash-chained audit log (ARCHITECTURE "Every change ... is audited").

Entries are typed events (events.py) whose fields can only hold codes, ids and counts, so an
identifier value has no field to travel in. ``record`` appends in the caller's transaction;
``verify`` walks the chain and names the first entry that does not fit.
"""

from carehaven.audit.chain import GENESIS, canonical, entry_hash, record
from carehaven.audit.events import AuditEvent
from carehaven.audit.verify import VerifyResult, verify

__all__ = ["GENESIS", "AuditEvent", "VerifyResult", "canonical", "entry_hash", "record", "verify"]
