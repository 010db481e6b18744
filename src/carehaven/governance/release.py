"""Releases: propose -> the sharing policy decides -> a different person approves -> the
artefact is produced through the tiers code, scanned, and written by the one artefact writer.

A release is one artefact for one recipient under one agreement (SHR-1, SHR-7, SHR-8), holding
the agreed fields and the rows the agreement covers (SHR-9 row scopes). The policy is asked
again at approval, so an agreement that expired or was revoked after the proposal stops the
release. The artefact writer records the person_ids written as the release's lineage, the
release row and every audit entry in one transaction. The proposer can never approve their own
release, nor can anyone whose account the proposer made or who made the proposer's (SHR-12: a
person decides, and not the same person who asked). Identifiable IPS data (SHR-6) is proposed
and approved only by people who hold the IPS team's permission.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import ReleaseApproved, ReleaseProposed, ReleaseRefused
from carehaven.control.kinds import RecipientKind, ReleaseDecision, ReleaseStatus
from carehaven.control.models import Agreement, Artefact, Extract, Recipient, Release
from carehaven.errors import AccessDeniedError, NotFoundError, PolicyDeniedError, UsageError
from carehaven.governance import ips
from carehaven.governance.artefact import check_folder
from carehaven.governance.policy import AgreementTerms, Decision, Reason, ShareRequest, decide
from carehaven.governance.policy.engine import named_partner
from carehaven.governance.policy.model import RowScope
from carehaven.governance.sharing import agreement, label_number, recipient
from carehaven.haven import Haven
from carehaven.identity.link import in_force
from carehaven.pseudonymise.derive import columns
from carehaven.pseudonymise.extract import CONSENT_FIELD, RELEASABLE, Request, extract
from carehaven.specs import load_spec

if TYPE_CHECKING:
    from carehaven.access.users import Actor
    from carehaven.governance.public import ProposalPublic

Progress = Callable[[str], None]



@dataclass(frozen=True)
class Proposal:
    release: Release
    decision: Decision

    def public(self) -> ProposalPublic:
        from carehaven.governance.public import ProposalPublic

        return ProposalPublic.of(self.release.label, self.decision)

    def as_json(self) -> dict[str, object]:
        return self.public().as_json()


def terms_of(row: Agreement) -> AgreementTerms:
    return AgreementTerms(
        row_scope=RowScope.of(row.row_scope),
        contract_ref=row.contract_ref,
        id=row.label,
        tier=row.tier,
        fields=row.fields,
        purposes=row.purposes,
        lawful_bases=row.lawful_bases,
        starts_on=row.starts_on,
        expires_on=row.expires_on,
        revoked_on=row.revoked_on,
        uk_only=row.uk_only,
        onward_sharing=row.onward_sharing,
        sub_licensing=row.sub_licensing,
        no_reidentification_signed=row.no_reidentification_signed,
    )


def consent_for(who: Recipient, dataset: str) -> bool:
    """Whether everyone in the artefact will have consented to this recipient (CON-1): only
    for the named partner (HMRC), when the dataset records consent and the release keeps only
    those who gave it."""
    return named_partner(who.code, who.kind) is not None and dataset in CONSENT_FIELD


def _request(row: Release, who: Recipient, terms: AgreementTerms | None) -> ShareRequest:
    return ShareRequest(
        recipient=row.recipient,
        recipient_kind=who.kind,
        tier=row.tier,
        dataset=row.dataset,
        fields=tuple(row.fields),
        purpose=row.purpose,
        on=clock.today(),
        agreement=terms,
        consent=consent_for(who, row.dataset),
        rows=RowScope.of(row.row_scope),
        recipient_org=who.org_code,
    )


def _scope(
    deal: Agreement | None,
    who: Recipient,
    orgs: Sequence[str] | None,
    periods: Sequence[str] | None,
) -> RowScope:
    """The rows asked for: what was named, else what the agreement covers; a local authority
    is asked its own rows unless named otherwise (SHR-9), and the policy checks either way."""
    covered = RowScope.of(deal.row_scope if deal else None)
    chosen_orgs = tuple(o.strip() for o in orgs or () if o.strip()) or covered.orgs
    if chosen_orgs is None and who.kind == RecipientKind.LOCAL_AUTHORITY and who.org_code:
        chosen_orgs = (who.org_code,)
    chosen_periods = tuple(p.strip() for p in periods or () if p.strip()) or covered.periods
    return RowScope(chosen_orgs, chosen_periods)


def release_scope(deal: Agreement, who: Recipient) -> RowScope:
    """The rows a release under ``deal`` holds when it names none (the notice asks this)."""
    return _scope(deal, who, None, None)


def submissions_in(session: Session, dataset: str, scope: RowScope) -> tuple[str, ...] | None:
    """The submissions in force whose rows a scope covers (None: every one)."""
    if scope.orgs is None and scope.periods is None:
        return None
    chosen = [
        s.id
        for s in in_force(session, dataset)
        if (scope.orgs is None or s.org_code in scope.orgs)
        and (scope.periods is None or s.period in scope.periods)
    ]
    if not chosen:
        raise UsageError(
            f"No {dataset} submission in force is in this release's rows (organisations "
            f"{', '.join(scope.orgs or ('any',))}; periods {', '.join(scope.periods or ('any',))})."
        )
    return tuple(chosen)


def propose(
    haven: Haven,
    *,
    dataset: str,
    who: Actor,
    agreement_label: str | None = None,
    recipient_code: str | None = None,
    tier: str | None = None,
    purpose: str | None = None,
    fields: list[str] | None = None,
    orgs: Sequence[str] | None = None,
    periods: Sequence[str] | None = None,
) -> Proposal:
    """Record a proposed release and the policy's decision on it (allowed or not)."""
    spec = load_spec(dataset)
    actor = who.label
    with haven.transaction() as session:
        deal = agreement(session, agreement_label) if agreement_label else None
        if deal is None and recipient_code is None:
            raise UsageError("Name the agreement (--agreement) or at least the --recipient.")
        to = recipient(session, deal.recipient if deal else (recipient_code or ""))
        if deal is not None and recipient_code and to.code != recipient_code.upper():
            raise UsageError(f"Agreement {deal.label} is with {to.code}, not {recipient_code}.")
        tier = tier or (deal.tier if deal else None)
        if tier is None:
            raise UsageError("Without an agreement, name the --tier asked for.")
        if tier not in RELEASABLE:
            raise UsageError(
                f"A release writes {', '.join(RELEASABLE)} data; aggregate data leaves the "
                "haven through 'publish'."
            )
        ips.guard(haven, who, dataset, tier)
        if purpose is None:
            if deal is None:
                raise UsageError("Without an agreement, name the --purpose of this release.")
            purpose = deal.purposes[0]  # the agreement's first (main) purpose
        if fields is None:
            allowed = deal.fields.get(dataset) if deal else None
            fields = list(allowed) if allowed else [c.name for c in columns(spec, tier)]
        scope = _scope(deal, to, orgs, periods)
        row = Release(
            agreement_id=deal.id if deal else None,
            recipient=to.code,
            dataset=dataset,
            tier=tier,
            fields=list(fields),
            purpose=purpose,
            status=ReleaseStatus.PROPOSED,
            decision=ReleaseDecision.DENY,
            reasons=[],
            proposed_by=actor,
            proposed_at=clock.now(),
            files=[],
            rows=0,
            people=0,
            row_scope=scope.as_json(),
        )
        decision = decide(_request(row, to, terms_of(deal) if deal else None))
        row.decision = ReleaseDecision.ALLOW if decision.allow else ReleaseDecision.DENY
        row.status = ReleaseStatus.PROPOSED if decision.allow else ReleaseStatus.DENIED
        row.reasons = [r.as_json() for r in decision.reasons]
        session.add(row)
        session.flush()
        record(
            session,
            ReleaseProposed(
                release=row.label,
                agreement=deal.label if deal else "",
                recipient=to.code,
                dataset=dataset,
                tier=tier,
                decision=row.decision,
                requirements=",".join(decision.requirements),
            ),
            actor=actor,
        )
    return Proposal(row, decision)


