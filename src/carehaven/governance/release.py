"""Releases: propose -> the sharing policy decides -> a different person approves -> the
artefact is produced through the tiers code, scanned, written with its manifest, audited.

A release is one artefact for one recipient under one agreement (SHR-1, SHR-7, SHR-8). The
policy is asked again at approval, so an agreement that expired or was revoked after the
proposal stops the release. The person_ids written are kept as the release's lineage
(``release_people`` in the data plane) so that a later withdrawal, erasure or correction finds
every release it touches. The proposer can never approve their own release (SHR-12: a person
decides, and not the same person who asked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import ReleaseApproved, ReleaseProposed, ReleaseRefused
from carehaven.control.models import Agreement, Extract, Recipient, Release
from carehaven.errors import NotFoundError, PolicyDeniedError, UsageError
from carehaven.governance.policy import AgreementTerms, Decision, Reason, ShareRequest, decide
from carehaven.governance.sharing import agreement, label_number, recipient
from carehaven.haven import Haven
from carehaven.pseudonymise.derive import columns
from carehaven.pseudonymise.extract import CONSENT_FIELD, EXTRACTABLE, Request, extract
from carehaven.specs import load_spec

Progress = Callable[[str], None]
#: Recipient kinds that may only ever receive people who consented (SHR-2, CON-1).
NEEDS_CONSENT = frozenset({"government", "partner"})


@dataclass(frozen=True)
class Proposal:
    release: Release
    decision: Decision

    def as_json(self) -> dict[str, object]:
        return {
            "release_id": self.release.label if self.decision.allow else None,
            **self.decision.as_json(),
        }


def terms_of(row: Agreement) -> AgreementTerms:
    return AgreementTerms(
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


def _consent(kind: str, dataset: str) -> bool:
    """Whether everyone in the artefact will have consented to this recipient (CON-1): only
    when the dataset records consent and the release keeps only those who gave it."""
    return kind in NEEDS_CONSENT and dataset in CONSENT_FIELD


def _request(row: Release, kind: str, terms: AgreementTerms | None) -> ShareRequest:
    return ShareRequest(
        recipient=row.recipient,
        recipient_kind=kind,
        tier=row.tier,
        dataset=row.dataset,
        fields=tuple(row.fields),
        purpose=row.purpose,
        on=clock.today(),
        agreement=terms,
        consent=_consent(kind, row.dataset),
    )


def propose(
    haven: Haven,
    *,
    dataset: str,
    actor: str,
    agreement_label: str | None = None,
    recipient_code: str | None = None,
    tier: str | None = None,
    purpose: str | None = None,
    fields: list[str] | None = None,
) -> Proposal:
    """Record a proposed release and the policy's decision on it (allowed or not)."""
    spec = load_spec(dataset)
    with haven.transaction() as session:
        deal = agreement(session, agreement_label) if agreement_label else None
        if deal is None and recipient_code is None:
            raise UsageError("Name the agreement (--agreement) or at least the --recipient.")
        who = recipient(session, deal.recipient if deal else (recipient_code or ""))
        if deal is not None and recipient_code and who.code != recipient_code.upper():
            raise UsageError(f"Agreement {deal.label} is with {who.code}, not {recipient_code}.")
        tier = tier or (deal.tier if deal else None)
        if tier is None:
            raise UsageError("Without an agreement, name the --tier asked for.")
        if tier not in EXTRACTABLE:
            raise UsageError(
                f"A release writes a {' or '.join(EXTRACTABLE)} extract; {tier} data leaves "
                "the haven only through 'publish' (aggregate) or a partner exchange (personal)."
            )
        if purpose is None:
            if deal is None:
                raise UsageError("Without an agreement, name the --purpose of this release.")
            purpose = deal.purposes[0]  # the agreement's first (main) purpose
        if fields is None:
            allowed = deal.fields.get(dataset) if deal else None
            fields = list(allowed) if allowed else [c.name for c in columns(spec, tier)]
        row = Release(
            agreement_id=deal.id if deal else None,
            recipient=who.code,
            dataset=dataset,
            tier=tier,
            fields=list(fields),
            purpose=purpose,
            status="proposed",
            decision="deny",
            reasons=[],
            proposed_by=actor,
            proposed_at=clock.now(),
            files=[],
            rows=0,
            people=0,
        )
        decision = decide(_request(row, who.kind, terms_of(deal) if deal else None))
        row.decision = "allow" if decision.allow else "deny"
        row.status = "proposed" if decision.allow else "denied"
        row.reasons = [r.as_json() for r in decision.reasons]
        session.add(row)
        session.flush()
        record(
            session,
            ReleaseProposed(
                release=row.label,
                agreement=deal.label if deal else "",
                recipient=who.code,
                dataset=dataset,
                tier=tier,
                decision=row.decision,
                requirements=",".join(decision.requirements),
            ),
            actor=actor,
        )
    return Proposal(row, decision)


