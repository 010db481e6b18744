"""The audit log's Merkle tree is RFC 9162's, checked against the published test vectors
(issue 12, item 6).

Vectors, copied from transparency-dev/merkle (the Certificate Transparency reference code,
Apache-2.0) at commit 417fb0c314750d94e53942e9f92e79b6d35915db:

- the 8 leaf inputs and the roots of the trees of sizes 0..8: ``testonly/constants.go``
  (``LeafInputs``, ``RootHashes``), and every complete subtree's hash (``NodeHashes``);
- inclusion and consistency proofs: ``cmd/proofgen/main.go`` (``inclusionProofs``, whose leaf
  indices there are 1-based, and ``consistencyProofs``);
- every probe under ``testdata/inclusion`` and ``testdata/consistency`` (happy paths and their
  mutations, each with ``wantErr``), verbatim in ``tests/unit/data/`` with the commit recorded.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carehaven.audit import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]

ROOTS = {  # RootHashes(), by tree size
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

NODES = [  # NodeHashes(): [level][index] of every complete subtree of the 8-leaf tree
    ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"],
    ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"],
    ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

INCLUSION = [  # inclusionProofs: (leaf index, 1-based as in proofgen; tree size; path)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]

CONSISTENCY = [  # consistencyProofs: (size1, size2, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]

PROBES = json.loads(
    (Path(__file__).parent / "data" / "transparency-dev-merkle-probes.json").read_text()
)["probes"]


def _hex(values: list[bytes]) -> list[str]:
    return [v.hex() for v in values]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_match_the_reference_vectors(size: int) -> None:
    assert merkle.root(LEAVES, size).hex() == ROOTS[size]


def test_every_complete_subtree_matches_the_reference_vectors() -> None:
    ranges = [(i << level, (i + 1) << level) for level, row in enumerate(NODES)
              for i in range(len(row))]
    got = merkle.range_hashes(LEAVES, 8, ranges)
    assert _hex(got) == [h for row in NODES for h in row]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_and_verify(index: int, size: int, path: list[str]) -> None:
    m = index - 1
    proof = merkle.inclusion_proof(LEAVES, m, size)
    assert _hex(proof) == path
    leaf = merkle.leaf_hash(LEAVES[m])
    assert merkle.verify_inclusion(m, size, leaf, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_match_and_verify(first: int, second: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(LEAVES, first, second)
    assert _hex(proof) == path
    assert merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[first]),
                                     bytes.fromhex(ROOTS[second]), proof)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_reference_probes(name: str) -> None:
    """Each probe (a proof, or a mutation of one) is accepted exactly when it should be."""
    p = PROBES[name]
    proof = [_b64(h) for h in p["proof"] or []]
    if name.startswith("testdata/inclusion/"):
        ok = merkle.verify_inclusion(p["leafIdx"], p["treeSize"], _b64(p["leafHash"]), proof,
                                     _b64(p["root"]))
    else:
        ok = merkle.verify_consistency(p["size1"], p["size2"], _b64(p["root1"]),
                                       _b64(p["root2"]), proof)
    assert ok is not p["wantErr"], p["desc"]


def _reference_mth(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it, recursively (the oracle for the stream)."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_reference_mth(leaves[:k]), _reference_mth(leaves[k:]))


@st.composite
def _trees(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    n = draw(st.integers(1, 300))
    leaves = [i.to_bytes(4, "big") + draw(st.binary(max_size=3)) for i in range(n)]
    m = draw(st.integers(0, n - 1))
    size = draw(st.integers(1, n))
    return leaves, m, size


@given(_trees(), st.data())
def test_every_generated_proof_verifies_and_a_change_fails(
    tree: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    """Property (item 6): proofs from ``range_hashes`` verify; a changed leaf or root fails."""
    leaves, m, size = tree
    n = len(leaves)
    root_n = merkle.root(leaves, n)
    assert root_n == _reference_mth(leaves)
    flip = bytes([0xFF]) + bytes(31)

    path = merkle.inclusion_proof(leaves, m, n)
    leaf = merkle.leaf_hash(leaves[m])
    assert merkle.verify_inclusion(m, n, leaf, path, root_n)
    assert not merkle.verify_inclusion(m, n, merkle.leaf_hash(leaves[m] + b"x"), path, root_n)
    assert not merkle.verify_inclusion(m, n, leaf, path, bytes(a ^ b for a, b in
                                                               zip(root_n, flip, strict=True)))
    if path:
        i = data.draw(st.integers(0, len(path) - 1))
        bad = [*path[:i], merkle.node_hash(path[i], path[i]), *path[i + 1:]]
        assert not merkle.verify_inclusion(m, n, leaf, bad, root_n)

    root_m = merkle.root(leaves, size)
    assert root_m == _reference_mth(leaves[:size])
    proof = merkle.consistency_proof(leaves, size, n)
    assert merkle.verify_consistency(size, n, root_m, root_n, proof)
    assert not merkle.verify_consistency(size, n, root_m, merkle.leaf_hash(root_n), proof)
    changed = list(leaves)
    j = data.draw(st.integers(0, size - 1))
    changed[j] = changed[j] + b"!"  # an earlier entry rewritten: the old root no longer fits
    assert not merkle.verify_consistency(size, n, root_m, merkle.root(changed, n),
                                         merkle.consistency_proof(changed, size, n))
    if size < n:
        truncated = merkle.root(leaves, n - 1) if n - 1 >= size else root_m
        assert not merkle.verify_consistency(size, n, root_m, truncated, proof)


def test_a_short_log_is_named() -> None:
    with pytest.raises(merkle.ShortLogError) as raised:
        merkle.root(LEAVES[:3], 5)
    assert (raised.value.found, raised.value.size) == (3, 5)


def _peak_memory(n: int) -> int:
    tracemalloc.start()
    try:
        merkle.range_hashes((i.to_bytes(32, "big") for i in range(n)), n, [(0, n), (0, n // 2)])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_log() -> None:
    """Item 6: the tree is streamed; sixteen times the leaves need no more memory."""
    assert _peak_memory(1 << 14) < _peak_memory(1 << 10) + 4_096


@pytest.mark.slow
def test_a_million_leaves() -> None:
    """Item 6: a million entries work (about three seconds of SHA-256)."""
    n = 1_000_000
    leaves = (i.to_bytes(32, "big") for i in range(n))
    whole, last, left = merkle.range_hashes(leaves, n, [(0, n), (n - 1, n), (0, 1 << 19)])
    assert last == merkle.leaf_hash((n - 1).to_bytes(32, "big"))
    # The last leaf's audit path ends with the left half's root: the two passes agree.
    assert merkle.inclusion_ranges(n - 1, n)[-1] == (0, 1 << 19)
    assert len(whole) == len(left) == 32 and whole != left
