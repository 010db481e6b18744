"""One writer per haven: pipeline steps take this lock (ARCHITECTURE "One writer")."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from carehaven.errors import CarehavenError, ExitCode


class HavenBusyError(CarehavenError):
    exit_code = ExitCode.HAVEN_BUSY


class ReadOnlyHavenError(CarehavenError):
    exit_code = ExitCode.CONFIGURATION


@contextmanager
def writer_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold the haven's writer lock; the OS releases it if the process dies."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # a haven mounted read-only, or a folder not ours
        raise ReadOnlyHavenError(
            f"The haven at {path.parent} cannot be written ({exc.strerror or 'read-only'}), "
            "and this command changes it; nothing was changed. Read-only commands still work."
        ) from None
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HavenBusyError(
                        "Another carehaven step is writing to this haven; try again when it ends."
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
