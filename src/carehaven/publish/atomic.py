"""Atomic file writes for published outputs.

A reader (a web server, a checker, a person double-clicking the file) must never see half a
table: a truncated CSV still parses and would publish wrong numbers. So every writer writes to
a temporary name in the same folder and renames it over the target with :func:`os.replace`,
which is atomic on one file system. The temporary file is created with ``open(..., "x")`` so it
gets the usual permissions from the umask, not the owner-only ones of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else it goes.

    For libraries that insist on writing a file themselves (openpyxl's ``save``).
    """
    target = Path(path)
    tmp = _temp_name(target)
    try:
        yield tmp
        tmp.replace(target)  # os.replace: atomic on one file system
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:  # fh closes before the rename
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 with the line ends it already has (no newline translation)."""
    write_bytes(path, text.encode("utf-8"))
