"""SHR-6: identifiable IPS data is seen only by the trained IPS project team.

Every function that hands a person identifiable IPS rows (a preview or a release of IPS data at
the personal or de-personalised tier, later the partner exchange) calls ``guard`` with the
person acting, whatever door they came through, so the check cannot be skipped by a command
that forgets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carehaven.access.permissions import Permission
from carehaven.governance.policy.model import IPS_DATASETS

if TYPE_CHECKING:
    from carehaven.access.users import Actor
    from carehaven.haven import Haven

#: The tiers in which IPS data still identifies people (pseudonymised data is personal data).
IDENTIFIABLE = frozenset({"personal", "de-personalised"})


def identifiable(dataset: str, tier: str) -> bool:
    return dataset in IPS_DATASETS and tier in IDENTIFIABLE


def guard(haven: Haven, who: Actor, dataset: str, tier: str) -> None:
    """Refuse (exit 13, audited) anyone without read-ips-identifiable for identifiable IPS."""
    if identifiable(dataset, tier):
        from carehaven.access.users import require

        require(haven, who, Permission.READ_IPS_IDENTIFIABLE)
