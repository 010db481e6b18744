"""Pseudonym keys: one per recipient and key generation, derived from the haven master key.

A recipient's key is HKDF(master, "pseudonym/<recipient>/g<n>/<nonce>"): two recipients' keys
are unrelated, the same recipient keeps its key (and so its pseudonyms) until ``keys rotate``
starts a new generation, and every earlier generation can still be derived from the master key
and the nonce the control plane keeps, so a person can be found in a release written before a
rotation (a rights request about an earlier release). Only key ids are recorded.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import KeysRotated
from carehaven.control.models import KeyGeneration
from carehaven.errors import UsageError
from carehaven.haven import Haven
from carehaven.haven.keys import MasterKey

#: Recipient codes name a key, so they are kept to a plain, unambiguous alphabet.
RECIPIENT = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
#: The haven-internal token of NHS numbers joins health and care records (PSE-3, IDN-4). It is
#: never rotated: tokens stored in the personal tier must keep joining.
NHS_TOKEN_PURPOSE = "token/nhs-number/v1"  # noqa: S105 (an HKDF label, not a secret)


@dataclass(frozen=True)
class RecipientKey:
    recipient: str
    generation: int
    material: bytes

    def __repr__(self) -> str:  # never print key material
        return f"RecipientKey({self.recipient}, g{self.generation}, {self.key_id})"

    @property
    def key_id(self) -> str:
        return key_id(self.material, "pk")


def key_id(material: bytes, prefix: str) -> str:
    """A public fingerprint of derived key material, safe to record in manifests and the log."""
    return f"{prefix}-" + hashlib.sha256(b"carehaven key id\x00" + material).hexdigest()[:16]


def check_recipient(code: str) -> str:
    if not RECIPIENT.match(code):
        raise UsageError(
            f"Recipient code {code!r} is not valid: use capital letters, digits, '-' or '_' "
            "(at most 40 characters, starting with a letter or digit)."
        )
    return code


def current_generation(session: Session, master: MasterKey, *, actor: str) -> KeyGeneration:
    """The generation in force; the first use of pseudonyms creates generation 1."""
    latest = session.scalar(select(KeyGeneration).order_by(KeyGeneration.id.desc()).limit(1))
    if latest is not None:
        return latest
    return _new_generation(session, master, 1, actor=actor)


def generation(session: Session, number: int) -> KeyGeneration:
    found = session.get(KeyGeneration, number)
    if found is None:
        raise UsageError(f"There is no key generation {number}.")
    return found


def recipient_key(master: MasterKey, recipient: str, gen: KeyGeneration) -> RecipientKey:
    info = f"pseudonym/{check_recipient(recipient)}/g{gen.id}/{gen.nonce}"
    return RecipientKey(recipient, gen.id, master.derive(info))


def nhs_token_key(master: MasterKey) -> bytes:
    return master.derive(NHS_TOKEN_PURPOSE)


def rotate(haven: Haven, *, actor: str) -> KeyGeneration:
    """Start a new key generation; later extracts use it, earlier ones keep their recorded one."""
    master = haven.master_key
    with haven.transaction() as session:
        top = session.scalar(select(func.max(KeyGeneration.id))) or 0
        if top == 0:
            _new_generation(session, master, 1, actor=actor)
            top = 1
        gen = _new_generation(session, master, top + 1, actor=actor)
        record(session, KeysRotated(gen.id, top, master.key_id), actor=actor)
        session.flush()
        session.expunge(gen)
    return gen


def _new_generation(
    session: Session, master: MasterKey, number: int, *, actor: str
) -> KeyGeneration:
    gen = KeyGeneration(
        id=number,
        nonce=secrets.token_hex(16),
        master_key_id=master.key_id,
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(gen)
    session.flush()
    return gen
