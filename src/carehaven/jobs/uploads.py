"""Receiving an uploaded file into the haven: streamed to disk, hashed and sized as it comes,
never held whole in memory, and under a name the haven chose (never the client's)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from carehaven.collection.reading import FileProblem, FileRejectedError
from carehaven.errors import UsageError
from carehaven.haven import Haven

#: An upload's name: made here, so a name read back from the jobs table is checked against it
#: before it becomes a path.
_NAME = re.compile(r"up-[0-9a-f]{24}")
_PART = ".part"


@dataclass(frozen=True)
class Upload:
    """A file received whole: its name relative to ``haven.paths.uploads``, size and hash."""

    name: str
    size_bytes: int
    sha256: str


def upload_path(haven: Haven, name: str) -> Path:
    """Where the upload ``name`` is; refuses a name the haven did not make."""
    if not _NAME.fullmatch(name):
        raise UsageError("That is not the name of an upload this haven received.")
    return haven.paths.uploads / name


def discard(haven: Haven, name: str) -> None:
    """Delete an upload (and its partial file), if it is there."""
    if _NAME.fullmatch(name):
        for path in (haven.paths.uploads / name, haven.paths.uploads / (name + _PART)):
            path.unlink(missing_ok=True)


def uploads_folder(haven: Haven) -> Path:
    """The uploads folder, owner-only; made on first use in a haven older than it."""
    folder = haven.paths.uploads
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class UploadSink:
    """Where an upload's bytes go, chunk by chunk (``receiving``)."""

    def __init__(self, folder: Path, limit_mb: int) -> None:
        self.name = "up-" + secrets.token_hex(12)
        self._folder = folder
        self._part = folder / (self.name + _PART)
        self._limit_mb = limit_mb
        self._limit = limit_mb * 1024 * 1024
        self._hash = hashlib.sha256()
        self._size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self._fd: int | None = os.open(self._part, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        self.finished: Upload | None = None

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; refuses (FILE_REJECTED) once the file passes the size limit."""
        if self._fd is None:
            raise UsageError("This upload is already finished or abandoned; start another.")
        self._size += len(chunk)
        if self._size > self._limit:
            raise FileRejectedError(FileProblem(
                "too-large",
                f"The file is over the limit of {self._limit_mb:,} MiB (CAREHAVEN_MAX_FILE_MB); "
                "split it or ask the data team to raise the limit. Nothing was kept.",
            ))
        self._hash.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view):]

    def finish(self) -> Upload:
        """Sync the file to disk and give it its final name (atomically)."""
        if self._fd is None:
            raise UsageError("This upload is already finished or abandoned; start another.")
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._part.replace(self._folder / self.name)
        _sync_folder(self._folder)
        self.finished = Upload(self.name, self._size, self._hash.hexdigest())
        return self.finished

    def abandon(self) -> None:
        """Close and delete the partial file (the upload was never finished)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        self._part.unlink(missing_ok=True)


@contextmanager
def receiving(haven: Haven) -> Iterator[UploadSink]:
    """A sink for one upload. Leaving the block by an exception, or without ``finish``,
    deletes the partial file; a finished upload is the caller's to queue (or ``discard``)."""
    sink = UploadSink(uploads_folder(haven), haven.settings.max_file_mb)
    try:
        yield sink
    finally:
        if sink.finished is None:
            sink.abandon()


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
