"""Each fixed set of values is one enum in control.kinds, and the database CHECK constraint on
its column (control.models) names exactly that enum's values."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import get_args

import pytest
from sqlalchemy import CheckConstraint

from carehaven.control import kinds
from carehaven.control.models import Base

#: Every CHECK in the models: (table, column) -> the enum its values come from.
CONSTRAINED: dict[str, tuple[str, str, type[StrEnum]]] = {
    "ck_org_kind": ("organisations", "kind", kinds.OrgKind),
    "ck_submission_status": ("submissions", "status", kinds.SubmissionStatus),
    "ck_link_pair_status": ("link_pairs", "status", kinds.LinkPairStatus),
    "ck_link_pair_decision": ("link_pairs", "decision", kinds.LinkDecision),
    "ck_extract_tier": ("extracts", "tier", kinds.Tier),
    "ck_recipient_kind": ("recipients", "kind", kinds.RecipientKind),
    "ck_agreement_tier": ("agreements", "tier", kinds.Tier),
    "ck_release_tier": ("releases", "tier", kinds.Tier),
    "ck_release_status": ("releases", "status", kinds.ReleaseStatus),
    "ck_release_decision": ("releases", "decision", kinds.ReleaseDecision),
    "ck_role_grant_role": ("role_grants", "role", kinds.Role),
    "ck_artefact_kind": ("artefacts", "kind", kinds.ArtefactKind),
    "ck_artefact_tier": ("artefacts", "tier", kinds.Tier),
    "ck_feedback_hold_status": ("feedback_holds", "status", kinds.FeedbackHoldStatus),
    "ck_feedback_hold_reason": ("feedback_holds", "reason", kinds.FeedbackHoldReason),
    "ck_job_state": ("jobs", "state", kinds.JobState),
    "ck_job_kind": ("jobs", "kind", kinds.JobKind),
    "ck_job_outcome": ("jobs", "outcome", kinds.JobOutcome),
}


def quoted(sql: str) -> set[str]:
    """The string literals of a CHECK's SQL: the values it allows."""
    return set(re.findall(r"'([^']*)'", sql))


def model_checks() -> dict[str, tuple[str, str]]:
    return {
        str(c.name): (c.table.name, str(c.sqltext))
        for table in Base.metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }


def test_every_check_in_the_models_is_one_this_test_knows() -> None:
    assert set(model_checks()) == set(CONSTRAINED)


@pytest.mark.parametrize("name", sorted(CONSTRAINED))
def test_a_check_allows_exactly_its_enums_values(name: str) -> None:
    table, column, kind = CONSTRAINED[name]
    found_table, sql = model_checks()[name]
    assert found_table == table
    assert sql.startswith(column + " ")
    assert quoted(sql) == {k.value for k in kind}


def test_the_tier_lists_are_the_tier_enum() -> None:
    from carehaven.governance.collections import TIER_ORDER
    from carehaven.governance.policy.model import IDENTIFYING, RECIPIENT_KINDS, TIERS
    from carehaven.pseudonymise import extract

    order = tuple(k.value for k in kinds.Tier)
    assert TIERS == extract.TIERS == TIER_ORDER == order
    assert set(IDENTIFYING) == set(order)
    assert set(extract.EXTRACTABLE) | set(extract.RELEASABLE) <= set(order)
    assert tuple(k.value for k in kinds.RecipientKind) == RECIPIENT_KINDS


def test_the_artefact_kind_type_names_the_artefact_kinds() -> None:
    from carehaven.governance.artefact import LEAVING, Kind

    assert set(get_args(Kind)) == {k.value for k in kinds.ArtefactKind}
    assert {k.value for k in kinds.ArtefactKind} - {"preview"} == LEAVING


def test_kinds_imports_without_sqlalchemy() -> None:
    import subprocess
    import sys

    code = ("import sys; import carehaven.control.kinds; "
            "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
