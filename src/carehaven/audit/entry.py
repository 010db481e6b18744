"""One link of the hash chain: what its hash covers, computed the same by every appender."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from carehaven import clock
from carehaven.audit.events import AuditEvent

GENESIS = "0" * 64


def canonical(seq: int, at: str, actor: str, action: str, subject: str, details: str) -> bytes:
    """The bytes an entry's hash covers (besides the previous hash)."""
    return json.dumps(
        [seq, at, actor, action, subject, details], ensure_ascii=False, separators=(",", ":")
    ).encode()


def entry_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True)
class Link:
    """The entry that follows the head ``(seq - 1, prev_hash)``."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: str
    prev_hash: str
    hash: str


def next_link(head_seq: int, head_hash: str, event: AuditEvent, *, actor: str) -> Link:
    seq = head_seq + 1
    at = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    details = json.dumps(event.details(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = entry_hash(head_hash, canonical(seq, at, actor, event.action, event.subject, details))
    return Link(seq, at, actor, event.action, event.subject, details, head_hash, digest)


__all__ = ["GENESIS", "Link", "canonical", "entry_hash", "next_link"]
