"""The governance package's ``Public`` models: recipients, agreements, releases and the access
review, as ``--json`` prints them and the web API sends them (issue 14 part 0). Dates are ISO
strings and a release's reasons are the policy's own words, so the JSON keeps the keys the
command line printed before these models existed."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from carehaven.public import Public

if TYPE_CHECKING:
    from carehaven.control.models import Agreement, Recipient, Release
    from carehaven.governance.policy import Decision
    from carehaven.governance.review import Review


class Scope(Public):
    """Which rows: the submitting organisations and the periods (empty: every one)."""

    orgs: list[str]
    periods: list[str]


class ReasonPublic(Public):
    """One of the policy's reasons for allowing or denying: the requirement and why."""

    requirement: str
    text: str


class RecipientPublic(Public):
    code: str
    name: str
    kind: str
    org: str | None
    created_at: str

    @classmethod
    def of(cls, row: Recipient) -> RecipientPublic:
        return cls(code=row.code, name=row.name, kind=row.kind, org=row.org_code,
                   created_at=row.created_at.isoformat(timespec="seconds"))


class AgreementPublic(Public):
    agreement_id: str
    recipient: str
    tier: str
    datasets: list[str]
    fields: dict[str, list[str]]
    purposes: list[str]
    lawful_bases: list[str]
    starts_on: str
    expires_on: str
    uk_only: bool
    onward_sharing: bool
    sub_licensing: bool
    no_reidentification_signed: bool
    revoked_on: str | None
    #: Today: active, not-yet, expired or revoked.
    state: str
    row_scope: Scope
    contract_ref: str | None

    @classmethod
    def of(cls, row: Agreement, on: date) -> AgreementPublic:
        from carehaven.governance.sharing import state

        scope = row.row_scope or {}
        return cls(
            agreement_id=row.label, recipient=row.recipient, tier=row.tier,
            datasets=sorted(row.fields), fields={k: list(v) for k, v in row.fields.items()},
            purposes=list(row.purposes), lawful_bases=list(row.lawful_bases),
            starts_on=row.starts_on.isoformat(), expires_on=row.expires_on.isoformat(),
            uk_only=row.uk_only, onward_sharing=row.onward_sharing,
            sub_licensing=row.sub_licensing,
            no_reidentification_signed=row.no_reidentification_signed,
            revoked_on=row.revoked_on.isoformat() if row.revoked_on else None,
            state=state(row, on),
            row_scope=Scope(orgs=list(scope.get("orgs", [])),
                            periods=list(scope.get("periods", []))),
            contract_ref=row.contract_ref,
        )


class ReleasePublic(Public):
    """A release: what, for whom, the policy's decision and reasons, who approved, and its
    lineage (the extract's files, the manifest, how many rows about how many people)."""

    release_id: str
    #: proposed, denied or written.
    status: str
    decision: str
    reasons: list[ReasonPublic]
    agreement: str | None
    recipient: str
    dataset: str
    tier: str
    fields: list[str]
    purpose: str
    proposed_by: str
    proposed_at: str
    approved_by: str | None
    approved_at: str | None
    files: list[str]
    manifest: str | None
    rows: int
    people: int
    row_scope: Scope
    artefact: str | None

    @classmethod
    def of(cls, row: Release, agreement_label: str | None = None) -> ReleasePublic:
        from carehaven.governance.policy.model import RowScope

        return cls(
            release_id=row.label, status=row.status, decision=row.decision,
            reasons=[ReasonPublic(requirement=str(r["requirement"]), text=str(r["text"]))
                     for r in row.reasons],
            agreement=agreement_label or (f"A-{row.agreement_id}" if row.agreement_id else None),
            recipient=row.recipient, dataset=row.dataset, tier=row.tier,
            fields=list(row.fields), purpose=row.purpose, proposed_by=row.proposed_by,
            proposed_at=row.proposed_at.isoformat(timespec="seconds"),
            approved_by=row.approved_by,
            approved_at=row.approved_at.isoformat(timespec="seconds") if row.approved_at else None,
            files=list(row.files), manifest=row.manifest, rows=row.rows, people=row.people,
            row_scope=Scope(**RowScope.of(row.row_scope).as_json()),
            artefact=f"O-{row.artefact_id}" if row.artefact_id else None,
        )


class ProposalPublic(Public):
    """What proposing did: the release (None when the policy denied it) and the decision."""

    release_id: str | None
    decision: str
    reasons: list[ReasonPublic]

    @classmethod
    def of(cls, label: str, decision: Decision) -> ProposalPublic:
        return cls(release_id=label if decision.allow else None,
                   decision="allow" if decision.allow else "deny",
                   reasons=[ReasonPublic(requirement=r.requirement, text=r.text)
                            for r in decision.reasons])


class ApprovedPublic(Public):
    """A release approved and written (``carehaven release approve --json``)."""

    release_id: str
    status: str
    files: list[str]
    manifest: str | None

    @classmethod
    def of(cls, row: Release) -> ApprovedPublic:
        return cls(release_id=row.label, status=row.status, files=list(row.files),
                   manifest=row.manifest)


class AccessInForce(Public):
    recipient: str
    agreement: str
    tier: str
    datasets: list[str]
    purposes: list[str]
    expires_on: str


class ExpiringAgreement(Public):
    agreement: str
    recipient: str
    expires_on: str
    days_left: int
    state: str


class QuietRecipient(Public):
    recipient: str
    kind: str
    last_release: str | None


class IdleRole(Public):
    user: str
    role: str
    org: str
    last_used: str | None


class AccessReviewPublic(Public):
    """The regular access review (SHR-7): who can get what, what expires soon, recipients
    with nothing released for a year, roles unused."""

    on: str
    access: list[AccessInForce]
    expiring_agreements: list[ExpiringAgreement]
    recipients_without_releases: list[QuietRecipient]
    unused_roles: list[IdleRole]

    @classmethod
    def of(cls, review: Review) -> AccessReviewPublic:
        return cls.model_validate({
            "on": review.on.isoformat(),
            "access": review.access,
            "expiring_agreements": review.expiring,
            "recipients_without_releases": review.quiet_recipients,
            "unused_roles": review.idle_roles,
        })


class NoticeVersionPublic(Public):
    """A published version of a collection's privacy notice (``notice list --json``)."""

    collection: str
    version: str
    published_on: str
    change_note: list[str]
    #: False for versions written by hand before carehaven rendered notices.
    rendered: bool
    sha256: str | None
    created_by: str | None


class NoticePublishedPublic(Public):
    """What ``notice publish --json`` prints: the new version and its generated change note."""

    collection: str
    version: str
    published_on: str
    sha256: str
    change_note: list[str]
