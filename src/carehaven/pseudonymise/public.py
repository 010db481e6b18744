"""The tiers' ``Public`` model: what an extract wrote (``carehaven extract --json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.pseudonymise.extract import ExtractResult


class ExtractPublic(Public):
    extract: str
    artefact: str
    files: list[str]
    manifest: str
    tier: str
    rows: int
    people: int

    @classmethod
    def of(cls, r: ExtractResult) -> ExtractPublic:
        return cls(extract=r.extract_id, artefact=r.artefact, files=[str(f) for f in r.files],
                   manifest=str(r.manifest), tier=r.tier, rows=r.rows, people=r.people)
