"""Typed audit events. Every field is a code, an id, a count or a hash: never a person's value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class AuditEvent:
    action: ClassVar[str]

    @property
    def subject(self) -> str:
        raise NotImplementedError

    def details(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class HavenInitialised(AuditEvent):
    action: ClassVar[str] = "haven.initialised"
    key_id: str
    control: str  # dialect name only, never the URL (it may hold a password)

    @property
    def subject(self) -> str:
        return "haven"


@dataclass(frozen=True)
class OrganisationAdded(AuditEvent):
    action: ClassVar[str] = "organisation.added"
    code: str
    kind: str

    @property
    def subject(self) -> str:
        return f"organisation:{self.code}"


@dataclass(frozen=True)
class SpecRegistered(AuditEvent):
    action: ClassVar[str] = "spec.registered"
    name: str
    version: str
    sha256: str

    @property
    def subject(self) -> str:
        return f"spec:{self.name}@{self.version}"


@dataclass(frozen=True)
class SubmissionReceived(AuditEvent):
    action: ClassVar[str] = "submission.received"
    submission_id: str
    org: str
    dataset: str
    period: str
    sha256: str
    status: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    findings: int
    landing_key_id: str

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class SubmissionRefused(AuditEvent):
    """An organisation tried to submit a dataset its kind does not return (COL-9)."""

    action: ClassVar[str] = "submission.refused"
    org: str
    kind: str
    dataset: str

    @property
    def subject(self) -> str:
        return f"organisation:{self.org}"


@dataclass(frozen=True)
class JobQueued(AuditEvent):
    """The portal queued an uploaded file for the one writer to submit (issue 14 part 2):
    the job, and what it will submit for; never the file's name or contents."""

    action: ClassVar[str] = "job.queued"
    job_id: str
    org: str
    dataset: str
    period: str
    size_bytes: int
    sha256: str

    @property
    def subject(self) -> str:
        return f"job:{self.job_id}"


@dataclass(frozen=True)
class SubmissionSuperseded(AuditEvent):
    action: ClassVar[str] = "submission.superseded"
    submission_id: str
    superseded_by: str
    rows_retired: int

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class SubmissionHeld(AuditEvent):
    """A resubmission that would retire markedly more than it brings waits for confirmation
    (issue 13 item 2): the counts, never a value."""

    action: ClassVar[str] = "submission.held"
    submission_id: str
    in_force: str
    rows_in_force: int
    rows_brought: int
    #: -1 where the dataset names no person (ndtms-review is compared by rows only).
    people_in_force: int
    people_brought: int

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class SubmissionConfirmed(AuditEvent):
    action: ClassVar[str] = "submission.confirmed"
    submission_id: str
    supersedes: str  # the submission it retired, or "" when none was in force
    rows_accepted: int
    rows_retired: int

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class SubmissionWithdrawn(AuditEvent):
    action: ClassVar[str] = "submission.withdrawn"
    submission_id: str
    rows_withdrawn: int

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class SubmissionUnchanged(AuditEvent):
    action: ClassVar[str] = "submission.unchanged"
    submission_id: str
    sha256: str

    @property
    def subject(self) -> str:
        return f"submission:{self.submission_id}"


@dataclass(frozen=True)
class RecoveryCompleted(AuditEvent):
    """A step that died part-way was rolled back: what was removed, by count."""

    action: ClassVar[str] = "recovery.completed"
    orphan_submissions: int
    data_rows_removed: int
    files_removed: int

    @property
    def subject(self) -> str:
        return "haven"


@dataclass(frozen=True)
class LinkRunCompleted(AuditEvent):
    """A linkage run: what it saw and decided, in counts, and the thresholds it used."""

    action: ClassVar[str] = "identity.linked"
    run: int
    engine: str
    records: int
    profiles: int
    people: int
    merged_by_rule: int
    merged_by_model: int
    merged_by_decision: int
    waiting_review: int
    accept: float
    review: float

    @property
    def subject(self) -> str:
        return f"link-run:{self.run}"


@dataclass(frozen=True)
class PersonMerged(AuditEvent):
    """Two earlier persons proved to be one: ``person_id`` now points to ``into``."""

    action: ClassVar[str] = "person.merged"
    person_id: str
    into: str
    reason: str  # strong key, a person's decision, or the model
    run: int

    @property
    def subject(self) -> str:
        return f"person:{self.person_id}"


@dataclass(frozen=True)
class PersonSplit(AuditEvent):
    """Part of an earlier person proved to be someone else, who gets ``new_person_id``."""

    action: ClassVar[str] = "person.split"
    person_id: str
    new_person_id: str
    reason: str
    run: int

    @property
    def subject(self) -> str:
        return f"person:{self.person_id}"


