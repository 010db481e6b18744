"""An RFC 9162 (Certificate Transparency v2) Merkle tree over the audit log.

Leaf ``i`` (0-based) is the audit entry with the ``i+1``-th smallest seq; its leaf input is the 32
raw bytes of the entry's chain hash, which already covers the entry and its predecessor. Hashing
is RFC 9162 §2.1.1: leaf = SHA-256(0x00 || input), node = SHA-256(0x01 || left || right), split
at the largest power of two smaller than n.

Nothing is stored: every hash the tree needs is recomputed from the entries in one streamed
pass. Every range an RFC proof or root names is aligned (it starts at a multiple of the power of
two at or above its length), so it is the fold of a few aligned *perfect* subtrees. The pass
pushes leaf hashes on a stack, merges equal heights as it goes (O(log n) memory) and keeps only
the perfect subtrees some range asked for; the ranges are folded afterwards. A million entries
need two million SHA-256 calls and a few kilobytes.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine, select

from carehaven.control.models import AuditEntry

HASH_SIZE = 32
#: MTH({}) (RFC 9162 §2.1.1): the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]  # [start, stop) over leaf indices
_HEX = "0123456789abcdef"


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# ---- which ranges a root or proof is made of (pure arithmetic, RFC 9162 §2.1.3.1, §2.1.4.1) ----


def inclusion_ranges(m: int, n: int) -> list[Range]:
    """The subtrees whose MTHs make PATH(m, D[n]), leaf to root."""
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of size {n}")
    path: list[Range] = []
    start = 0
    while n > 1:  # walk down from the root; each level's sibling is prepended
        k = _split(n)
        if m < k:
            path.append((start + k, start + n))
            n = k
        else:
            path.append((start, start + k))
            m, start, n = m - k, start + k, n - k
    return path[::-1]


def consistency_ranges(m: int, n: int) -> list[Range]:
    """The subtrees whose MTHs make PROOF(m, D[n]) = SUBPROOF(m, D[n], true), in order."""
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    proof: list[Range] = []
    start, b = 0, True
    while m != n:
        k = _split(n)
        if m <= k:
            proof.append((start + k, start + n))
            n = k
        else:
            proof.append((start, start + k))
            m, start, n, b = m - k, start + k, n - k, False
    if not b:
        proof.append((start, start + n))
    return proof[::-1]


def _perfect_cover(start: int, stop: int) -> list[tuple[int, int]]:
    """An aligned range as (height, index) of its perfect subtrees, largest (leftmost) first."""
    cover: list[tuple[int, int]] = []
    pos, length = start, stop - start
    for height in range(length.bit_length() - 1, -1, -1):
        if length >> height & 1:
            size = 1 << height
            if pos % size:
                raise ValueError(f"[{start}, {stop}) is not a subtree of an RFC 9162 tree")
            cover.append((height, pos >> height))
            pos += size
    return cover


# ---- one streamed pass ---------------------------------------------------------------------


class ShortLogError(ValueError):
    """The log holds fewer leaves than the tree size asked for."""

    def __init__(self, found: int, size: int) -> None:
        super().__init__(f"the log holds {found} leaves, not {size}")
        self.found, self.size = found, size


def range_hashes(leaves: Iterable[bytes], size: int, ranges: Sequence[Range]) -> list[bytes]:
    """MTH(D[a:b]) for each aligned range, from one pass over the first ``size`` leaf inputs.

    Raises ``ShortLogError`` when ``leaves`` ends before ``size``.
    """
    for a, b in ranges:
        if not 0 <= a < b <= size:
            raise ValueError(f"[{a}, {b}) is not inside a tree of size {size}")
    covers = [_perfect_cover(a, b) for a, b in ranges]
    wanted: dict[int, set[int]] = {}  # height -> indices of the perfect subtrees asked for
    for height, i in (node for cover in covers for node in cover):
        wanted.setdefault(height, set()).add(i)
    found: dict[tuple[int, int], bytes] = {}
    sha256 = hashlib.sha256
    leaves_wanted = wanted.get(0, set())
    # The pending perfect subtrees, left to right; their heights are the set bits of the count
    # so far, so leaf ``index`` merges once for each trailing one bit of ``index``.
    stack: list[bytes] = []
    index = -1
    for index, leaf in enumerate(itertools.islice(leaves, size)):
        digest = sha256(b"\x00" + leaf).digest()
        if index in leaves_wanted:
            found[(0, index)] = digest
        bits, height = index, 0
        while bits & 1:
            digest = sha256(b"\x01" + stack.pop() + digest).digest()
            bits, height = bits >> 1, height + 1
            at = wanted.get(height)
            if at is not None and bits in at:
                found[(height, bits)] = digest
        stack.append(digest)
    if index + 1 < size:
        raise ShortLogError(index + 1, size)
    out: list[bytes] = []
    for cover in covers:
        acc = found[cover[-1]]
        for node in reversed(cover[:-1]):
            acc = node_hash(found[node], acc)
        out.append(acc)
    return out


def root(leaves: Iterable[bytes], size: int) -> bytes:
    """MTH of the first ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return range_hashes(leaves, size, [(0, size)])[0]


def inclusion_proof(leaves: Iterable[bytes], m: int, n: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``m`` (0-based) in the tree of size ``n``."""
    ranges = inclusion_ranges(m, n)
    return range_hashes(leaves, n, ranges) if ranges else []


def consistency_proof(leaves: Iterable[bytes], m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of size ``m`` is a prefix of the tree of size ``n``."""
    ranges = consistency_ranges(m, n)
    return range_hashes(leaves, n, ranges) if ranges else []


# ---- verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2, step by step) ----------------------------------


def _is_hash(value: bytes) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to, or None when the proof cannot be right."""
    if not 0 <= index < size or not _is_hash(leaf) or not all(_is_hash(p) for p in path):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether ``leaf`` (a leaf *hash*) is leaf ``index`` of the tree of ``size`` with this root."""
    return root_from_inclusion(index, size, leaf, path) == root_hash


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether the tree of size ``second`` is an append-only extension of the one of ``first``.

    Equal sizes need an empty proof and equal roots; a proof from the empty tree proves nothing
    and is refused.
    """
    if not all(_is_hash(p) for p in path) or not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the old root is the first node
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# ---- the audit log as leaves ---------------------------------------------------------------


def leaf_input(stored: str) -> bytes:
    """An entry's leaf input: the 32 raw bytes of its hex chain hash."""
    if len(stored) == 2 * HASH_SIZE and not stored.strip(_HEX):
        return bytes.fromhex(stored)
    return stored.encode()  # not a hash carehaven wrote: still a leaf of its own


def log_leaves(conn: Connection, size: int, *, batch: int = 20_000) -> Iterator[bytes]:
    """The leaf inputs of the first ``size`` audit entries in seq order, streamed."""
    rows = conn.execution_options(yield_per=batch).execute(
        select(AuditEntry.hash).order_by(AuditEntry.seq).limit(size)
    )
    for (stored,) in rows:
        yield leaf_input(stored)


def log_hashes(engine: Engine, size: int, ranges: Sequence[Range]) -> list[bytes]:
    """``range_hashes`` over the audit log itself."""
    if not ranges:
        return []
    with engine.connect() as conn:
        return range_hashes(log_leaves(conn, size), size, ranges)


def log_root(engine: Engine, size: int) -> bytes:
    """MTH of the first ``size`` audit entries."""
    return EMPTY_ROOT if size == 0 else log_hashes(engine, size, [(0, size)])[0]
