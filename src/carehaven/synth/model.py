"""The public result types of :func:`carehaven.synth.synthesise`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ORG_KINDS = (
    "treatment-service",
    "young-peoples-service",
    "local-authority",
    "criminal-justice-team",
    "prison",
    "secure-setting",
    "partner",
    "recipient",
)


@dataclass(frozen=True)
class SynthOrganisation:
    code: str  # e.g. "P001", "E08000025"
    kind: str  # one of ORG_KINDS
    name: str


@dataclass(frozen=True)
class SynthFile:
    path: str  # relative to the out folder, POSIX, e.g. "ndtms-episode/P001_2025Q2.csv"
    dataset: str
    org: str
    period: str  # "2025Q2"
    rows: int


@dataclass(frozen=True)
class SynthResult:
    out: Path
    organisations: tuple[SynthOrganisation, ...]
    files: tuple[SynthFile, ...]
    people: int
    planted_invalid: int