def _refuse(
    haven: Haven,
    label: str,
    by: str,
    reason: str,
    message: str,
    *,
    error: type[PolicyDeniedError] | type[AccessDeniedError] = PolicyDeniedError,
) -> PolicyDeniedError | AccessDeniedError:
    with haven.transaction() as session:
        record(session, ReleaseRefused(release=label, by=by, reason=reason), actor=by)
    return error(message)


def approvable(haven: Haven, label: str, *, approver: Actor) -> tuple[Release, Recipient]:
    """The release and its recipient if ``approver`` may approve it now: it is proposed, they
    are a second person independent of the proposer, and the policy still allows it (a
    release the policy no longer allows is marked denied). Reads the control plane only, so
    the portal asks it before queueing the approval for the worker; each refusal is audited."""
    by = approver.label
    with haven.sessions() as session:
        row = _get(session, label)
        to = recipient(session, row.recipient)
        deal = session.get(Agreement, row.agreement_id) if row.agreement_id else None
    if row.status != ReleaseStatus.PROPOSED:
        raise UsageError(f"Release {row.label} is {row.status}; only a proposed release can be "
                         "approved.")
    if by == row.proposed_by:
        hint = (
            " This haven has no registered users, so everyone acts as the same person: add at "
            "least two data-team users first (docs/access.md)."
            if by.startswith("cli:")
            else ""
        )
        raise _refuse(
            haven, row.label, by, "proposer",
            f"Release {row.label} was proposed by {by}; another person must approve it "
            f"(SHR-12).{hint}",
        )
    _check_independent(haven, row, approver)
    ips.guard(haven, approver, row.dataset, row.tier)
    decision = decide(_request(row, to, terms_of(deal) if deal else None))
    if not decision.allow:
        ids = ", ".join(decision.requirements)
        with haven.transaction() as session:
            again = _get(session, label)
            again.status = ReleaseStatus.DENIED
            again.decision = ReleaseDecision.DENY
            again.reasons = [r.as_json() for r in decision.reasons]
            record(session, ReleaseRefused(row.label, by, "policy"), actor=by)
        raise PolicyDeniedError(
            f"Release {row.label} is no longer allowed ({ids}): "
            + " ".join(r.text for r in decision.reasons)
        )
    return row, to


