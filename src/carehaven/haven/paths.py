"""Where each part of a haven lives inside its folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HavenPaths:
    root: Path

    @property
    def marker(self) -> Path:
        """Written last by init: a folder without it is not a haven."""
        return self.root / "haven.json"

    @property
    def control_db(self) -> Path:
        return self.root / "control.sqlite"

    @property
    def data_db(self) -> Path:
        return self.root / "data" / "carehaven.duckdb"

    @property
    def landing(self) -> Path:
        """Raw submitted files, encrypted at rest (AES-GCM)."""
        return self.root / "landing"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def key_file(self) -> Path:
        return self.keys / "haven.key"

    @property
    def audit_key(self) -> Path:
        """The default place of the audit checkpoint signing key (CAREHAVEN_AUDIT_KEY)."""
        return self.keys / "audit-signing.key"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def previews(self) -> Path:
        """Tiers previewed by the data team: inside the haven, never for release."""
        return self.root / "previews"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        """Scratch space on the same file system, so finished files can be renamed into place."""
        return self.root / "tmp"

    @property
    def plans(self) -> Path:
        """Compiled validation SQL, sealed, reused by the next submit (collection/plan.py)."""
        return self.root / "plans"

    @property
    def uploads(self) -> Path:
        """Files the web portal received, each kept (0600) only until its job ends
        (carehaven.jobs): the one writer, not the web process, submits them."""
        return self.root / "uploads"

    @property
    def lock(self) -> Path:
        return self.root / ".writer.lock"

    def folders(self) -> tuple[Path, ...]:
        return (
            self.root,
            self.data_db.parent,
            self.landing,
            self.reports,
            self.keys,
            self.outputs,
            self.previews,
            self.logs,
            self.tmp,
            self.plans,
            self.uploads,
        )
