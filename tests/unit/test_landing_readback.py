"""Reading a landed file back, streamed (issue 12, item 15): the tag and the digest are checked
over files larger than one read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from carehaven.collection.landing import (
    DIGEST,
    MISSING,
    TAG,
    UNREADABLE,
    check_landed,
    land,
    landed_path,
    read_landed,
)
from carehaven.haven.keys import MasterKey

KEY = MasterKey(bytes(range(32)))


@pytest.fixture
def zone(tmp_path: Path) -> tuple[Path, bytes]:
    landing, tmp = tmp_path / "landing", tmp_path / "tmp"
    landing.mkdir()
    tmp.mkdir()
    data = os.urandom(3 * (1 << 20) + 17)  # three reads and a bit
    land(landing, tmp, KEY, "sub-1", data)
    return landing, data


def test_an_intact_file_reads_back(zone) -> None:
    landing, data = zone
    assert check_landed(landing, KEY, "sub-1", hashlib.sha256(data).hexdigest()) is None
    assert read_landed(landing, KEY, "sub-1") == data  # the same format both ways


@pytest.mark.parametrize("offset", [5, 20, 2 * (1 << 20), -1])  # nonce, body, later, tag
def test_one_flipped_bit_fails_the_tag(zone, offset: int) -> None:
    landing, data = zone
    path = landed_path(landing, "sub-1")
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x80
    path.write_bytes(bytes(raw))
    assert check_landed(landing, KEY, "sub-1", hashlib.sha256(data).hexdigest()) == TAG


def test_other_problems_are_told_apart(zone) -> None:
    landing, data = zone
    digest = hashlib.sha256(data).hexdigest()
    assert check_landed(landing, KEY, "sub-1", "0" * 64) == DIGEST
    assert check_landed(landing, MasterKey(bytes(32)), "sub-1", digest) == TAG  # another key
    assert check_landed(landing, KEY, "sub-2", digest) == MISSING
    landed_path(landing, "sub-1").write_bytes(b"CHLZ1" + bytes(20))
    assert check_landed(landing, KEY, "sub-1", digest) == UNREADABLE
    landed_path(landing, "sub-1").write_bytes(b"PK\x03\x04" + bytes(40))
    assert check_landed(landing, KEY, "sub-1", digest) == UNREADABLE
