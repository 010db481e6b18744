"""The sharing policy, evaluated by Cedar (docs/design/0007-sharing-policy.md).

The rules live in ``sharing.cedar`` and the shape of a request in ``sharing.cedarschema``; this
module loads and validates them once, turns a :class:`ShareRequest` into Cedar entities and
context, and reads the decision and the policies that determined it back into a
:class:`Decision`. No rule is written here: Cedar decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import cedarpy

from carehaven.errors import ConfigurationError, UsageError
from carehaven.governance.policy.model import (
    IDENTIFYING,
    IPS_DATASETS,
    RECIPIENT_KINDS,
    TIERS,
    AgreementTerms,
    Decision,
    Reason,
    RowScope,
    Rule,
    ShareRequest,
)

POLICY_FILE = "sharing.cedar"
SCHEMA_FILE = "sharing.cedarschema"
PARTNERS_FILE = "partners.json"
_ACTION = {"type": "Action", "id": "receive"}
_REQUIREMENT_ID = re.compile(r"^[A-Z]{3}-\d+$")
_POSITIONAL_ID = re.compile(r"^policy(\d+)$")

#: When no permit applies and no forbid fired, the refusal names what a permit would need.
_NOTHING_PERMITS: Mapping[str, Reason] = {
    "personal": Reason(
        "SHR-1",
        "No rule permits personal data to go to this recipient: it goes only to processors "
        "under contract, and IPS data to HMRC with the person's consent.",
    ),
    "de-personalised": Reason(
        "SHR-4",
        "No rule permits de-personalised data to go to this recipient: it goes only to trusted "
        "organisations that signed a contract not to re-identify anyone, to local authorities "
        "under a sub-licensing agreement, and IPS data to HMRC with the person's consent.",
    ),
    "anonymised": Reason(
        "SHR-5",
        "No rule permits anonymised data to go to this recipient: it goes only to recipients "
        "whose agreement permits this purpose.",
    ),
    "aggregate": Reason(
        "PSE-5",
        "No rule permits aggregate data to go to this recipient.",
    ),
}


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy set, its schema, and its rules read from their annotations."""

    policies: cedarpy.PolicySet
    schema: cedarpy.Schema
    rules: tuple[Rule, ...]
    #: Cedar's positional policy id ("policy0", ...) -> the rule it is.
    by_position: Mapping[str, Rule]


def _detail(text: str) -> str:
    """Cedar's message as a clause: one line, without its closing full stop."""
    return " ".join(text.split()).rstrip(".")


def _package_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def load_policy_text(policy_text: str, schema_text: str) -> LoadedPolicy:
    """Parse and validate a policy set against a schema (Cedar schema syntax).

    Raises :class:`ConfigurationError` when the schema cannot be read, when a policy does not
    parse or does not validate against the schema, or when a policy lacks its ``@id``,
    ``@requirement`` or ``@text`` annotation.
    """
    try:
        schema = cedarpy.Schema.from_str(schema_text)
    except ValueError as exc:
        raise ConfigurationError(
            f"The sharing policy schema cannot be read: {_detail(str(exc))}."
        ) from exc
    try:
        policy_set = cedarpy.PolicySet.from_str(policy_text)
        est = json.loads(cedarpy.policies_to_json_str(policy_text))
    except ValueError as exc:
        raise ConfigurationError(
            f"The sharing policy cannot be parsed: {_detail(str(exc))}."
        ) from exc
    result = cedarpy.validate_policies(policy_text, schema)
    if not result.validation_passed:
        names = result.id_annotations_by_policy_id
        detail = "; ".join(
            f"in policy {names.get(e.policy_id, e.policy_id)!r}: {_detail(e.error)}"
            if e.policy_id
            else _detail(e.error)
            for e in result.errors
        )
        raise ConfigurationError(
            f"The sharing policy does not validate against its schema: {detail}."
        )
    if est.get("templates"):
        raise ConfigurationError("The sharing policy must not contain templates.")
    rules, by_position = _read_rules(est.get("staticPolicies", {}))
    if not rules:
        raise ConfigurationError("The sharing policy holds no policies.")
    return LoadedPolicy(policy_set, schema, rules, by_position)


