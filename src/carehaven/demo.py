"""The demo: a fresh haven, a synthetic population, every file submitted and linked, a summary.

Later capabilities (identity, tiers, disclosure, ...) add their stage here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from carehaven.audit import verify
from carehaven.collection import submit
from carehaven.config import Settings
from carehaven.errors import UsageError
from carehaven.haven import Haven, init_haven
from carehaven.identity.counts import count_people
from carehaven.identity.link import link

DEMO_MARK = ".carehaven-demo"
COUNTED = ("ndtms-episode", "ips-episode", "cld-event")


@dataclass
class DatasetTotals:
    files: int = 0
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    findings: int = 0
    rejected_files: int = 0


@dataclass
class DemoResult:
    haven: Path
    returns: Path
    people: int
    datasets: dict[str, DatasetTotals] = field(default_factory=dict)
    audit_entries: int = 0
    audit_ok: bool = False
    linked_records: int = 0
    people_found: dict[str, int] = field(default_factory=dict)  # dataset -> unique people
    waiting_review: int = 0
    #: Headline tables published for the latest quarter: name -> (cells, primary, secondary).
    published: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    publications: Path | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "haven": str(self.haven),
            "returns": str(self.returns),
            "people": self.people,
            "datasets": {k: vars(v) for k, v in self.datasets.items()},
            "audit": {"ok": self.audit_ok, "entries": self.audit_entries},
            "identity": {
                "records": self.linked_records,
                "people": self.people_found,
                "waiting_review": self.waiting_review,
            },
            "published": {
                "folder": str(self.publications) if self.publications else None,
                "tables": {
                    n: {"cells": c, "suppressed_primary": p, "suppressed_secondary": q}
                    for n, (c, p, q) in self.published.items()
                },
            },
        }


def run(
    settings: Settings,
    *,
    people: int,
    seed: int,
    invalid_rate: float,
    progress: Callable[[str, int, int], None],
    actor: str,
) -> DemoResult:
    from carehaven.synth import synthesise

    root = settings.haven.resolve()
    returns = root.with_name(root.name + "-returns")
    _clear(root)
    _clear(returns)
    haven = init_haven(settings, actor=actor)
    (root / DEMO_MARK).write_text("made by carehaven demo; safe to delete\n")
    returns.mkdir(parents=True)
    (returns / DEMO_MARK).write_text("made by carehaven demo; safe to delete\n")

    result = synthesise(
        returns, people=people, seed=seed, invalid_rate=invalid_rate, progress=progress
    )
    for org in result.organisations:
        haven.add_organisation(org.code, org.kind, org.name, actor=actor)
    demo = DemoResult(haven=root, returns=returns, people=result.people)
    for i, f in enumerate(result.files, start=1):
        progress(f"submitting {f.dataset}", i, len(result.files))
        outcome = submit(
            haven, returns / f.path, dataset=f.dataset, org=f.org, period=f.period, actor=actor
        )
        totals = demo.datasets.setdefault(f.dataset, DatasetTotals())
        totals.files += 1
        totals.rows += outcome.rows_total
        totals.accepted += outcome.rows_accepted
        totals.rejected += outcome.rows_rejected
        totals.findings += outcome.findings
        totals.rejected_files += outcome.status == "rejected"
    progress("linking people", len(result.files), len(result.files))
    linked = link(haven, actor=actor)
    demo.linked_records, demo.waiting_review = linked.records, linked.waiting_review
    for dataset in COUNTED:
        demo.people_found[dataset] = count_people(haven, dataset).rows[0]["people"]
    demo.people_found["all datasets"] = linked.people
    _publish(haven, demo, max(f.period for f in result.files), progress, actor)
    check = verify(haven.engine)
    demo.audit_ok, demo.audit_entries = check.ok, check.entries
    haven.close()
    return demo


def _publish(
    haven: Haven,
    demo: DemoResult,
    period: str,
    progress: Callable[[str, int, int], None],
    actor: str,
) -> None:
    """The headline tables for the latest quarter, protected and checked (PSE-5, OUT-4)."""
    from carehaven.publish.definitions import definitions
    from carehaven.publish.publish import publish

    demo.publications = haven.paths.outputs / "publications" / period
    names = list(definitions())
    for i, name in enumerate(names, start=1):
        progress(f"publishing {name}", i, len(names))
        r = publish(haven, name, period, demo.publications, actor=actor)
        demo.published[name] = (r.cells, r.suppressed_primary, r.suppressed_secondary)


def _clear(folder: Path) -> None:
    """Remove an earlier demo's folder; never a folder the demo did not make."""
    if not folder.exists():
        return
    if not (folder / DEMO_MARK).exists():
        raise UsageError(
            f"{folder} exists and was not made by carehaven demo; "
            "choose another --haven-dir or remove it yourself."
        )
    shutil.rmtree(folder)