def approve(
    haven: Haven,
    label: str,
    *,
    approver: Actor,
    out: Path | None = None,
    progress: Progress | None = None,
) -> Release:
    """Approve a proposed release as ``approver`` and write it; refuses the proposer and anyone
    not independent of them (their account's maker, or an account they made)."""
    by = approver.label
    row, to = approvable(haven, label, approver=approver)
    target = out or haven.paths.outputs / "releases" / row.label
    check_folder(haven, "release", target)  # before any work: never among the haven's own
    with haven.sessions() as session:
        submissions = submissions_in(session, row.dataset, RowScope.of(row.row_scope))
    req = Request(
        dataset=row.dataset,
        tier=row.tier,
        purpose="release",
        recipient=row.recipient,
        fields=tuple(row.fields),
        consenting_only=consent_for(to, row.dataset),
        submissions=submissions,
    )

    def written(session: Session, extract_row: Extract, artefact: Artefact) -> None:
        # Runs in the artefact's own transaction: the release, its extract, its lineage and
        # every audit entry commit together (ADR 0009).
        mine = _get(session, label)
        if mine.status != ReleaseStatus.PROPOSED:  # approved by someone else meanwhile
            raise UsageError(f"Release {mine.label} is already {mine.status}.")
        folder = Path(artefact.directory)
        mine.status = ReleaseStatus.WRITTEN
        mine.approved_by = by
        mine.approved_at = clock.now()
        mine.extract_id = extract_row.id
        mine.artefact_id = artefact.id
        mine.directory = str(folder)
        mine.rows = extract_row.rows
        mine.people = artefact.people
        mine.manifest = str(folder / f"{row.dataset}.manifest.json")
        mine.files = [str(folder / str(f["name"])) for f in artefact.files]
        session.flush()
        record(
            session,
            ReleaseApproved(
                release=mine.label,
                approved_by=by,
                extract=extract_row.label,
                rows=extract_row.rows,
                people=artefact.people,
                manifest_sha256=extract_row.manifest_sha256,
            ),
            actor=by,
        )

    extract(haven, req, target, who=approver, progress=progress, on_commit=written)
    return get(haven, label)


def _check_independent(haven: Haven, row: Release, approver: Actor) -> None:
    """SHR-12: the approver is a second person, not an account the proposer made (or that
    made the proposer's), so one person cannot approve their own release under another name."""
    from carehaven.access.users import independent

    with haven.sessions() as session:
        ok = independent(session, row.proposed_by, approver.label)
    if not ok:
        raise _refuse(
            haven, row.label, approver.label, "not-independent",
            f"Release {row.label} was proposed by {row.proposed_by}; {approver.label} is not "
            "independent of that account (one made the other, or the same person made both), "
            "so is not a second person (SHR-12).",
            error=AccessDeniedError,
        )


def _get(session: Session, label: str) -> Release:
    row = session.get(Release, label_number(label, "R"))
    if row is None:
        raise NotFoundError(f"Release {label} does not exist.")
    return row


def get(haven: Haven, label: str) -> Release:
    with haven.sessions() as session:
        return _get(session, label)


def releases(haven: Haven) -> list[Release]:
    with haven.sessions() as session:
        return list(session.scalars(select(Release).order_by(Release.id)))


__all__ = [
    "Proposal",
    "Reason",
    "Recipient",
    "approvable",
    "approve",
    "consent_for",
    "get",
    "propose",
    "release_scope",
    "releases",
    "submissions_in",
    "terms_of",
]