def _read_rules(
    static: Mapping[str, Mapping[str, object]],
) -> tuple[tuple[Rule, ...], dict[str, Rule]]:
    def position(policy_id: str) -> int:
        match = _POSITIONAL_ID.match(policy_id)
        if match is None:
            raise ConfigurationError("The sharing policy has a policy with an unexpected id.")
        return int(match.group(1))

    rules: list[Rule] = []
    by_position: dict[str, Rule] = {}
    seen: set[str] = set()
    for policy_id in sorted(static, key=position):
        policy = static[policy_id]
        raw = policy.get("annotations") or {}
        annotations = raw if isinstance(raw, dict) else {}
        number = position(policy_id) + 1
        missing = [k for k in ("id", "requirement", "text") if not annotations.get(k)]
        if missing:
            raise ConfigurationError(
                f"Policy number {number} of the sharing policy lacks its "
                f"{', '.join('@' + k for k in missing)} "
                f"annotation{'s' if len(missing) > 1 else ''}."
            )
        rule = Rule(
            id=str(annotations["id"]),
            requirement=str(annotations["requirement"]),
            text=str(annotations["text"]),
            effect=str(policy.get("effect")),
        )
        if rule.id in seen:
            raise ConfigurationError(
                f"The sharing policy has two policies with the @id {rule.id!r}; ids must be unique."
            )
        if not _REQUIREMENT_ID.match(rule.requirement):
            raise ConfigurationError(
                f"Policy {rule.id!r} of the sharing policy names {rule.requirement!r} as its "
                "requirement, which is not a requirement id such as SHR-3."
            )
        if rule.effect not in ("permit", "forbid"):
            raise ConfigurationError(f"Policy {rule.id!r} has an unknown effect.")
        seen.add(rule.id)
        rules.append(rule)
        by_position[policy_id] = rule
    return tuple(rules), by_position


@cache
def loaded() -> LoadedPolicy:
    """The packaged policy set, validated once per process."""
    return load_policy_text(_package_text(POLICY_FILE), _package_text(SCHEMA_FILE))


def rules() -> tuple[Rule, ...]:
    """Every policy in sharing.cedar, from its annotations, in file order."""
    return loaded().rules


@dataclass(frozen=True)
class Partner:
    """A partner the notices name (HMRC for IPS), as the policy's data holds it."""

    name: str  # the policy's own name for it, e.g. "hmrc"
    recipient: str  # the recipient code it is registered under
    kind: str
    title: str
    purposes: frozenset[str]
    #: "dataset/field" for every field it may receive (XCH-1).
    fields: frozenset[str] = frozenset()


@cache
def partners() -> tuple[Partner, ...]:
    """The named partners of ``partners.json``."""
    raw = json.loads(_package_text(PARTNERS_FILE))
    return tuple(
        Partner(name, str(p["recipient"]), str(p["kind"]), str(p["name"]),
                frozenset(p.get("purposes", ())),
                frozenset(f"{d}/{f}" for d, fs in p.get("fields", {}).items() for f in fs))
        for name, p in raw["partners"].items()
    )


def named_partner(recipient: str, kind: str) -> Partner | None:
    """The named partner a recipient is: its code and its kind must both match."""
    return next(
        (p for p in partners() if p.recipient == recipient.upper() and p.kind == kind), None
    )


def policy_text() -> str:
    """The text of sharing.cedar, for documents that quote it."""
    return _package_text(POLICY_FILE)


def schema_text() -> str:
    """The text of sharing.cedarschema."""
    return _package_text(SCHEMA_FILE)


# ---- requests ------------------------------------------------------------------------------


def _datetime(day: date) -> dict[str, object]:
    return {"__extn": {"fn": "datetime", "arg": day.isoformat()}}


def _check(request: ShareRequest) -> None:
    if request.recipient_kind not in RECIPIENT_KINDS:
        raise UsageError(
            f"The recipient kind {request.recipient_kind!r} is not one of: "
            f"{', '.join(RECIPIENT_KINDS)}."
        )
    if request.tier not in TIERS:
        raise UsageError(f"The tier {request.tier!r} is not one of: {', '.join(TIERS)}.")
    if request.agreement is not None and request.agreement.tier not in TIERS:
        raise UsageError(
            f"The agreement's tier {request.agreement.tier!r} is not one of: {', '.join(TIERS)}."
        )


