"""The manifest written beside every extract: what it is, and the sha256 of each file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SUFFIX = ".manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_name(dataset: str) -> str:
    return f"{dataset}{SUFFIX}"


def find_manifest(path: Path) -> Path | None:
    """The manifest listing ``path`` with its current sha256, if there is one beside it."""
    candidate = path.with_name(manifest_name(path.name.split(".", 1)[0]))
    if not candidate.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(candidate.read_text())
    except (OSError, ValueError):
        return None
    digest = sha256_file(path)
    for entry in manifest.get("files", []):
        if entry.get("name") == path.name and entry.get("sha256") == digest:
            return candidate
    return None
