"""The sharing policy against the notices, over the full decision matrix (issue 6, part 3;
widened by issue 12 for the named HMRC partner, processor contracts and row scopes).

Every combination of recipient (8 kinds, and HMRC as the named partner: 9) x tier (4) x
agreement state (15) x consent (2) x dataset (5) x row scope (4) is decided by the Cedar policy
and compared with ``expected`` below, which is written from the privacy notices in
../shared/seeds, not from sharing.cedar: allow or deny, and the exact set of requirement ids
given as reasons. Judgements the notices leave open are those of
docs/design/0007-sharing-policy.md, each marked "ADR 0007" where the table relies on one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

from carehaven.governance.policy import AgreementTerms, ShareRequest, decide
from carehaven.governance.policy.model import RowScope

KINDS = (
    "processor",
    "research",
    "government",
    "local-authority",
    "partner",
    "hmrc",  # kind partner, registered under the code partners.json names (issue 12)
    "police",
    "court",
    "public",
)
TIERS = ("personal", "de-personalised", "anonymised", "aggregate")
DATASETS = ("ndtms-episode", "ndtms-review", "ips-episode", "cld-event", "hmrc-return")
STATES = (
    "none",
    "active",
    "expired",
    "not-started",
    "revoked",
    "wrong-purpose",
    "wrong-fields",
    "wrong-dataset",
    "tier-too-low",
    "outside-uk",
    "no-art6",
    "no-art9",
    "no-undertaking",
    "no-sub-licence",
    "no-contract",
)
#: Which rows: no limit; the recipient's own organisation's rows (agreement and artefact);
#: an artefact wider than its agreement's scope; another organisation's rows.
SCOPES = ("unscoped", "own", "wider", "other")
#: The local authority recipient's own organisation, and another one.
OWN_ORG, OTHER_ORG = "E09000001", "E09000002"
#: 001 governs these: the IPS episodes and HMRC's return about IPS participants (ADR 0007).
IPS = {"ips-episode", "hmrc-return"}
#: Government departments and partners; only HMRC, named in the policy's data, is the IPS
#: partner (000 §5.1: "you are receiving IPS, we will share your information with HMRC").
GOVERNMENT = {"government", "partner", "hmrc"}
IDENTIFIABLE = {"personal", "de-personalised"}

TODAY = date(2025, 6, 30)
PURPOSE = "service-monitoring"
#: HMRC's one purpose (000 §7, 001: "HMRC will only use your data for this purpose", XCH-4).
HMRC_PURPOSE = "ips-employment-outcomes"
#: What HMRC may receive (001: "your initials, date of birth, post code and National Insurance
#: number"; XCH-1): an HMRC request asks for two of them.
HMRC_FIELDS = ("initials", "nino")
FIELDS = ("age_band", "sex", "local_authority")
LESS_IDENTIFYING = {
    "personal": "de-personalised",
    "de-personalised": "anonymised",
    "anonymised": "aggregate",
    "aggregate": "aggregate",
}


# ---- the expectation table, from the notices ------------------------------------------------


def expected(
    kind: str, tier: str, state: str, consent: bool, dataset: str, scope: str = "unscoped"
) -> set[str]:
    """The requirement ids that refuse this share; an empty set means it is allowed."""
    ips = dataset in IPS
    hmrc = kind == "hmrc"
    if tier == "aggregate":
        # 000 §5.4: aggregate data "We publish this type of data ... When we produce data that
        # has small numbers of people, we hide these numbers" -- to anyone, agreement or not.
        return set()
    why: set[str] = set()

    # -- who may receive record-level data at all
    if kind in ("police", "court"):
        # 000 §5.1 "We will never share personal data with the police or the courts." and
        # §5.2 the same for de-personalised data; anonymised too by issue 6 (ADR 0007).
        why.add("SHR-3")
    if kind == "public":
        # 003: "NHS Digital will only disseminate the information ... to the organisations
        # listed"; only aggregate data is published (000 §5.4).
        why.add("SHR-8")

    # -- personal data
    if tier == "personal":
        # 000 §5.1: "We will share personal data with organisations and people working under a
        # contract or a data sharing agreement with us" (processors) and "We will not share
        # personal data with other government departments, other organisations or
        # individuals, except if: you are receiving IPS, we will share your information with
        # HMRC": HMRC only, not any department or partner. "Specific permission" outside IPS
        # and a move of the whole collection are not modelled (ADR 0007).
        if kind != "processor" and not (ips and hmrc):
            why.add("SHR-2")
        # 000 §5.1: "organisations and people working under a contract": a processor's
        # agreement records the contract.
        if kind == "processor" and state == "no-contract":
            why.add("SHR-1")
    if tier in IDENTIFIABLE and ips and not hmrc:
        # 001: "Your information will only be shared with members of the DHSC IPS project
        # team ... Only they will see any information that could identify you"; and HMRC.
        # A pseudonym still identifies, so de-personalised IPS data is identifiable too.
        why.add("SHR-6")
    if tier in IDENTIFIABLE and ips and hmrc and not consent:
        # 000 §2.10: "This will only happen if you consent"; 001 consent form.
        why.add("CON-1")
    if hmrc and dataset != "ips-episode":
        # 001: HMRC receives "your initials, date of birth, post code and National Insurance
        # number" from the IPS episodes, and nothing about treatment (XCH-1).
        why.add("XCH-1")

    # -- de-personalised data
    if tier == "de-personalised":
        # 000 §5.2: "We will not share de-personalised data with other government departments
        # unless you give us specific permission" (for IPS, the consent form).
        if kind in GOVERNMENT and not (ips and hmrc and consent):
            why.add("SHR-4")
        # 000 §5.2: "Any organisation or individual that we share de-personalised data with are
        # required to sign a contract to confirm that: they will not try to work out who the
        # information is about".
        if state == "no-undertaking":
            why.add("SHR-4")
        # 002: local authorities use the dashboard "where sub-licensing agreements are in place".
        if kind == "local-authority" and state == "no-sub-licence":
            why.add("SHR-9")
    if tier in IDENTIFIABLE and kind == "local-authority" and scope != "own":
        # 002: client level data is "shared back to" each authority: its own rows only.
        why.add("SHR-9")

    # -- the agreement (every tier but aggregate)
    if state == "none":
        # 000 §5.1 "under a contract or a data sharing agreement"; 003 "specific applications".
        why.add("SHR-1")
    elif state in ("expired", "not-started", "revoked"):
        # 002: data is "retained until the expiry of the data sharing agreement"; access is
        # "managed through a regular review process".
        why.add("SHR-7")
    elif state in ("wrong-purpose", "wrong-fields", "wrong-dataset"):
        # 002: "Access is only granted for uses permitted by the terms of the data sharing
        # agreement": its purposes, datasets and fields (data minimisation).
        why.add("SHR-7")
    elif state == "tier-too-low":
        # 003: disseminated only "in response to specific applications", "pseudonymised
        # personal data where an appropriate legal basis exists or ... anonymised".
        why.add("SHR-8")
    elif state == "outside-uk":
        # 000 §7 "Your data will not be transferred outside of the UK."
        why.add("SHR-10")
    elif state == "no-art6" or (state == "no-art9" and tier in IDENTIFIABLE):
        # 000 §3 / 001 / 002: Article 6(1)(e); Article 9(2)(h), (i), (j) for health data.
        why.add("SHR-11")
    if state != "none" and scope == "wider":
        # 002: access only "for uses permitted by the terms of the data sharing agreement":
        # rows outside the organisations or periods it covers are outside its terms.
        why.add("SHR-7")
    return why


def permitted_by(kind: str, tier: str, dataset: str) -> set[str]:
    """For an allowed share, the requirement id of the rule that permits it."""
    if tier == "aggregate":
        return {"PSE-5"}  # 000 §5.4
    if tier == "anonymised":
        return {"SHR-5"}  # 000 §5.3: "if it's consistent with the purposes"
    if kind == "hmrc" and dataset in IPS:
        return {"CON-1"}  # 001 consent form
    if tier == "personal":
        return {"SHR-1"}  # 000 §5.1: processors under contract
    if kind == "local-authority":
        return {"SHR-9"}  # 002: sub-licensing agreements
    return {"SHR-4"}  # 000 §5.2: trusted organisations


# ---- building the requests ------------------------------------------------------------------


def agreement(
    state: str, tier: str, dataset: str, purpose: str = PURPOSE, scope: str = "unscoped",
    fields: tuple[str, ...] = FIELDS,
) -> AgreementTerms | None:
    if state == "none":
        return None
    terms: dict[str, object] = {
        "tier": tier,
        "fields": {dataset: list(fields)},
        "purposes": [purpose],
        "lawful_bases": ["6.1.e", "9.2.h", "9.2.j"],
        "starts_on": date(2025, 1, 1),
        "expires_on": date(2025, 12, 31),
        "revoked_on": None,
        "uk_only": True,
        "onward_sharing": False,
        "sub_licensing": True,
        "no_reidentification_signed": True,
        "contract_ref": "C-2025-017",
        "row_scope": {
            "unscoped": RowScope(),
            "own": RowScope(orgs=(OWN_ORG,)),
            "wider": RowScope(orgs=(OWN_ORG,)),
            "other": RowScope(orgs=(OTHER_ORG,)),
        }[scope],
    }
    change: dict[str, dict[str, object]] = {
        "active": {},
        "expired": {"starts_on": date(2024, 1, 1), "expires_on": date(2024, 12, 31)},
        "not-started": {"starts_on": TODAY + timedelta(days=1)},
        "revoked": {"revoked_on": date(2025, 5, 1)},
        "wrong-purpose": {"purposes": ["marketing"]},
        "wrong-fields": {"fields": {dataset: list(fields[:-1])}},
        "wrong-dataset": {"fields": {"other-dataset": list(fields)}},
        "tier-too-low": {"tier": LESS_IDENTIFYING[tier]},
        "outside-uk": {"uk_only": False},
        "no-art6": {"lawful_bases": ["9.2.h", "9.2.j"]},
        "no-art9": {"lawful_bases": ["6.1.e"]},
        "no-undertaking": {"no_reidentification_signed": False},
        "no-sub-licence": {"sub_licensing": False},
        "no-contract": {"contract_ref": None},
    }
    terms.update(change[state])
    return AgreementTerms(id="A-7", **terms)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    kind: str
    tier: str
    state: str
    consent: bool
    dataset: str
    scope: str = "unscoped"

    def request(self, purpose: str | None = None) -> ShareRequest:
        hmrc = self.kind == "hmrc"
        purpose = purpose or (HMRC_PURPOSE if hmrc else PURPOSE)
        rows = {
            "unscoped": RowScope(),
            "own": RowScope(orgs=(OWN_ORG,)),
            "wider": RowScope(),
            "other": RowScope(orgs=(OTHER_ORG,)),
        }[self.scope]
        return ShareRequest(
            recipient="HMRC" if hmrc else "R-TEST",
            recipient_kind="partner" if hmrc else self.kind,
            tier=self.tier,
            dataset=self.dataset,
            fields=list(HMRC_FIELDS if hmrc else FIELDS),
            purpose=purpose,
            on=TODAY,
            agreement=agreement(
                self.state, self.tier, self.dataset, HMRC_PURPOSE if hmrc else PURPOSE,
                self.scope, HMRC_FIELDS if hmrc else FIELDS,
            ),
            consent=self.consent,
            rows=rows,
            recipient_org=OWN_ORG if self.kind == "local-authority" else None,
        )


CASES = [
    Case(*c)
    for c in itertools.product(KINDS, TIERS, STATES, (True, False), DATASETS, SCOPES)
]


# ---- the tests ------------------------------------------------------------------------------


def test_matrix_is_full() -> None:
    """The matrix walks every recipient, tier, agreement state, consent, dataset and row scope
    (SHR-1..SHR-11, CON-1, XCH-4)."""
    assert len(CASES) == 9 * 4 * 15 * 2 * 5 * 4 == 21600
    assert len(set(CASES)) == len(CASES)


def test_every_decision_matches_the_notices() -> None:
    """Each of the 21,600 decisions agrees with the table written from the notices: allow or
    deny, and exactly the requirement ids expected (SHR-1 to SHR-11, CON-1, PSE-5)."""
    wrong: list[str] = []
    for case in CASES:
        decision = decide(case.request())
        refused = expected(
            case.kind, case.tier, case.state, case.consent, case.dataset, case.scope
        )
        want_allow = not refused
        want = permitted_by(case.kind, case.tier, case.dataset) if want_allow else refused
        got = set(decision.requirements)
        if decision.allow != want_allow or got != want:
            wrong.append(
                f"{case}: expected {'allow' if want_allow else 'deny'} {sorted(want)}, "
                f"got {'allow' if decision.allow else 'deny'} {sorted(got)}"
            )
        assert decision.reasons, f"{case}: a decision without reasons"
        assert all(r.text.endswith(".") for r in decision.reasons)
    assert not wrong, f"{len(wrong)} decisions differ from the notices:\n" + "\n".join(wrong[:25])


def test_each_kind_meets_both_answers() -> None:
    """The matrix is not trivially one-sided: every kind is both allowed and refused something,
    and police, courts and the public are allowed aggregate data only (SHR-3, SHR-8, PSE-5)."""
    for kind in KINDS:
        allowed = {
            c.tier
            for c in CASES
            if c.kind == kind
            and not expected(c.kind, c.tier, c.state, c.consent, c.dataset, c.scope)
        }
        assert "aggregate" in allowed
        if kind in ("police", "court", "public"):
            assert allowed == {"aggregate"}
        else:
            assert len(allowed) >= 2, kind


# ---- the key cases, stated on their own ----------------------------------------------------


def _decide(kind: str, tier: str, state: str, consent: bool, dataset: str) -> tuple[bool, set[str]]:
    decision = decide(Case(kind, tier, state, consent, dataset).request())
    return decision.allow, set(decision.requirements)


def test_police_and_courts_refused_every_tier_but_aggregate() -> None:
    """000 §5.1, §5.2 and issue 6: police and courts never receive personal, de-personalised or
    anonymised data, whatever the agreement or consent says (SHR-3)."""
    for kind, tier, consent, dataset in itertools.product(
        ("police", "court"),
        ("personal", "de-personalised", "anonymised"),
        (True, False),
        DATASETS,
    ):
        allow, why = _decide(kind, tier, "active", consent, dataset)
        assert not allow and "SHR-3" in why
        assert _decide(kind, "aggregate", "none", consent, dataset)[0]


def test_no_agreement_refused_with_shr_1() -> None:
    """000 §5.1: record-level data goes only under a contract or data sharing agreement (SHR-1)."""
    for tier in ("personal", "de-personalised", "anonymised"):
        allow, why = _decide("processor", tier, "none", True, "ndtms-episode")
        assert not allow and why == {"SHR-1"}


def test_agreement_out_of_force_refused_with_shr_7() -> None:
    """002: access only under the terms of an agreement in force (SHR-7)."""
    for state in ("expired", "not-started", "revoked"):
        allow, why = _decide("research", "anonymised", state, False, "cld-event")
        assert not allow and why == {"SHR-7"}


def test_wrong_purpose_and_fields_refused() -> None:
    """A purpose, field or dataset the agreement does not list is refused under SHR-7 (the
    agreement's terms; data minimisation)."""
    assert _decide("research", "anonymised", "wrong-purpose", False, "ndtms-episode") == (
        False,
        {"SHR-7"},
    )
    for state in ("wrong-fields", "wrong-dataset"):
        assert _decide("research", "anonymised", state, False, "ndtms-episode") == (
            False,
            {"SHR-7"},
        )


def test_personal_ips_goes_to_hmrc_only_with_consent() -> None:
    """000 §5.1 and 001: personal data leaves for a government department only as IPS data
    for HMRC, with consent; no other department or partner qualifies (SHR-2, SHR-6, CON-1)."""
    assert _decide("government", "personal", "active", True, "ndtms-episode") == (
        False,
        {"SHR-2"},
    )
    for kind in ("government", "partner"):
        for consent in (True, False):
            assert _decide(kind, "personal", "active", consent, "ips-episode") == (
                False,
                {"SHR-2", "SHR-6"},
            )
    # De-personalised IPS data still identifies: research receives IPS data anonymised only.
    assert _decide("research", "de-personalised", "active", True, "ips-episode") == (
        False, {"SHR-6"})
    assert _decide("research", "anonymised", "active", False, "ips-episode") == (
        True, {"SHR-5"})
    assert _decide("hmrc", "personal", "active", False, "ips-episode") == (False, {"CON-1"})
    assert _decide("hmrc", "personal", "active", True, "ips-episode") == (True, {"CON-1"})
    # A recipient called HMRC but registered as a department is not the partner.
    wrong_kind = Case("government", "personal", "active", True, "ips-episode").request()
    assert not decide(ShareRequest(**{**vars(wrong_kind), "recipient": "HMRC"})).allow


def test_hmrc_receives_for_its_purpose_only() -> None:
    """000 §7, 001: "HMRC will only use your data for this purpose" (XCH-4)."""
    case = Case("hmrc", "personal", "active", True, "ips-episode")
    decision = decide(case.request(purpose="research"))
    assert not decision.allow and "XCH-4" in decision.requirements
    assert decide(case.request()).allow


def test_hmrc_receives_the_fields_named_for_it_only() -> None:
    """001, XCH-1: initials, date of birth, sex, postcode and NI number; nothing about
    treatment, whatever the agreement lists."""
    wide = Case("hmrc", "personal", "active", True, "ips-episode").request()
    more = ShareRequest(**{**vars(wide), "fields": ["initials", "nino", "job_start_date"]})
    more_terms = AgreementTerms(**{**vars(wide.agreement),
                                   "fields": {"ips-episode": list(more.fields)}})
    decision = decide(ShareRequest(**{**vars(more), "agreement": more_terms}))
    assert not decision.allow and decision.requirements == ("XCH-1",)


def test_personal_data_to_a_processor_needs_a_contract() -> None:
    """000 §5.1: personal data goes to organisations "working under a contract" (SHR-1)."""
    assert _decide("processor", "personal", "active", True, "ndtms-episode") == (
        True, {"SHR-1"})
    assert _decide("processor", "personal", "no-contract", True, "ndtms-episode") == (
        False, {"SHR-1"})
    assert _decide("processor", "personal", "active", True, "ips-episode") == (
        False, {"SHR-6"})


def test_a_local_authority_gets_its_own_rows_only() -> None:
    """002: client level data is shared back to each authority under its sub-licence: its
    own rows (SHR-9), and never rows beyond what the agreement covers (SHR-7)."""
    def decided(scope: str) -> tuple[bool, set[str]]:
        d = decide(Case("local-authority", "de-personalised", "active", True, "cld-event",
                        scope).request())
        return d.allow, set(d.requirements)

    assert decided("own") == (True, {"SHR-9"})
    assert decided("unscoped") == (False, {"SHR-9"})
    assert decided("other") == (False, {"SHR-9"})
    assert decided("wider") == (False, {"SHR-7", "SHR-9"})
    # Anonymised data may cover every authority (benchmarking), within the agreement.
    d = decide(Case("local-authority", "anonymised", "active", True, "cld-event",
                    "unscoped").request())
    assert d.allow
