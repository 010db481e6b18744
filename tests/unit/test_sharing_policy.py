"""The sharing policy as data: its schema, its annotations, its loader and the agreement's days
(SHR-1 to SHR-11, CON-1; docs/design/0007-sharing-policy.md)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path

import cedarpy
import pytest

from carehaven.control.models import RecipientKind
from carehaven.errors import ConfigurationError, UsageError
from carehaven.governance.policy import (
    AgreementTerms,
    Decision,
    Reason,
    ShareRequest,
    decide,
    engine,
    load_policy_text,
    rules,
)
from carehaven.governance.policy.model import RECIPIENT_KINDS

REQUIREMENTS = Path(__file__).resolve().parents[2].parent / "shared/design/REQUIREMENTS.md"
TODAY = date(2025, 6, 30)


def _agreement(**changes: object) -> AgreementTerms:
    terms = AgreementTerms(
        id="A-7",
        tier="personal",
        fields={"ndtms-episode": ["age_band", "sex"], "cld-event": ["event_type"]},
        purposes=["service-monitoring"],
        lawful_bases=["6.1.e", "9.2.h"],
        starts_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31),
        revoked_on=None,
        uk_only=True,
        onward_sharing=False,
        sub_licensing=False,
        no_reidentification_signed=True,
        contract_ref="C-2025-017",
    )
    return dataclasses.replace(terms, **changes)  # type: ignore[arg-type]


def _request(**changes: object) -> ShareRequest:
    request = ShareRequest(
        recipient="NDEC",
        recipient_kind="processor",
        tier="personal",
        dataset="ndtms-episode",
        fields=["age_band", "sex"],
        purpose="service-monitoring",
        on=TODAY,
        agreement=_agreement(),
        consent=False,
    )
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


# ---- the policy file -------------------------------------------------------------------------


def test_schema_validates_the_policies() -> None:
    """sharing.cedar validates against sharing.cedarschema (Cedar's own validator)."""
    result = cedarpy.validate_policies(engine.policy_text(), engine.schema_text())
    assert result.validation_passed, [str(e) for e in result.errors]


def test_every_policy_is_annotated_with_a_known_requirement() -> None:
    """Every policy carries @id, @requirement and @text, and its requirement is an id of
    REQUIREMENTS.md; the text is one plain sentence fit for a privacy notice."""
    if not REQUIREMENTS.is_file():
        pytest.skip(f"the requirements catalogue is not at {REQUIREMENTS}")
    known = set(re.findall(r"^- ([A-Z]{3}-\d+) ", REQUIREMENTS.read_text("utf-8"), re.M))
    assert "SHR-3" in known
    for rule in rules():
        assert rule.id and rule.requirement and rule.text
        assert rule.requirement in known, (rule.id, rule.requirement)
        assert rule.text[0].isupper() and rule.text.endswith("."), rule.id
        assert rule.text.count(". ") == 0 and "\n" not in rule.text, rule.id
    covered = {rule.requirement for rule in rules()}
    # SHR-1 to SHR-11 and CON-1 (SHR-12, automated decisions, is not a sharing rule).
    assert covered >= {f"SHR-{n}" for n in range(1, 12)} | {"CON-1"}


def test_rules_are_in_file_order_with_unique_ids() -> None:
    """rules() lists every policy of sharing.cedar in file order, with its effect."""
    text = engine.policy_text()
    in_file = re.findall(r'^@id\("([^"]+)"\)', text, re.M)
    effects = re.findall(r"^(permit|forbid) \(", text, re.M)
    listed = rules()
    assert [r.id for r in listed] == in_file
    assert [r.effect for r in listed] == effects
    assert len(set(in_file)) == len(in_file)


def test_recipient_kinds_match_the_control_plane() -> None:
    """The policy's recipient kinds are exactly the control plane's RecipientKind values."""
    assert set(RECIPIENT_KINDS) == {k.value for k in RecipientKind}


def test_the_policy_is_loaded_once() -> None:
    """The policy set is parsed and validated once per process."""
    assert engine.loaded() is engine.loaded()


# ---- the loader refuses what it cannot trust -------------------------------------------------


def _refused(policy: str, schema: str | None = None) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_policy_text(policy, schema if schema is not None else engine.schema_text())
    message = info.value.message
    assert message.endswith("."), message
    return message


def test_a_policy_that_breaks_the_schema_is_refused() -> None:
    """A typo in an attribute name is caught by schema validation, not at decision time."""
    broken = engine.policy_text().replace('principal.kind == "public"', 'principal.knd == "x"')
    assert "does not validate against its schema" in _refused(broken)


def test_a_policy_that_does_not_parse_is_refused() -> None:
    assert "cannot be parsed" in _refused(engine.policy_text() + "\npermit (principal,")


def test_a_policy_without_annotations_is_refused() -> None:
    """Every policy must say which requirement it serves and how (SHR-11)."""
    bare = 'permit (principal, action == Action::"receive", resource);'
    assert "lacks its @id, @requirement, @text annotation" in _refused(bare)


def test_duplicate_ids_and_unknown_requirement_ids_are_refused() -> None:
    one = '@id("a") @requirement("SHR-1") @text("A.")\npermit (principal, action, resource);\n'
    assert "two policies" in _refused(one + one)
    odd = one.replace("SHR-1", "shr one")
    assert "not a requirement id" in _refused(odd)


def test_a_broken_schema_is_refused() -> None:
    assert "schema cannot be read" in _refused(engine.policy_text(), "entity Recipient = {")


# ---- the agreement's days (SHR-7) ------------------------------------------------------------


def test_a_revoked_agreement_denies() -> None:
    """An agreement revoked before or on the day of the decision shares nothing (SHR-7)."""
    for revoked in (TODAY - timedelta(days=30), TODAY):
        decision = decide(_request(agreement=_agreement(revoked_on=revoked)))
        assert not decision.allow and decision.requirements == ("SHR-7",)
        assert "revoked" in decision.reasons[0].text
    assert decide(_request(agreement=_agreement(revoked_on=TODAY + timedelta(days=1)))).allow


def test_an_agreement_starting_tomorrow_denies() -> None:
    """An agreement shares nothing before its first day, and does on it (SHR-7)."""
    tomorrow = decide(_request(agreement=_agreement(starts_on=TODAY + timedelta(days=1))))
    assert not tomorrow.allow and tomorrow.requirements == ("SHR-7",)
    assert decide(_request(agreement=_agreement(starts_on=TODAY))).allow


def test_an_agreement_shares_on_its_last_day_and_not_after() -> None:
    assert decide(_request(agreement=_agreement(expires_on=TODAY))).allow
    after = decide(_request(agreement=_agreement(expires_on=TODAY - timedelta(days=1))))
    assert not after.allow and after.requirements == ("SHR-7",)


# ---- the agreement's terms -------------------------------------------------------------------


def test_an_agreement_allows_its_tier_and_less_identifying_ones() -> None:
    """personal > de-personalised > anonymised > aggregate: an agreement covers its own tier and
    every less identifying one, never a more identifying one (SHR-8)."""
    research = _request(recipient_kind="research", purpose="service-monitoring")
    assert decide(dataclasses.replace(research, tier="de-personalised")).allow
    assert decide(dataclasses.replace(research, tier="anonymised")).allow
    narrow = dataclasses.replace(
        research, tier="de-personalised", agreement=_agreement(tier="anonymised")
    )
    decision = decide(narrow)
    assert not decision.allow and decision.requirements == ("SHR-8",)


def test_fields_are_checked_per_dataset() -> None:
    """A field allowed for another dataset does not count (data minimisation, SHR-7)."""
    decision = decide(_request(fields=["age_band", "event_type"]))
    assert not decision.allow and decision.requirements == ("SHR-7",)
    assert decide(_request(fields=["age_band"])).allow


def test_article_9_bases_named_by_the_notices() -> None:
    """9(2)(h), 9(2)(i) and 9(2)(j) each serve for health data; 6(1)(e) is always needed
    (SHR-11)."""
    for basis in ("9.2.h", "9.2.i", "9.2.j"):
        assert decide(_request(agreement=_agreement(lawful_bases=["6.1.e", basis]))).allow
    decision = decide(_request(agreement=_agreement(lawful_bases=["6.1.a", "9.2.a"])))
    assert not decision.allow and decision.requirements == ("SHR-11",)
    assert len(decision.reasons) == 2


def test_aggregate_needs_no_agreement_even_for_the_public() -> None:
    """000 §5.4: aggregate statistics may be published (PSE-5)."""
    decision = decide(_request(recipient_kind="public", tier="aggregate", agreement=None))
    assert decision.allow and decision.requirements == ("PSE-5",)


# ---- the decision's shape ----------------------------------------------------------------------


def test_decision_json_and_requirements() -> None:
    """A decision reads as {"decision", "reasons"}; its requirement ids are unique and in
    natural order."""
    decision = decide(_request(recipient_kind="police", agreement=None))
    assert decision.as_json()["decision"] == "deny"
    assert decision.requirements == ("SHR-1", "SHR-2", "SHR-3")
    reasons = decision.as_json()["reasons"]
    assert isinstance(reasons, list)
    assert all(set(r) == {"requirement", "text"} for r in reasons)
    texts = {rule.text for rule in rules()}
    assert all(r.text in texts for r in decision.reasons)
    made = Decision(False, (Reason("SHR-10", "a."), Reason("SHR-2", "b."), Reason("SHR-2", "c.")))
    assert made.requirements == ("SHR-2", "SHR-10")
    assert Reason("SHR-3", "x.").as_json() == {"requirement": "SHR-3", "text": "x."}


def test_an_allow_names_the_permits_that_applied() -> None:
    decision = decide(_request())
    assert decision.allow
    assert decision.as_json() == {
        "decision": "allow",
        "reasons": [{"requirement": "SHR-1", "text": rules()[1].text}],
    }


def test_nothing_permits_gives_a_default_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """When no permit applies and no forbid fired, the refusal still names what is missing."""
    only_aggregate = load_policy_text(
        '@id("agg") @requirement("PSE-5") @text("Aggregate data may go to anyone.")\n'
        'permit (principal, action, resource) when { resource.tier == "aggregate" };\n',
        engine.schema_text(),
    )
    monkeypatch.setattr(engine, "loaded", lambda: only_aggregate)
    decision = decide(_request())
    assert not decision.allow and decision.requirements == ("SHR-1",)
    assert decision.reasons[0].text.startswith("No rule permits personal data")


def test_unknown_kinds_and_tiers_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="recipient kind"):
        decide(_request(recipient_kind="journalist"))
    with pytest.raises(UsageError, match="tier"):
        decide(_request(tier="secret"))
    with pytest.raises(UsageError, match="agreement's tier"):
        decide(_request(agreement=_agreement(tier="everything")))
