"""Reading the small files the audit commands are given (witness documents, keys), bounded.

A path on the command line can name anything: ``/dev/zero`` or a FIFO would be read without end,
a huge file would be held in memory whole. A witness document is about a kilobyte and a key a
few hundred bytes, so each is read only if it is a regular file, and at most ``limit`` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: A witness document is about 1 KiB; nothing this command writes comes near this.
WITNESS_LIMIT = 1 << 20
#: A PEM key (private or public) is under 1 KiB.
KEY_LIMIT = 64 << 10


class NotRegularFileError(OSError):
    """The path names a device, FIFO, socket or folder, not a file."""


class TooLargeError(OSError):
    """The file holds more than the limit."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, refusing anything else or anything larger
    than ``limit``. FileNotFoundError and other OSErrors pass through."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)  # of what was opened, so a swap after a stat() cannot slip past
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise TooLargeError(f"{path} is larger than {limit} bytes")
        chunks: list[bytes] = []
        left = limit + 1  # one byte more tells a file that grew while being read
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise TooLargeError(f"{path} is larger than {limit} bytes")
    return b"".join(chunks)


def describe_limit(limit: int) -> str:
    """``limit`` for a sentence: 1 MiB, 64 KiB."""
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
