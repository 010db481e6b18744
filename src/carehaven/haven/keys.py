"""The haven master key and the keys derived from it.

The master key comes from ``CAREHAVEN_MASTER_KEY`` (production: put there by a key service) or
from the haven's key file, which init creates readable by its owner only. Every purpose gets its
own key through HKDF-SHA256, so a key never serves two purposes; only key *ids* are ever recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from carehaven.errors import ConfigurationError

KEY_BYTES = 32


@dataclass(frozen=True)
class MasterKey:
    material: bytes

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(id={self.key_id})"

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key, safe to record."""
        return "mk-" + hashlib.sha256(b"carehaven key id\x00" + self.material).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose, e.g. ``landing/v1``."""
        # Here, not above: opening a haven checks only the key's id (cryptography is ~70 ms).
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=b"carehaven/" + purpose.encode(),
        )
        return hkdf.derive(self.material)


def create_key_file(path: Path) -> MasterKey:
    """Write a new random master key, owner-only; refuses to overwrite an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    material = secrets.token_bytes(KEY_BYTES)
    key = MasterKey(material)
    body = json.dumps({"key_id": key.key_id, "master": base64.b64encode(material).decode()})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
    return key


def load_master_key(path: Path, from_env: str | None) -> MasterKey:
    """The master key from the environment value if given, else from the key file."""
    if from_env is not None:
        return MasterKey(_decode(from_env, "CAREHAVEN_MASTER_KEY"))
    try:
        mode = path.stat().st_mode & 0o777
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"The haven's key file {path} is missing.") from None
    except (OSError, ValueError):
        raise ConfigurationError(f"The haven's key file {path} cannot be read.") from None
    if mode & 0o077:
        raise ConfigurationError(
            f"The haven's key file {path} is readable by others (mode {mode:o}); "
            "run: chmod 600 on it."
        )
    return MasterKey(_decode(str(raw.get("master", "")), str(path)))


def _decode(value: str, where: str) -> bytes:
    try:
        material = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        material = b""
    if len(material) != KEY_BYTES:
        raise ConfigurationError(f"{where} does not hold a base64 32-byte key.")
    return material
