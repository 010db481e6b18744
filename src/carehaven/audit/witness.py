"""Checking the audit log against witness documents, and proving single entries.

Someone who does not trust the control database keeps a signed checkpoint (``audit.checkpoint``)
outside the haven. Against it, the log must (1) still hold at least the witnessed number of
entries, (2) give the witnessed Merkle root over its first ``size`` entries, and (3) be an
append-only extension of that tree (an RFC 9162 consistency proof from the witnessed size to
today's, built here and verified). The document itself must be signed, for this haven, by the
key the witness pins (``--public-key``), or else by this haven's own audit signing key.

The same pass checks the log against every checkpoint the haven itself recorded
(``audit_checkpoints``): a witness-free tripwire for a rewrite that left the table alone. It is
not evidence (whoever rewrites the log can delete those rows), which is why witnesses exist.

Every hash the checks need comes from one streamed pass over the log (``merkle.range_hashes``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import func, select

from carehaven.audit import merkle
from carehaven.audit.checkpoint import (
    PUBLIC_KEY_META,
    AuditFailedError,
    Witness,
    label,
    parse,
    statement,
    well_formed,
)
from carehaven.audit.guards import TriggerCheck, check_triggers
from carehaven.audit.limits import (
    WITNESS_LIMIT,
    NotRegularFileError,
    TooLargeError,
    describe_limit,
    read_bounded,
)
from carehaven.audit.signing import key_id, key_path, load_private, parse_public, same_key
from carehaven.control.models import AuditCheckpoint, AuditEntry, HavenMeta
from carehaven.errors import ConfigurationError, NotFoundError, UsageError
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


@dataclass
class StoredCheck:
    """What one checkpoint recorded in ``audit_checkpoints`` showed about today's log."""

    checkpoint: str  # C-<id>
    size: int
    root: str
    signed_at: str
    key_id: str
    ok: bool = False
    #: haven (the signing key on disk) | recorded (a previous key, as the haven recorded it)
    #: | pinned (--public-key, when the key on disk cannot be read)
    key: str | None = None
    first_bad: int | None = None
    #: What failed, as a code: form | key | signature | shorter | root
    problem: str | None = None
    reason: str | None = None

    def fail(self, problem: str, reason: str) -> None:
        self.problem, self.reason = problem, reason


@dataclass
class LogCheck:
    """The log's size and root now, each witness's verdict, each recorded checkpoint's, and
    whether the append-only triggers are in place."""

    size: int
    root: str
    witnesses: list[WitnessCheck] = field(default_factory=list)
    stored: list[StoredCheck] = field(default_factory=list)
    triggers: TriggerCheck = field(default_factory=TriggerCheck)

    @property
    def ok(self) -> bool:
        return (all(w.ok for w in self.witnesses) and all(c.ok for c in self.stored)
                and self.triggers.ok)

    def reasons(self) -> list[str]:
        """One sentence per problem: the witnesses given first, then what the haven recorded,
        then the triggers."""
        return ([w.reason for w in self.witnesses if not w.ok and w.reason]
                + [c.reason for c in self.stored if not c.ok and c.reason]
                + ([self.triggers.reason] if self.triggers.reason else []))

    def first_bad(self) -> int | None:
        checks: list[WitnessCheck | StoredCheck] = [*self.witnesses, *self.stored]
        return next((c.first_bad for c in checks if not c.ok and c.first_bad is not None), None)


#: ``read_witness``'s answer for a file larger than any checkpoint.
TOO_LARGE = object()


def read_witness(path: Path) -> object:
    """A witness file's JSON (anything: ``parse`` judges it); a missing file, or one that is
    not a regular file, is a usage error. A file too large to be a checkpoint, or nested too
    deeply to parse, is returned as ``TOO_LARGE`` or None: malformed."""
    try:
        raw = read_bounded(path, WITNESS_LIMIT)
    except FileNotFoundError:
        raise UsageError(f"There is no checkpoint file at {path}.") from None
    except NotRegularFileError:
        raise UsageError(
            f"{path} is not a regular file; a checkpoint is the small JSON file "
            "'carehaven audit checkpoint --out' wrote."
        ) from None
    except TooLargeError:
        return TOO_LARGE
    except OSError:
        return None
    try:
        return json.loads(raw.decode())
    except (ValueError, UnicodeError, RecursionError):  # deep nesting exhausts the parser
        return None