def _agreement_entity(agreement: AgreementTerms) -> dict[str, object]:
    attrs: dict[str, object] = {
        "identifying": IDENTIFYING[agreement.tier],
        "datasets": sorted(agreement.fields),
        "fields": sorted(f"{ds}/{field}" for ds, fs in agreement.fields.items() for field in fs),
        "purposes": sorted(set(agreement.purposes)),
        "lawful_bases": sorted(set(agreement.lawful_bases)),
        "starts_on": _datetime(agreement.starts_on),
        "expires_on": _datetime(agreement.expires_on),
        "uk_only": agreement.uk_only,
        "onward_sharing": agreement.onward_sharing,
        "sub_licensing": agreement.sub_licensing,
        "no_reidentification_signed": agreement.no_reidentification_signed,
    }
    if agreement.revoked_on is not None:
        attrs["revoked_on"] = _datetime(agreement.revoked_on)
    attrs |= _scope_attrs("scope_", agreement.row_scope)
    attrs["contract"] = bool(agreement.contract_ref)
    return {"uid": {"type": "Agreement", "id": agreement.id}, "attrs": attrs, "parents": []}


def _scope_attrs(prefix: str, scope: RowScope) -> dict[str, object]:
    """A row scope as Cedar sees it: a set per dimension and whether it is limited at all."""
    return {
        f"{prefix}orgs": sorted(scope.orgs or ()),
        f"{prefix}all_orgs": scope.orgs is None,
        f"{prefix}periods": sorted(scope.periods or ()),
        f"{prefix}all_periods": scope.periods is None,
    }


def to_cedar(request: ShareRequest) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The Cedar request (principal, action, resource, context) and entities for a share."""
    _check(request)
    recipient = {"type": "Recipient", "id": request.recipient}
    artefact = {"type": "Artefact", "id": f"{request.dataset}/{request.tier}"}
    partner = named_partner(request.recipient, request.recipient_kind)
    who: dict[str, object] = {
        "kind": request.recipient_kind,
        "partner": partner.name if partner else "",
        "partner_purposes": sorted(partner.purposes) if partner else [],
        "partner_fields": sorted(partner.fields) if partner else [],
    }
    if request.recipient_org:
        who["org"] = request.recipient_org
    entities: list[dict[str, object]] = [
        {"uid": recipient, "attrs": who, "parents": []},
        {
            "uid": artefact,
            "attrs": {
                "tier": request.tier,
                "identifying": IDENTIFYING[request.tier],
                "dataset": request.dataset,
                "ips_data": request.dataset in IPS_DATASETS,
                "fields": sorted({f"{request.dataset}/{f}" for f in request.fields}),
                **_scope_attrs("", request.rows),
            },
            "parents": [],
        },
    ]
    context: dict[str, object] = {
        "on": _datetime(request.on),
        "purpose": request.purpose,
        "consent": request.consent,
    }
    if request.agreement is not None:
        entities.append(_agreement_entity(request.agreement))
        context["agreement"] = {"__entity": {"type": "Agreement", "id": request.agreement.id}}
    cedar_request: dict[str, object] = {
        "principal": recipient,
        "action": _ACTION,
        "resource": artefact,
        "context": context,
    }
    return cedar_request, entities


def decide(request: ShareRequest) -> Decision:
    """Allow or deny a share, with the rules behind the answer; Cedar makes the decision."""
    policy = loaded()
    cedar_request, entities = to_cedar(request)
    result = cedarpy.is_authorized(cedar_request, policy.policies, entities, schema=policy.schema)
    errors = result.diagnostics.errors
    if result.decision == cedarpy.Decision.NoDecision or errors:
        # A policy that fails to evaluate is skipped by Cedar, which for a forbid would fail
        # open; refuse to answer instead.
        raise ConfigurationError(
            "The sharing policy could not be evaluated for this request: "
            f"{'; '.join(_detail(str(e)) for e in errors) or 'no decision'}."
        )
    fired = [policy.by_position[p] for p in result.diagnostics.reasons if p in policy.by_position]
    order = {rule.id: i for i, rule in enumerate(policy.rules)}
    fired.sort(key=lambda rule: order[rule.id])
    reasons = tuple(Reason(rule.requirement, rule.text) for rule in fired)
    allow = result.decision == cedarpy.Decision.Allow
    if not allow and not reasons:
        reasons = (_NOTHING_PERMITS[request.tier],)
    return Decision(allow=allow, reasons=reasons)
