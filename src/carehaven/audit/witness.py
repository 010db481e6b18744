"""Checking the audit log against witness documents, and proving single entries.

Someone who does not trust the control database keeps a signed checkpoint (``audit.checkpoint``)
outside the haven. Against it, the log must (1) still hold at least the witnessed number of
entries, (2) give the witnessed Merkle root over its first ``size`` entries, and (3) be an
append-only extension of that tree (an RFC 9162 consistency proof from the witnessed size to
today's, built here and verified). The document itself must be signed, for this haven, by the
key the witness pins (``--public-key``), or else by this haven's own audit signing key.

Every hash the checks need comes from one streamed pass over the log (``merkle.range_hashes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from carehaven.audit import merkle
from carehaven.audit.checkpoint import AuditFailedError, Witness, parse
from carehaven.audit.signing import key_id, key_path, load_private, same_key
from carehaven.control.models import AuditEntry, HavenMeta
from carehaven.errors import NotFoundError, UsageError
from carehaven.haven import MASTER_KEY_ID

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from carehaven.haven import Haven


@dataclass
class WitnessCheck:
    """What one witness document showed. ``reason`` is one sentence when ``ok`` is false."""

    file: str
    ok: bool = False
    size: int | None = None
    root: str | None = None
    signed_at: str | None = None
    key_id: str | None = None
    key: str | None = None  # pinned (--public-key) | haven (this haven's signing key)
    consistency: dict[str, Any] | None = None
    first_bad: int | None = None
    #: What failed, as a code: form | key | signature | haven | shorter | root | consistency
    problem: str | None = None
    reason: str | None = None

    def fail(self, problem: str, reason: str) -> None:
        self.problem, self.reason = problem, reason

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "key": self.key,
            "consistency": self.consistency,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "reason": self.reason,
        }


@dataclass
class LogCheck:
    """The log's size and root now, and each witness's verdict."""

    size: int
    root: str
    witnesses: list[WitnessCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.witnesses)

    def first_failure(self) -> WitnessCheck | None:
        return next((w for w in self.witnesses if not w.ok), None)


def read_witness(path: Path) -> object:
    """A witness file's JSON (anything: ``parse`` judges it); a missing file is a usage error."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"There is no checkpoint file at {path}.") from None
    except (OSError, UnicodeError):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def trusted_key(haven: Haven, pinned: Ed25519PublicKey | None) -> tuple[Ed25519PublicKey, str]:
    """The key a witness must be signed with: the pinned one, else this haven's own."""
    if pinned is not None:
        return pinned, "pinned"
    return load_private(key_path(haven)).public_key(), "haven"


def check_log(
    haven: Haven,
    files: list[Path],
    *,
    pinned: Ed25519PublicKey | None = None,
) -> LogCheck:
    """Check the log against each witness file; also gives today's size and root."""
    docs = [(path, read_witness(path)) for path in files]
    trusted, how = trusted_key(haven, pinned) if files else (None, None)
    with haven.sessions() as session:
        meta = session.get(HavenMeta, MASTER_KEY_ID)
        size = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    haven_key_id = meta.value if meta is not None else None
    checks: list[tuple[WitnessCheck, Witness | None]] = []
    for path, raw in docs:
        check = WitnessCheck(file=str(path))
        found = parse(raw)
        if found is not None:
            check.size, check.root = found.size, found.root
            check.signed_at, check.key_id, check.key = found.signed_at, found.key_id, how
        checks.append((check, found))
        if found is None:
            check.fail("form", f"{path} is not a carehaven audit checkpoint, or its fields "
                       "were altered")
        elif trusted is not None:
            problem = _signature_problem(path, found, trusted, how, haven_key_id)
            if problem is not None:
                check.fail(*problem)

    # One pass: today's root, each witnessed root, and each consistency proof's nodes.
    wanted: list[merkle.Range] = [(0, size)] if size else []
    for check, found in checks:
        if check.reason is None and found is not None and found.size <= size:
            wanted.append((0, found.size))
            if found.size < size:
                wanted.extend(merkle.consistency_ranges(found.size, size))
    try:
        computed = merkle.log_hashes(haven.engine, size, wanted)
    except merkle.ShortLogError:
        raise AuditFailedError(
            "The audit log lost entries while it was being checked; run the check again."
        ) from None
    hashes = dict(zip(wanted, computed, strict=True))
    today = hashes.get((0, size), merkle.EMPTY_ROOT)

    for check, found in checks:
        if check.reason is not None or found is None:
            continue
        if found.size > size:
            check.first_bad = size + 1
            check.fail(
                "shorter",
                f"the log now holds {size:,} entries but {check.file} witnessed {found.size:,}: "
                f"entries from {size + 1:,} on were removed and the head moved back",
            )
            continue
        if hashes[(0, found.size)] != found.root_bytes:
            check.problem = "root"  # the sentence is written by _narrow, which knows the others
            continue
        proof = [hashes[r] for r in merkle.consistency_ranges(found.size, size)] if (
            found.size < size) else []
        check.consistency = {"from": found.size, "to": size, "proof": [p.hex() for p in proof]}
        if not merkle.verify_consistency(found.size, size, found.root_bytes, today, proof):
            check.fail("consistency", f"the log is not an append-only extension of the tree "
                       f"{check.file} witnessed")
            continue
        check.ok = True
    _narrow(checks)
    return LogCheck(size=size, root=today.hex(), witnesses=[c for c, _ in checks])


