"""The compiled HMAC kernel agrees with Python's hmac on every input (PSE-3)."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehaven.pseudonymise.kernel import hmac_hex


def reference(value: str, key: bytes, out_bytes: int = 16) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[: 2 * out_bytes]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=150)), max_size=40),
    key=st.binary(min_size=1, max_size=130),
    out_bytes=st.integers(1, 32),
)
def test_matches_hmac_for_any_text_and_key(values: list[str | None], key: bytes,
                                           out_bytes: int) -> None:
    got = hmac_hex(pa.array(values, pa.string()), key, out_bytes=out_bytes).to_pylist()
    want = [None if v is None else reference(v, key, out_bytes) for v in values]
    assert got == want


@pytest.mark.parametrize("length", [0, 1, 54, 55, 56, 63, 64, 65, 119, 120, 200])
def test_block_boundaries(length: int) -> None:
    """Messages whose padding falls either side of a 64-byte block boundary."""
    key = b"k" * 32
    value = "x" * length
    assert hmac_hex(pa.array([value]), key, out_bytes=32)[0].as_py() == reference(value, key, 32)


def test_sliced_and_chunked_inputs() -> None:
    key = b"slice"
    values = [f"PN{i:016x}" for i in range(100)]
    sliced = pa.array(values).slice(37, 20)
    assert hmac_hex(sliced, key).to_pylist() == [reference(v, key) for v in values[37:57]]
    chunked = pa.chunked_array([values[:10], values[10:]])
    assert hmac_hex(chunked, key).to_pylist() == [reference(v, key) for v in values]


def test_different_keys_give_unrelated_pseudonyms() -> None:
    ids = pa.array([f"PN{i:016x}" for i in range(2000)])
    a = set(hmac_hex(ids, b"recipient a").to_pylist())
    b = set(hmac_hex(ids, b"recipient b").to_pylist())
    assert len(a) == len(b) == 2000
    assert not a & b


def test_out_bytes_is_checked() -> None:
    with pytest.raises(ValueError):
        hmac_hex(pa.array(["x"]), b"k", out_bytes=33)
