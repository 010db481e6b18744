"""The Ed25519 key that signs audit checkpoints, kept apart from the control database.

The private key is a PEM (PKCS#8) file, owner-only: by default ``keys/audit-signing.key`` in the
haven (``init`` creates it), in production a path outside the haven (CAREHAVEN_AUDIT_KEY), so
that neither an intruder in the control database nor the data team's role can sign. Only key
*ids* (fingerprints of the public key) and public keys are ever recorded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carehaven.audit.limits import KEY_LIMIT, NotRegularFileError, TooLargeError, read_bounded
from carehaven.errors import ConfigurationError, UsageError

if TYPE_CHECKING:
    from carehaven.haven import Haven


def key_path(haven: Haven) -> Path:
    """Where this haven's signing key is: CAREHAVEN_AUDIT_KEY, else the default in the haven."""
    return haven.settings.audit_key or haven.paths.audit_key


def key_id(public: Ed25519PublicKey) -> str:
    """A public fingerprint of the signing key, safe to record and to print."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ak-" + hashlib.sha256(b"carehaven audit key id\x00" + raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def create_key_file(path: Path) -> Ed25519PublicKey:
    """Write a new signing key, owner-only; refuses to overwrite an existing file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    body = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    return private.public_key()


def load_private(path: Path) -> Ed25519PrivateKey:
    """The signing key from its file; refuses a file that others can read."""
    try:
        mode = path.stat().st_mode & 0o777
        raw = read_bounded(path, KEY_LIMIT)
    except FileNotFoundError:
        raise ConfigurationError(
            f"The audit signing key {path} is missing. CAREHAVEN_AUDIT_KEY names its file "
            "(init creates the default one; 'openssl genpkey -algorithm ed25519' makes one)."
        ) from None
    except (NotRegularFileError, TooLargeError):
        raise ConfigurationError(
            f"The audit signing key {path} is not a PEM key file (not a regular file, or "
            "larger than any key)."
        ) from None
    except OSError:
        raise ConfigurationError(f"The audit signing key {path} cannot be read.") from None
    if mode & 0o077:
        raise ConfigurationError(
            f"The audit signing key {path} is readable by others (mode {mode:o}); "
            "run: chmod 600 on it."
        )
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(
            f"The audit signing key {path} is not an unencrypted Ed25519 PEM private key."
        )
    return key


def parse_public(pem: str) -> Ed25519PublicKey | None:
    """An Ed25519 public key from PEM text, or None when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnicodeError):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def load_public_file(path: Path) -> Ed25519PublicKey:
    """The public key a witness pins (``--public-key``): a PEM file."""
    try:
        text = read_bounded(path, KEY_LIMIT).decode()
    except (NotRegularFileError, TooLargeError):
        raise UsageError(
            f"{path} is not a public key file: give the PEM file of the audit signing key "
            "(a regular file, well under 64 KiB)."
        ) from None
    except (OSError, UnicodeError):
        raise UsageError(f"There is no readable public key file at {path}.") from None
    key = parse_public(text)
    if key is None:
        raise UsageError(f"{path} does not hold an Ed25519 public key in PEM form.")
    return key


def same_key(a: Ed25519PublicKey, b: Ed25519PublicKey) -> bool:
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return a.public_bytes(*raw) == b.public_bytes(*raw)