@dataclass(frozen=True)
class LinkPairDecided(AuditEvent):
    """A person decided whether two profiles are the same person (SHR-12)."""

    action: ClassVar[str] = "identity.pair-decided"
    pair_id: str
    decision: str  # same | different

    @property
    def subject(self) -> str:
        return f"link-pair:{self.pair_id}"


@dataclass(frozen=True)
class KeysRotated(AuditEvent):
    """A new generation of pseudonym keys; earlier generations stay derivable for lookups."""

    action: ClassVar[str] = "keys.rotated"
    generation: int
    previous: int
    master_key_id: str

    @property
    def subject(self) -> str:
        return f"key-generation:{self.generation}"


@dataclass(frozen=True)
class ExtractWritten(AuditEvent):
    """An extract left the personal tier: what, at which tier, for whom, under which key id."""

    action: ClassVar[str] = "extract.written"
    extract: str
    dataset: str
    tier: str
    recipient: str
    key_id: str
    rows: int
    manifest_sha256: str

    @property
    def subject(self) -> str:
        return f"extract:{self.extract}"


@dataclass(frozen=True)
class TablePublished(AuditEvent):
    """A statistical table passed the intruder check and was written for the public (PSE-5)."""

    action: ClassVar[str] = "table.published"
    publication: str
    table: str
    period: str
    cells: int
    suppressed_primary: int
    suppressed_secondary: int
    csv_sha256: str

    @property
    def subject(self) -> str:
        return f"publication:{self.publication}"


# ---- governance (issue 6) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientAdded(AuditEvent):
    action: ClassVar[str] = "recipient.added"
    code: str
    kind: str
    org: str = ""

    @property
    def subject(self) -> str:
        return f"recipient:{self.code}"


@dataclass(frozen=True)
class AgreementAdded(AuditEvent):
    """A data sharing agreement was recorded: its terms as codes, never a person's value."""

    action: ClassVar[str] = "agreement.added"
    agreement: str
    recipient: str
    tier: str
    datasets: str  # comma-separated codes
    purposes: str
    lawful_bases: str
    expires_on: str
    orgs: str = ""  # the row scope, comma-separated codes; "" covers every organisation
    periods: str = ""
    contract_ref: str = ""

    @property
    def subject(self) -> str:
        return f"agreement:{self.agreement}"


@dataclass(frozen=True)
class AgreementRevoked(AuditEvent):
    action: ClassVar[str] = "agreement.revoked"
    agreement: str
    on: str

    @property
    def subject(self) -> str:
        return f"agreement:{self.agreement}"


@dataclass(frozen=True)
class ReleaseProposed(AuditEvent):
    """A release was proposed and the sharing policy decided (allow or deny, with the ids)."""

    action: ClassVar[str] = "release.proposed"
    release: str
    agreement: str
    recipient: str
    dataset: str
    tier: str
    decision: str
    requirements: str  # comma-separated requirement ids, e.g. "SHR-3,SHR-7"

    @property
    def subject(self) -> str:
        return f"release:{self.release}"


@dataclass(frozen=True)
class ReleaseApproved(AuditEvent):
    """A person other than the proposer approved, and the artefact was written (SHR-12)."""

    action: ClassVar[str] = "release.approved"
    release: str
    approved_by: str
    extract: str
    rows: int
    people: int
    manifest_sha256: str

    @property
    def subject(self) -> str:
        return f"release:{self.release}"


@dataclass(frozen=True)
class ReleaseApprovalQueued(AuditEvent):
    """Someone who may approve a release asked the portal to, and it passed every check the
    control plane can make; the worker writes it (issue 14: the web never opens the data
    plane). ``release.approved`` follows when it is written."""

    action: ClassVar[str] = "release.approval-queued"
    job_id: str
    release: str

    @property
    def subject(self) -> str:
        return f"release:{self.release}"


@dataclass(frozen=True)
class ReleaseRefused(AuditEvent):
    """An approval was refused: the approver proposed it, lacked the role, or the policy
    no longer allows it (an agreement expired between proposal and approval)."""

    action: ClassVar[str] = "release.refused"
    release: str
    by: str
    reason: str

    @property
    def subject(self) -> str:
        return f"release:{self.release}"


@dataclass(frozen=True)
class UserAdded(AuditEvent):
    action: ClassVar[str] = "user.added"
    username: str
    org: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class RoleGranted(AuditEvent):
    action: ClassVar[str] = "role.granted"
    username: str
    role: str
    org: str  # "*" for every organisation

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class RoleRevoked(AuditEvent):
    action: ClassVar[str] = "role.revoked"
    username: str
    role: str
    org: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class TokenIssued(AuditEvent):
    action: ClassVar[str] = "token.issued"
    token_id: str
    username: str
    expires: str  # ISO 8601, UTC

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class TokenRevoked(AuditEvent):
    action: ClassVar[str] = "token.revoked"
    token_id: str
    username: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class PasswordSet(AuditEvent):
    action: ClassVar[str] = "password.set"
    username: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class AccessDenied(AuditEvent):
    """A user asked for something their roles do not allow (SHR-6, SHR-7)."""

    action: ClassVar[str] = "access.denied"
    username: str
    permission: str
    org: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class NoticePublished(AuditEvent):
    """A privacy notice version rendered from the rules was recorded (CON-3)."""

    action: ClassVar[str] = "notice.published"
    collection: str
    version: str
    published_on: str
    sha256: str

    @property
    def subject(self) -> str:
        return f"notice:{self.collection}@{self.version}"


