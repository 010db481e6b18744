"""Signed checkpoints of the audit log, and the witness document a copy of one is kept as.

A checkpoint states "the first ``size`` entries of this haven's audit log have the RFC 9162
Merkle root ``root``", signed with the haven's Ed25519 audit key (``audit.signing``). A witness
outside the haven keeps the document; ``audit verify --checkpoint`` later proves that the log
still holds exactly those entries and has only grown since (``audit.witness``).

The signature covers ``statement``: a few lines naming carehaven, the haven's master key id, the
size, the root, the time and the signing key's id, so that no field of a witness document can
be changed without the signature failing.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from carehaven import clock
from carehaven.audit.chain import record
from carehaven.audit.events import CheckpointSigned
from carehaven.audit.signing import key_id, key_path, load_private, parse_public, public_pem
from carehaven.audit.verification import verify
from carehaven.control.models import AuditCheckpoint, HavenMeta
from carehaven.errors import CarehavenError, ExitCode
from carehaven.haven import MASTER_KEY_ID

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from carehaven.haven import Haven

#: The witness document's format; a reader refuses any other.
FORMAT = "carehaven-audit-checkpoint/1"
#: haven_meta rows holding each signing key's public PEM, by key id (``audit_public_key:ak-..``),
#: so that a document can be built without the private key (the artefact writer does).
PUBLIC_KEY_META = "audit_public_key:"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_HAVEN_KEY_ID = re.compile(r"^mk-[0-9a-f]{16}$")
_KEY_ID = re.compile(r"^ak-[0-9a-f]{16}$")
_ROOT = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class AuditFailedError(CarehavenError):
    """The audit log, or a witness of it, does not verify (exit 7)."""

    exit_code = ExitCode.AUDIT_FAILED


def statement(*, haven_key_id: str, size: int, root: str, signed_at: str, key: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return (
        "carehaven audit checkpoint v1\n"
        f"haven {haven_key_id}\n"
        f"size {size}\n"
        f"root {root}\n"
        f"signed_at {signed_at}\n"
        f"key {key}\n"
    ).encode()


def sign(haven: Haven, *, actor: str, previous: Sequence[Path] = ()) -> AuditCheckpoint:
    """Sign the log as it is now and record the checkpoint (and its audit entry) in one
    transaction.

    A signature blesses the log, so it is refused (``AuditFailedError``) unless ``audit
    verify`` would pass: the chain verifies, the append-only triggers are in place, the log
    gives the root of every checkpoint the haven recorded, and it extends each witness file in
    ``previous`` (the signer's own copies, checked with the key on disk: the recorded ones can
    be deleted by whoever rewrote the log, a copy outside the haven cannot).
    """
    from carehaven.audit.witness import check_log  # witness builds on this module

    private = load_private(key_path(haven))
    public = private.public_key()
    walked = verify(haven.engine)
    if not walked.ok:
        raise AuditFailedError(
            f"The audit log does not verify, so no checkpoint was signed: {walked.reason}."
        )
    # Entries are only appended, so the first ``size`` stay what was verified even while
    # others are added; the checkpoint's own entry comes after them.
    size = walked.entries
    log = check_log(haven, previous, signer=public, size=size)
    problems = log.reasons()
    if problems:
        raise AuditFailedError(f"No checkpoint was signed: {problems[0]}.")
    root = log.root
    kid = key_id(public)
    with haven.transaction() as session:
        haven_key_id = _haven_key_id(session)
        signed_at = clock.now().strftime(TIME_FORMAT)
        body = statement(haven_key_id=haven_key_id, size=size, root=root, signed_at=signed_at,
                         key=kid)
        row = AuditCheckpoint(
            size=size,
            root=root,
            signed_at=signed_at,
            key_id=kid,
            signature=base64.b64encode(private.sign(body)).decode(),
            created_by=actor,
        )
        session.add(row)
        session.merge(HavenMeta(name=PUBLIC_KEY_META + kid, value=public_pem(public)))
        session.flush()
        record(
            session,
            CheckpointSigned(checkpoint=label(row), size=size, root=root, key_id=kid),
            actor=actor,
        )
    return row


def label(row: AuditCheckpoint) -> str:
    return f"C-{row.id}"


def latest(session: Session) -> AuditCheckpoint | None:
    """The newest recorded checkpoint, if any."""
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()


def document(
    row: AuditCheckpoint,
    public_key_pem: str | None = None,
    *,
    haven_key_id: str | None = None,
) -> dict[str, Any]:
    """The JSON a witness keeps. The public key and the haven's key id are read from the
    session ``row`` belongs to when not given (call it inside that session)."""
    if public_key_pem is None or haven_key_id is None:
        session = object_session(row)
        if session is None:
            raise ValueError("document() needs the public key and haven key id, or an attached row")
        if public_key_pem is None:
            stored = session.get(HavenMeta, PUBLIC_KEY_META + row.key_id)
            if stored is None:
                raise ValueError(f"no public key is recorded for {row.key_id}")
            public_key_pem = stored.value
        if haven_key_id is None:
            haven_key_id = _haven_key_id(session)
    public = parse_public(public_key_pem)
    if public is None or key_id(public) != row.key_id:
        raise ValueError(f"the public key given is not {row.key_id}")
    return {
        "format": FORMAT,
        "checkpoint": label(row),
        "haven_key_id": haven_key_id,
        "size": row.size,
        "root": row.root,
        "signed_at": row.signed_at,
        "key_id": row.key_id,
        "signature": row.signature,
        "public_key": public_key_pem,
        "signed": "Ed25519 over: carehaven audit checkpoint v1, haven, size, root, signed_at, "
        "key (one 'name value' line each)",
        "tree": "RFC 9162 SHA-256 Merkle tree; leaf i is the 32 bytes of audit entry i+1's "
        "chain hash",
    }


def witness(session: Session) -> dict[str, Any] | None:
    """The latest checkpoint as a witness document (what an artefact carries), or None."""
    row = latest(session)
    return None if row is None else document(row)


@dataclass(frozen=True)
class Witness:
    """A witness document, read and checked for form (not yet for its signature)."""

    haven_key_id: str
    size: int
    root: str
    signed_at: str
    key_id: str
    signature: bytes
    public_key: Ed25519PublicKey

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root)

    def statement(self) -> bytes:
        return statement(haven_key_id=self.haven_key_id, size=self.size, root=self.root,
                         signed_at=self.signed_at, key=self.key_id)

    def signed_by(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(self.signature, self.statement())
        except InvalidSignature:
            return False
        return True


def well_formed(*, size: object, root: object, signed_at: object, key: object) -> bool:
    """Whether a checkpoint's fields have the form ``sign`` gives them (a row or a document)."""
    return (isinstance(size, int) and not isinstance(size, bool) and size > 0
            and isinstance(root, str) and bool(_ROOT.fullmatch(root))
            and isinstance(signed_at, str) and bool(_TIME.fullmatch(signed_at))
            and isinstance(key, str) and bool(_KEY_ID.fullmatch(key)))


def parse(doc: object) -> Witness | None:
    """A witness document's fields, or None when any is missing or malformed."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    size = doc.get("size")
    texts = [doc.get(k) for k in ("haven_key_id", "root", "signed_at", "key_id", "signature",
                                  "public_key")]
    if not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
        return None
    if not all(isinstance(v, str) for v in texts):
        return None
    haven, root, signed_at, kid, sig, pem = (str(v) for v in texts)
    if not (_HAVEN_KEY_ID.fullmatch(haven)
            and well_formed(size=size, root=root, signed_at=signed_at, key=kid)):
        return None
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    public = parse_public(pem)
    if public is None or len(signature) != 64:
        return None
    return Witness(haven, size, root, signed_at, kid, signature, public)


def _haven_key_id(session: Session) -> str:
    row = session.get(HavenMeta, MASTER_KEY_ID)
    if row is None:
        raise AuditFailedError(
            "The control database records no master key id, so a checkpoint cannot name its "
            "haven; it is not this haven's database or it was altered."
        )
    return row.value