def _refuse(haven: Haven, label: str, by: str, reason: str, message: str) -> PolicyDeniedError:
    with haven.transaction() as session:
        record(session, ReleaseRefused(release=label, by=by, reason=reason), actor=by)
    return PolicyDeniedError(message)


def approve(
    haven: Haven,
    label: str,
    *,
    approver: str,
    out: Path | None = None,
    progress: Progress | None = None,
) -> Release:
    """Approve a proposed release as ``approver`` and write it; refuses the proposer."""
    with haven.sessions() as session:
        row = _get(session, label)
        kind = recipient(session, row.recipient).kind
        deal = session.get(Agreement, row.agreement_id) if row.agreement_id else None
    if row.status != "proposed":
        raise UsageError(f"Release {row.label} is {row.status}; only a proposed release can be "
                         "approved.")
    if approver == row.proposed_by:
        hint = (
            " This haven has no registered users, so everyone acts as the same person: add at "
            "least two data-team users first (docs/access.md)."
            if approver.startswith("cli:")
            else ""
        )
        raise _refuse(
            haven, row.label, approver, "proposer",
            f"Release {row.label} was proposed by {approver}; another person must approve it "
            f"(SHR-12).{hint}",
        )
    decision = decide(_request(row, kind, terms_of(deal) if deal else None))
    if not decision.allow:
        ids = ", ".join(decision.requirements)
        with haven.transaction() as session:
            again = _get(session, label)
            again.status = "denied"
            again.decision = "deny"
            again.reasons = [r.as_json() for r in decision.reasons]
            record(session, ReleaseRefused(row.label, approver, "policy"), actor=approver)
        raise PolicyDeniedError(
            f"Release {row.label} is no longer allowed ({ids}): "
            + " ".join(r.text for r in decision.reasons)
        )
    target = out or haven.paths.outputs / "releases" / row.label
    req = Request(
        dataset=row.dataset,
        tier=row.tier,
        recipient=row.recipient,
        fields=tuple(row.fields),
        consenting_only=_consent(kind, row.dataset),
        lineage=row.label,
    )

    def written(session: Session, extract_row: Extract) -> None:
        # Runs in the extract's own transaction: the release and the extract commit together.
        mine = _get(session, label)
        if mine.status != "proposed":  # approved by someone else meanwhile
            raise UsageError(f"Release {mine.label} is already {mine.status}.")
        mine.status = "written"
        mine.approved_by = approver
        mine.approved_at = clock.now()
        mine.extract_id = extract_row.id
        mine.directory = str(target.resolve())
        mine.rows = extract_row.rows
        mine.manifest = str((target / f"{row.dataset}.manifest.json").resolve())
        mine.files = [
            str((target / f"{row.dataset}.{ext}").resolve()) for ext in ("parquet", "csv")
        ]
        session.flush()

    result = extract(haven, req, target, actor=approver, progress=progress, on_commit=written)
    with haven.transaction() as session:
        mine = _get(session, label)
        mine.people = result.people or 0
        record(
            session,
            ReleaseApproved(
                release=mine.label,
                approved_by=approver,
                extract=result.extract_id,
                rows=result.rows,
                people=mine.people,
                manifest_sha256=_sha(session, mine.extract_id),
            ),
            actor=approver,
        )
    return mine


def _sha(session: Session, extract_id: int | None) -> str:
    row = session.get(Extract, extract_id) if extract_id else None
    return row.manifest_sha256 if row else ""


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


def release_json(row: Release, agreement_label: str | None = None) -> dict[str, object]:
    return {
        "release_id": row.label,
        "status": row.status,
        "decision": row.decision,
        "reasons": row.reasons,
        "agreement": agreement_label or (f"A-{row.agreement_id}" if row.agreement_id else None),
        "recipient": row.recipient,
        "dataset": row.dataset,
        "tier": row.tier,
        "fields": row.fields,
        "purpose": row.purpose,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at.isoformat(timespec="seconds"),
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat(timespec="seconds") if row.approved_at else None,
        "files": row.files,
        "manifest": row.manifest,
        "rows": row.rows,
        "people": row.people,
    }


__all__ = [
    "NEEDS_CONSENT",
    "Proposal",
    "Reason",
    "Recipient",
    "approve",
    "get",
    "propose",
    "release_json",
    "releases",
    "terms_of",
]