# ---- artefacts and disclosures (issue 12) --------------------------------------------------


@dataclass(frozen=True)
class ArtefactWritten(AuditEvent):
    """Something was written to leave the haven (or to preview inside it), through the one
    artefact writer: its kind, tier, recipient, sizes, the manifest's sha256 and the signed
    checkpoint it carries ("" when none had been signed)."""

    action: ClassVar[str] = "artefact.written"
    artefact: str
    kind: str
    tier: str
    recipient: str
    files: int
    rows: int
    people: int
    manifest_sha256: str
    checkpoint: str

    @property
    def subject(self) -> str:
        return f"artefact:{self.artefact}"


@dataclass(frozen=True)
class FeedbackDisclosed(AuditEvent):
    """Concurrent-provider feedback (IDN-2) told a provider about other providers: which
    provider, how many of its clients, how many other providers; never who."""

    action: ClassVar[str] = "feedback.disclosed"
    artefact: str
    org: str
    clients: int
    other_providers: int
    held: int

    @property
    def subject(self) -> str:
        return f"organisation:{self.org}"


@dataclass(frozen=True)
class FeedbackHeld(AuditEvent):
    """A match about a provider's client with no history there was held for the data team."""

    action: ClassVar[str] = "feedback.held"
    hold: str
    org: str
    reason: str

    @property
    def subject(self) -> str:
        return f"feedback-hold:{self.hold}"


@dataclass(frozen=True)
class FeedbackHoldDecided(AuditEvent):
    """The data team released or refused a held feedback match."""

    action: ClassVar[str] = "feedback.hold-decided"
    hold: str
    org: str
    decision: str

    @property
    def subject(self) -> str:
        return f"feedback-hold:{self.hold}"


# ---- tamper evidence (issue 12, item 6) -------------------------------------------------------


@dataclass(frozen=True)
class CheckpointSigned(AuditEvent):
    """The audit log's Merkle tree (RFC 9162) was signed at ``size`` entries: its root and the
    id of the signing key, for a witness outside the haven to keep."""

    action: ClassVar[str] = "audit.checkpoint-signed"
    checkpoint: str
    size: int
    root: str
    key_id: str

    @property
    def subject(self) -> str:
        return f"audit-checkpoint:{self.checkpoint}"


@dataclass(frozen=True)
class FileScanned(AuditEvent):
    """Someone scanned a file for identifiers: which file (its sha256, never its name or
    content), how big, whether the haven wrote it, whether IPS identifiers were checked, and
    the answer."""

    action: ClassVar[str] = "file.scanned"
    sha256: str
    rows: int
    result: str  # clean | identifying
    written_here: int  # 1 when a manifest of the haven's lists the file
    ips_checked: int  # 1 when IPS identifiers were checked (the IPS team asked)

    @property
    def subject(self) -> str:
        return f"file:{self.sha256[:16]}"


# ---- the web portal's sign-in (issue 14 part 3) ---------------------------------------------


@dataclass(frozen=True)
class SignedIn(AuditEvent):
    """A person signed in to the web portal with their password; ``session`` is the first
    characters of the session's id (a SHA-256 of its cookie), never the cookie."""

    action: ClassVar[str] = "signin.succeeded"
    username: str
    session: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class SignInFailed(AuditEvent):
    """A sign-in refused. ``username`` is ``(unknown)`` when the name typed is nobody's (it may
    be a password typed in the wrong box, so it is never kept); ``reason`` is one of
    wrong-password, unknown-user, locked, inactive, throttled."""

    action: ClassVar[str] = "signin.failed"
    username: str
    reason: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class AccountLocked(AuditEvent):
    action: ClassVar[str] = "user.locked"
    username: str
    failures: int

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class AccountUnlocked(AuditEvent):
    action: ClassVar[str] = "user.unlocked"
    username: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class SignedOut(AuditEvent):
    action: ClassVar[str] = "signin.signed_out"
    username: str
    session: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"


@dataclass(frozen=True)
class SessionsRevoked(AuditEvent):
    """Every open web session of a user ended at once; ``why``: password-changed,
    role-revoked, unlocked or by-administrator."""

    action: ClassVar[str] = "signin.sessions_revoked"
    username: str
    sessions: int
    why: str

    @property
    def subject(self) -> str:
        return f"user:{self.username}"