def trusted_key(
    haven: Haven,
    pinned: Ed25519PublicKey | None,
    signer: Ed25519PublicKey | None = None,
) -> tuple[Ed25519PublicKey, str]:
    """The key a witness must be signed with: the pinned one, else this haven's own."""
    if pinned is not None:
        return pinned, "pinned"
    if signer is not None:
        return signer, "haven"
    return load_private(key_path(haven)).public_key(), "haven"


def check_log(
    haven: Haven,
    files: Sequence[Path],
    *,
    pinned: Ed25519PublicKey | None = None,
    signer: Ed25519PublicKey | None = None,
    size: int | None = None,
) -> LogCheck:
    """Check the log against each witness file, against every checkpoint the haven recorded
    and for its triggers; also gives the size (today's, or ``size``) and root.

    ``signer`` is the haven's signing key when the caller already holds it (``sign``)."""
    docs = [(path, read_witness(path)) for path in files]
    with haven.sessions() as session:
        meta = session.get(HavenMeta, MASTER_KEY_ID)
        if size is None:
            size = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        rows = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
        recorded = {
            m.name.removeprefix(PUBLIC_KEY_META): m.value
            for m in session.scalars(
                select(HavenMeta).where(HavenMeta.name.startswith(PUBLIC_KEY_META))
            )
        }
    haven_key_id = meta.value if meta is not None else None
    # The key on disk is read once, and only when something is to be checked against it.
    disk = signer
    if disk is None and (rows or (files and pinned is None)):
        try:
            disk = load_private(key_path(haven)).public_key()
        except ConfigurationError:
            if pinned is None:
                raise
    trusted, how = trusted_key(haven, pinned, disk) if files else (None, None)
    checks: list[tuple[WitnessCheck, Witness | None]] = []
    for path, raw in docs:
        check = WitnessCheck(file=str(path))
        found = parse(raw)
        if found is not None:
            check.size, check.root = found.size, found.root
            check.signed_at, check.key_id, check.key = found.signed_at, found.key_id, how
        checks.append((check, found))
        if raw is TOO_LARGE:
            check.fail("form", f"{path} is larger than {describe_limit(WITNESS_LIMIT)}, so it "
                       "is not a carehaven audit checkpoint")
        elif found is None:
            check.fail("form", f"{path} is not a carehaven audit checkpoint, or its fields "
                       "were altered")
        elif trusted is not None:
            problem = _signature_problem(path, found, trusted, how, haven_key_id)
            if problem is not None:
                check.fail(*problem)
    stored = _judge_stored(rows, recorded, haven_key_id, *(
        (disk, "haven") if disk is not None else (pinned, "pinned")))

    # One pass: today's root, each witnessed or recorded root, each consistency proof's nodes.
    wanted: list[merkle.Range] = [(0, size)] if size else []
    for check, found in checks:
        if check.reason is None and found is not None and found.size <= size:
            wanted.append((0, found.size))
            if found.size < size:
                wanted.extend(merkle.consistency_ranges(found.size, size))
    wanted.extend((0, c.size) for c in stored if c.reason is None and c.size <= size)
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
    for c in stored:
        if c.reason is not None:
            continue
        if c.size > size:
            c.first_bad = size + 1
            c.fail(
                "shorter",
                f"the log now holds {size:,} entries but the haven's checkpoint {c.checkpoint} "
                f"was signed over {c.size:,}: entries from {size + 1:,} on were removed and the "
                "head moved back",
            )
        elif hashes[(0, c.size)].hex() != c.root:
            c.problem = "root"
        else:
            c.ok = True
    _narrow(checks, stored)
    return LogCheck(size=size, root=today.hex(), witnesses=[c for c, _ in checks],
                    stored=stored, triggers=check_triggers(haven.engine))


