"""One return per organisation, dataset and stretch of time (issue 13 item 12).

A dataset that may be returned monthly or quarterly (ndtms-episode) must not hold a month in
force beside the quarter that contains it: both would be counted, so every row of June 2025
would be there twice. A return whose period overlaps a different period already in force for
the same organisation and dataset is refused before anything is read or landed; the provider
returns the period in force again (which supersedes it) or keeps to one cadence.
"""

from __future__ import annotations

from carehaven.collection import ledger
from carehaven.collection.period import Period, parse_period
from carehaven.errors import UsageError
from carehaven.haven import Haven


def overlaps(a: Period, b: Period) -> bool:
    return a.start <= b.end and b.start <= a.end


def require_no_overlap(haven: Haven, org: str, dataset: str, when: Period) -> None:
    """Refuse ``when`` if another period overlapping it is in force for ``org`` and ``dataset``."""
    in_force = [s for s in ledger.in_force(haven.rows, org, dataset) if s.period != when.label]
    clash = sorted(
        (s for s in in_force if overlaps(parse_period(s.period), when)),
        key=lambda s: s.period,
    )
    if not clash:
        return
    periods = ", ".join(s.period for s in clash[:6]) + (
        f" and {len(clash) - 6} more" if len(clash) > 6 else "")
    ids = ", ".join(s.id for s in clash[:6])
    several = len(clash) > 1
    raise UsageError(
        f"{org} already has {dataset} for {periods} in force ({ids}), which overlap"
        f"{'' if several else 's'} {when.label}: both would be counted, so the rows of the "
        f"overlap would be there twice. Return {'those periods' if several else periods} "
        "again instead, or keep to one cadence. Nothing was landed."
    )