def _signature_problem(
    path: Path,
    found: Witness,
    trusted: Ed25519PublicKey,
    how: str | None,
    haven_key_id: str | None,
) -> tuple[str, str] | None:
    """Why a witness document cannot be trusted, as (problem, sentence); None if it can."""
    other_haven = haven_key_id is not None and found.haven_key_id != haven_key_id
    elsewhere = (f"{path} is a checkpoint of another haven (master key {found.haven_key_id}, "
                 f"this haven's is {haven_key_id})")
    if key_id(found.public_key) != found.key_id:
        return "form", (f"{path} names key {found.key_id} but carries another public key: the "
                        "file was altered")
    if not same_key(found.public_key, trusted):
        if other_haven and found.signed_by(found.public_key):
            return "haven", elsewhere
        whose = ("the key given with --public-key" if how == "pinned"
                 else "this haven's audit signing key")
        return "key", (f"{path} is signed with key {found.key_id}, not with {whose} "
                       f"({key_id(trusted)}): it was re-signed by someone else")
    if not found.signed_by(trusted):
        return "signature", (f"the signature of {path} does not verify: the checkpoint was "
                             "altered or forged")
    if other_haven:
        return "haven", elsewhere
    return None


def _narrow(checks: list[tuple[WitnessCheck, Witness | None]]) -> None:
    """Say where a witnessed root no longer matches: a smaller witness that still matches
    narrows down where the change is."""
    good = [c.size for c, _ in checks if c.ok and c.size is not None]
    for check, _ in checks:
        if check.problem != "root" or check.size is None:
            continue
        below = [s for s in good if s < check.size]
        where = (f"after entry {max(below):,} and at or before entry {check.size:,}" if below
                 else f"at or before entry {check.size:,}")
        check.reason = (
            f"the first {check.size:,} entries no longer give the Merkle root {check.file} "
            f"witnessed: an entry {where} was altered, inserted or removed after it was signed"
        )


# ---- inclusion proofs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Inclusion:
    seq: int
    tree_size: int
    leaf: str  # the entry's chain hash: the leaf input
    leaf_hash: str
    path: list[str]
    root: str
    checkpoint: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leaf_index": self.seq - 1,
            "tree_size": self.tree_size,
            "leaf": self.leaf,
            "leaf_hash": self.leaf_hash,
            "path": self.path,
            "root": self.root,
            "checkpoint": self.checkpoint,
            "verified": True,
        }


def prove(
    haven: Haven,
    seq: int,
    *,
    checkpoint: Path | None = None,
    pinned: Ed25519PublicKey | None = None,
) -> Inclusion:
    """The inclusion proof of entry ``seq`` in today's tree, or in a witness's tree (whose
    document must verify first); checked before it is returned."""
    witnessed: Witness | None = None
    if checkpoint is not None:
        check = check_log(haven, [checkpoint], pinned=pinned).witnesses[0]
        if not check.ok:
            raise AuditFailedError(f"The checkpoint does not verify: {check.reason}.")
        witnessed = parse(read_witness(checkpoint))
        assert witnessed is not None
    with haven.sessions() as session:
        size = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq))
    if witnessed is not None:
        size = witnessed.size
    if not 1 <= seq <= size or stored is None:
        raise NotFoundError(
            f"Entry {seq} is not in the audit log's tree of {size:,} entries"
            + (" the checkpoint witnessed." if witnessed is not None else ".")
        )
    m = seq - 1
    ranges = [(m, m + 1), (0, size), *merkle.inclusion_ranges(m, size)]
    try:
        leaf_hash, root, *path = merkle.log_hashes(haven.engine, size, ranges)
    except merkle.ShortLogError:
        raise AuditFailedError(
            f"The audit log holds fewer than {size:,} entries: entries were removed; run "
            "'carehaven audit verify'."
        ) from None
    if merkle.leaf_hash(merkle.leaf_input(stored)) != leaf_hash:
        raise AuditFailedError(
            f"Entry {seq} is not leaf {m} of the tree: entries before it were removed or "
            "inserted; run 'carehaven audit verify'."
        )
    if witnessed is not None and root != witnessed.root_bytes:  # pragma: no cover - checked
        raise AuditFailedError("The log's root no longer matches the checkpoint.")
    if not merkle.verify_inclusion(m, size, leaf_hash, path, root):  # pragma: no cover
        raise AuditFailedError(f"The inclusion proof of entry {seq} does not verify.")
    return Inclusion(
        seq=seq,
        tree_size=size,
        leaf=stored,
        leaf_hash=leaf_hash.hex(),
        path=[p.hex() for p in path],
        root=root.hex(),
        checkpoint=str(checkpoint) if checkpoint is not None else None,
    )
