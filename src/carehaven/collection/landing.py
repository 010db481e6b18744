"""The landing zone: raw submitted bytes, encrypted at rest with AES-256-GCM.

Each file is sealed with a key derived from the haven master key for this purpose only, and the
submission id as associated data, so a landed file cannot be passed off as another submission's.
"""

from __future__ import annotations

import hashlib
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


#: What reading a landed file back can find wrong with it (item 15 of issue 12).
MISSING, UNREADABLE, TAG, DIGEST = "missing", "unreadable", "tag", "digest"
_TAG_BYTES = 16
_CHUNK = 1 << 20


def check_landed(landing: Path, key: MasterKey, submission_id: str, sha256: str) -> str | None:
    """Read a landed file back: decrypt it (checking the AES-GCM tag) and compare the sha256 of
    the plaintext with ``sha256``. None when intact, else MISSING, UNREADABLE, TAG or DIGEST.

    Streamed a megabyte at a time, so a file of any size needs little memory; the plaintext is
    only hashed, and is discarded whether or not the tag then verifies.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    path = landed_path(landing, submission_id)
    header = len(MAGIC) + 12
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return MISSING
    except OSError:
        return UNREADABLE
    with fh:
        try:
            total = os.fstat(fh.fileno()).st_size
            head = fh.read(header)
            if total < header + _TAG_BYTES or not head.startswith(MAGIC):
                return UNREADABLE
            fh.seek(total - _TAG_BYTES)
            tag = fh.read(_TAG_BYTES)
            fh.seek(header)
            decryptor = Cipher(
                algorithms.AES(key.derive(PURPOSE)), modes.GCM(head[len(MAGIC) :], tag)
            ).decryptor()
            decryptor.authenticate_additional_data(submission_id.encode())
            digest = hashlib.sha256()
            remaining = total - header - _TAG_BYTES
            while remaining:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    return UNREADABLE
                remaining -= len(chunk)
                digest.update(decryptor.update(chunk))
            digest.update(decryptor.finalize())
        except InvalidTag:
            return TAG
        except OSError:
            return UNREADABLE
    return None if digest.hexdigest() == sha256 else DIGEST
