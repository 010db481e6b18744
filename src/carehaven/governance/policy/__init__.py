"""The sharing policy as data: Cedar rules for SHR-1 to SHR-11 and CON-1 (ADR 0007).

``decide(ShareRequest)`` answers allow or deny with the requirement ids and sentences behind it;
``rules()`` lists every policy of ``sharing.cedar`` from its annotations.
"""

from carehaven.governance.policy.engine import decide, load_policy_text, rules
from carehaven.governance.policy.model import (
    AgreementTerms,
    Decision,
    Reason,
    Rule,
    ShareRequest,
)

__all__ = [
    "AgreementTerms",
    "Decision",
    "Reason",
    "Rule",
    "ShareRequest",
    "decide",
    "load_policy_text",
    "rules",
]
