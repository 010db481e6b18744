"""The landing zone: raw submitted bytes, encrypted at rest with AES-256-GCM.

Each file is sealed with a key derived from the haven master key for this purpose only, and the
submission id as associated data, so a landed file cannot be passed off as another submission's.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carehaven.errors import CarehavenError
from carehaven.haven.keys import MasterKey

MAGIC = b"CHLZ1"
PURPOSE = "landing/v1"


def landed_path(landing: Path, submission_id: str) -> Path:
    return landing / f"{submission_id}.bin"


def land(landing: Path, tmp: Path, key: MasterKey, submission_id: str, data: bytes) -> Path:
    """Encrypt and store ``data``; written to a temporary name, synced, then renamed."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key.derive(PURPOSE)).encrypt(nonce, data, submission_id.encode())
    target = landed_path(landing, submission_id)
    part = tmp / f"{submission_id}.landing.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(MAGIC + nonce)
        fh.write(sealed)
        fh.flush()
        os.fsync(fh.fileno())
    part.replace(target)
    return target


def read_landed(landing: Path, key: MasterKey, submission_id: str) -> bytes:
    """The original bytes of a landed submission; fails loudly if they were tampered with."""
    from cryptography.exceptions import InvalidTag

    raw = landed_path(landing, submission_id).read_bytes()
    if not raw.startswith(MAGIC):
        raise CarehavenError(f"The landed file of submission {submission_id} is not readable.")
    nonce, sealed = raw[len(MAGIC) : len(MAGIC) + 12], raw[len(MAGIC) + 12 :]
    try:
        return AESGCM(key.derive(PURPOSE)).decrypt(nonce, sealed, submission_id.encode())
    except InvalidTag:
        raise CarehavenError(
            f"The landed file of submission {submission_id} fails its integrity check."
        ) from None