def _judge_stored(
    rows: list[AuditCheckpoint],
    recorded: dict[str, str],
    haven_key_id: str | None,
    disk: Ed25519PublicKey | None,
    how: str,
) -> list[StoredCheck]:
    """Each recorded checkpoint, its signature checked; the roots are checked by the caller.

    Only the key on disk (``disk``; the pinned key when that file cannot be read, ``how``) is
    trusted. A checkpoint of an earlier key (after the key file was replaced) is checked with
    the public key the haven recorded for it, which an intruder could also have written; that
    is enough here, since a recorded checkpoint can only ever stop a signature or fail a
    verify, never make a log pass."""
    if not rows or disk is None:
        return []
    disk_id = key_id(disk)
    checks = []
    for row in rows:
        check = StoredCheck(checkpoint=label(row), size=row.size, root=row.root,
                            signed_at=row.signed_at, key_id=row.key_id)
        checks.append(check)
        where = f"the haven's checkpoint {check.checkpoint}"
        signature = _signature_bytes(row.signature)
        if signature is None or not well_formed(size=row.size, root=row.root,
                                                signed_at=row.signed_at, key=row.key_id):
            check.fail("form", f"{where} is malformed: its row in audit_checkpoints was altered")
            continue
        body = statement(haven_key_id=haven_key_id or "", size=row.size, root=row.root,
                         signed_at=row.signed_at, key=row.key_id)
        if row.key_id == disk_id:
            check.key = how
            if haven_key_id is None or not _verifies(disk, signature, body):
                check.fail("signature", f"the signature of {where} does not verify under the "
                           f"audit signing key ({disk_id}): its row in audit_checkpoints was "
                           "altered")
            continue
        earlier = parse_public(recorded.get(row.key_id, ""))
        if (earlier is None or key_id(earlier) != row.key_id or haven_key_id is None
                or not _verifies(earlier, signature, body)):
            check.fail("key", f"{where} is signed with key {row.key_id}, not the audit signing "
                       f"key on disk ({disk_id}), and no earlier key the haven recorded verifies "
                       "it: the key file was replaced or the checkpoint's row was altered")
            continue
        check.key = "recorded"
    return checks


def _signature_bytes(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def _verifies(public: Ed25519PublicKey, signature: bytes, body: bytes) -> bool:
    try:
        public.verify(signature, body)
    except InvalidSignature:
        return False
    return True


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
        if how == "pinned":
            return "key", (f"{path} is signed with key {found.key_id}, not with the key given "
                           f"with --public-key ({key_id(trusted)}): it was re-signed by someone "
                           "else")
        # Unpinned, the key file on disk is no more trustworthy than the witness file.
        return "key", (f"{path} is signed with key {found.key_id}, not with this haven's audit "
                       f"signing key: the key on disk ({key_id(trusted)}) is not the one that "
                       "signed the witness, so either the witness file or the key file was "
                       "replaced (the key the witness pinned, given to 'audit verify "
                       "--public-key', tells which)")
    if not found.signed_by(trusted):
        return "signature", (f"the signature of {path} does not verify: the checkpoint was "
                             "altered or forged")
    if other_haven:
        return "haven", elsewhere
    return None


def _narrow(checks: list[tuple[WitnessCheck, Witness | None]], stored: list[StoredCheck]) -> None:
    """Say where a witnessed or recorded root no longer matches: a smaller checkpoint that
    still matches narrows down where the change is."""
    good = ([c.size for c, _ in checks if c.ok and c.size is not None]
            + [c.size for c in stored if c.ok])

    def where(size: int) -> str:
        below = [s for s in good if s < size]
        return (f"after entry {max(below):,} and at or before entry {size:,}" if below
                else f"at or before entry {size:,}")

    for check, _ in checks:
        if check.problem == "root" and check.size is not None:
            check.reason = (
                f"the first {check.size:,} entries no longer give the Merkle root {check.file} "
                f"witnessed: an entry {where(check.size)} was altered, inserted or removed "
                "after it was signed"
            )
    for c in stored:
        if c.problem == "root":
            c.reason = (
                f"the first {c.size:,} entries no longer give the Merkle root of the haven's "
                f"checkpoint {c.checkpoint}: an entry {where(c.size)} was altered, inserted or "
                "removed after it was signed"
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


def prove(
    haven: Haven,
    seq: int,
    *,
    checkpoint: Path | None = None,
    pinned: Ed25519PublicKey | None = None,
) -> Inclusion:
    """The inclusion proof of entry ``seq`` in today's tree, or in a witness's tree (whose
    document must verify first); checked before it is returned."""
    if seq < 1:
        raise UsageError("An audit entry's sequence number is a whole number from 1.")
    witnessed: Witness | None = None
    if checkpoint is not None:
        check = check_log(haven, [checkpoint], pinned=pinned).witnesses[0]
        if not check.ok:
            raise AuditFailedError(f"The checkpoint does not verify: {check.reason}.")
        witnessed = parse(read_witness(checkpoint))
        assert witnessed is not None
    with haven.sessions() as session:
        size = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        if witnessed is not None:
            size = witnessed.size
        # Compared before the query: a number past any tree need not fit the database's
        # 64-bit integers (SQLite raises OverflowError binding it).
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq)) if (
            seq <= size) else None
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
