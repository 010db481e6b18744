"""Control-plane tables. Schema changes go through an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The kinds are plain enums in their own module, so the command line can name them without
# importing SQLAlchemy; they are re-exported here where the tables use them.
from carehaven.control.kinds import JobState as JobState
from carehaven.control.kinds import OrgKind as OrgKind
from carehaven.control.kinds import RecipientKind as RecipientKind
from carehaven.control.kinds import Role as Role
from carehaven.control.kinds import SubmissionStatus as SubmissionStatus

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for a long log.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k.value}'" for k in OrgKind) + ")", name="ck_org_kind"
        ),
    )


class DatasetSpecRecord(Base):
    """A version of a dataset spec that this haven has used, kept so old reports stay readable."""

    __tablename__ = "dataset_specs"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    version: Mapped[str] = mapped_column(String(20), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    descriptor: Mapped[dict[str, object]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NoticeVersionRecord(Base):
    """A published privacy-notice version (CON-3)."""

    __tablename__ = "notice_versions"

    notice: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(String(20), primary_key=True)
    published_on: Mapped[date] = mapped_column(Date)
    change_note: Mapped[str] = mapped_column(Text)
    date_stated: Mapped[bool]


class Submission(Base):
    """One file from one organisation for one dataset and period (COL-1, COL-3)."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"))
    dataset: Mapped[str] = mapped_column(String(60))
    spec_version: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    findings: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, object]] = mapped_column(JSON)
    landing_key_id: Mapped[str] = mapped_column(String(40))
    superseded_by: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), default=None)

    __table_args__ = (
        Index("ix_submissions_slot", "org_code", "dataset", "period"),
        CheckConstraint(
            "status IN ('accepted', 'rejected', 'held', 'withdrawn')", name="ck_submission_status"
        ),
    )


class AuditEntry(Base):
    """One link of the hash chain. Triggers refuse UPDATE and DELETE (migration 0001)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link: locked to serialise appends, and it reveals a truncated tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class LinkRun(Base):
    """One linkage run. The data-plane registry tables carry its number; the latest committed
    run is the registry in force (ADR 0004)."""

    __tablename__ = "link_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    engine: Mapped[str] = mapped_column(String(20))
    records: Mapped[int] = mapped_column(BigInteger)
    profiles: Mapped[int] = mapped_column(BigInteger)
    people: Mapped[int] = mapped_column(BigInteger)
    merged_by_rule: Mapped[int] = mapped_column(BigInteger)
    merged_by_model: Mapped[int] = mapped_column(BigInteger)
    merged_by_decision: Mapped[int] = mapped_column(BigInteger)
    waiting_review: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, object]] = mapped_column(JSON)
    # The trained model (Splink settings and m/u parameters; no record values), reused by the
    # next run to score only what is new.
    model: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)


class LinkPair(Base):
    """A pair of profiles the model was unsure about, and a person's decision on it.

    Profiles are named by their keyed-hash ids, never by identifier values; a decision holds in
    every later run for as long as both profiles exist.
    """

    __tablename__ = "link_pairs"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    left_profile: Mapped[str] = mapped_column(String(32))
    right_profile: Mapped[str] = mapped_column(String(32))
    probability: Mapped[float]
    evidence: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    first_run: Mapped[int] = mapped_column(Integer)
    last_run: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(20), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('waiting', 'decided', 'withdrawn')", name="ck_link_pair_status"
        ),
        CheckConstraint(
            "decision IS NULL OR decision IN ('same', 'different')", name="ck_link_pair_decision"
        ),
        Index("ix_link_pairs_status", "status"),
    )


class KeyGeneration(Base):
    """One generation of pseudonym keys. Recipient keys are derived from the master key, the
    generation's number and its nonce; the nonce alone derives nothing, and no key material is
    stored here. Earlier generations stay derivable, so an earlier release can still be searched
    for a person after ``keys rotate``."""

    __tablename__ = "key_generations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    nonce: Mapped[str] = mapped_column(String(32))
    master_key_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))


class Extract(Base):
    """A file set derived from the personal tier and written out with its manifest."""

    __tablename__ = "extracts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(40), default=None)
    key_generation: Mapped[int | None] = mapped_column(
        ForeignKey("key_generations.id"), default=None
    )
    key_id: Mapped[str | None] = mapped_column(String(40), default=None)
    spec_version: Mapped[str] = mapped_column(String(20))
    link_run: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(BigInteger)
    directory: Mapped[str] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    artefact_id: Mapped[int | None] = mapped_column(ForeignKey("artefacts.id"), default=None)

    @property
    def label(self) -> str:
        return f"X-{self.id}"


class Publication(Base):
    """A statistical table published for one period, with each cell's published status.

    The statuses are kept so that a later table (the next quarter, the year to date) is
    protected together with everything already published (PSE-5).
    """

    __tablename__ = "publications"
    __table_args__ = (Index("ix_publications_name_period", "name", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(20))
    link_run: Mapped[int] = mapped_column(Integer)
    cells: Mapped[int] = mapped_column(Integer)
    suppressed_primary: Mapped[int] = mapped_column(Integer)
    suppressed_secondary: Mapped[int] = mapped_column(Integer)
    #: JSON: {"parts": {label: [[code, ..., hidden, figure shown], ...]}, "sealed": the true cube
    #: under the haven key} (ADR 0013; older rows: {"period": [...], "year_to_date": [...]})
    statuses: Mapped[str] = mapped_column(Text)
    directory: Mapped[str] = mapped_column(Text)
    csv_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    artefact_id: Mapped[int | None] = mapped_column(ForeignKey("artefacts.id"), default=None)

    @property
    def label(self) -> str:
        return f"T-{self.id}"


# ---- governance (issue 6): recipients, agreements, releases, users, notices ---------------------


class Recipient(Base):
    """An organisation (or the public) that may receive data under an agreement."""

    __tablename__ = "recipients"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    #: The registered organisation this recipient is (a local authority's own code), so that a
    #: sub-licensed authority can be held to its own rows (SHR-9).
    org_code: Mapped[str | None] = mapped_column(String(20), default=None)


class Agreement(Base):
    """A data sharing agreement: who, what (tier, datasets, fields), why, on what basis, until
    when, and what the recipient undertook (SHR-1, SHR-4, SHR-7, SHR-9, SHR-10, SHR-11)."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(ForeignKey("recipients.code"))
    tier: Mapped[str] = mapped_column(String(20))
    #: JSON: {"dataset": ["field", ...], ...}: the fields allowed for each dataset.
    fields: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    lawful_bases: Mapped[list[str]] = mapped_column(JSON)
    starts_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    uk_only: Mapped[bool] = mapped_column(default=True)
    onward_sharing: Mapped[bool] = mapped_column(default=False)
    sub_licensing: Mapped[bool] = mapped_column(default=False)
    no_reidentification_signed: Mapped[bool] = mapped_column(default=False)
    revoked_on: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    #: JSON: {"orgs": [...], "periods": [...]}: the rows the agreement covers, by submitting
    #: organisation (provider_code, LA_Code) and period; an empty list covers every one.
    row_scope: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    #: The contract under which a processor works for the controller (000 §5.1, SHR-1).
    contract_ref: Mapped[str | None] = mapped_column(String(60), default=None)

    @property
    def label(self) -> str:
        return f"A-{self.id}"


class Release(Base):
    """One artefact for one recipient under one agreement: proposed, decided by the policy,
    approved by a person other than the proposer, then written (SHR-12)."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"), default=None)
    recipient: Mapped[str] = mapped_column(ForeignKey("recipients.code"))
    dataset: Mapped[str] = mapped_column(String(60))
    tier: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(60))
    #: proposed | denied | approved | written | failed
    status: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(10))  # allow | deny
    #: JSON: [{"requirement": "SHR-3", "text": "..."}, ...]
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    extract_id: Mapped[int | None] = mapped_column(ForeignKey("extracts.id"), default=None)
    directory: Mapped[str | None] = mapped_column(Text, default=None)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    manifest: Mapped[str | None] = mapped_column(Text, default=None)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    people: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The rows asked for, as Agreement.row_scope; empty lists: every row the agreement covers.
    row_scope: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    artefact_id: Mapped[int | None] = mapped_column(ForeignKey("artefacts.id"), default=None)

    @property
    def label(self) -> str:
        return f"R-{self.id}"


class User(Base):
    """A person who uses the haven. ``org_code`` is the organisation they work for."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("organisations.code"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    #: argon2id hash of the user's password (access.auth); None: no password set yet.
    password_hash: Mapped[str | None] = mapped_column(Text, default=None)
    #: Wrong passwords since the last sign-in that succeeded (access.signin).
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    #: When too many wrong passwords locked the account; an administrator lifts it.
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AccessToken(Base):
    """A personal access token: the public ``id`` names it, only an argon2id hash of its secret
    is kept. The token acts for its user alone (access.auth, docs/access.md)."""

    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    secret_hash: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (Index("ix_access_tokens_username", "username"),)


class RoleGrant(Base):
    """A role held by a user, scoped to one organisation (``org_code``) or to all (None)."""

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    role: Mapped[str] = mapped_column(String(30))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("organisations.code"), default=None)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    granted_by: Mapped[str] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class NoticeDocument(Base):
    """A privacy notice version rendered from the rules (CON-3): its content as data, so the
    next version's change note can be generated from the difference."""

    __tablename__ = "notice_documents"

    collection: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(String(20), primary_key=True)
    published_on: Mapped[date] = mapped_column(Date)
    #: JSON: the notice's sections as structured data (see governance.notice).
    content: Mapped[dict[str, object]] = mapped_column(JSON)
    change_note: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))


# ---- trust (issue 12): the haven's key, audit checkpoints, artefacts and lineage -----------------


class HavenMeta(Base):
    """Facts about the haven itself, such as the id of the master key it was created with."""

    __tablename__ = "haven_meta"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AuditCheckpoint(Base):
    """A signed statement of the audit log's Merkle tree (RFC 9162) at one size: a witness
    outside the haven keeps a copy, and later proves the log only grew from it."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))


class Artefact(Base):
    """Anything that leaves the haven (a release, a publication, provider feedback, later a
    partner exchange or a disposal certificate) or a preview kept inside it: its files with
    their sha256, and the checkpoint it carries. Written by ``governance.artefact`` only."""

    __tablename__ = "artefacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: release | publication | feedback | preview | exchange | certificate
    kind: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(20))
    #: Who it is for: a recipient code, an organisation code (feedback), or "public".
    recipient: Mapped[str | None] = mapped_column(String(40), default=None)
    directory: Mapped[str] = mapped_column(Text)
    #: JSON: [{"name": ..., "sha256": ..., "bytes": ...}, ...]
    files: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    people: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_checkpoints.id"), default=None
    )
    #: The temporary folder the files wait in until they are renamed into place; cleared
    #: once they are (recovery finishes a rename a crash interrupted).
    staging: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(
            "kind IN ('release', 'publication', 'feedback', 'preview', 'exchange', "
            "'certificate')",
            name="ck_artefact_kind",
        ),
    )

    @property
    def label(self) -> str:
        return f"O-{self.id}"


class ArtefactPerson(Base):
    """Lineage: a person whose rows an artefact holds (the one place this is kept), so that a
    withdrawal, erasure or correction finds every artefact it touches."""

    __tablename__ = "artefact_people"

    artefact_id: Mapped[int] = mapped_column(ForeignKey("artefacts.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(40), primary_key=True)

    __table_args__ = (Index("ix_artefact_people_person", "person_id"),)


class FeedbackHold(Base):
    """A match that would tell a provider (``org_code``) that another provider (``other_org``)
    treats one of its clients, held for the data team because the match was not there at the
    previous link run (IDN-2; issue 12). ``evidence`` holds dates, periods and counts only."""

    __tablename__ = "feedback_holds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"))
    person_id: Mapped[str] = mapped_column(String(40))
    other_org: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    #: waiting | released | refused
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    link_run: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('waiting', 'released', 'refused')", name="ck_feedback_hold_status"
        ),
        Index("ix_feedback_holds_slot", "org_code", "person_id", "other_org", unique=True),
    )

    @property
    def label(self) -> str:
        return f"FH-{self.id}"


class Job(Base):
    """Work the web portal asks of the one writer (issue 14 part 2): today a submission whose
    file the portal has streamed to the haven's uploads folder. The worker runs queued jobs
    one at a time under the haven's lock and records each state it reaches."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"))
    dataset: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(10))
    #: The name the portal gave the file (never a path the client sent).
    file_name: Mapped[str] = mapped_column(String(255))
    #: The upload's path relative to the haven's uploads folder.
    upload: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Who runs it: ``<host>:<pid>`` of the worker that took it.
    worker: Mapped[str | None] = mapped_column(String(100), default=None)
    submission_id: Mapped[str | None] = mapped_column(
        ForeignKey("submissions.id"), default=None
    )
    #: What submit judged, once done: accepted, rejected, held or unchanged.
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    #: The outcome in a sentence (never an identifier value).
    message: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s.value}'" for s in JobState) + ")", name="ck_job_state"
        ),
        CheckConstraint("kind IN ('submit', 'feedback')", name="ck_job_kind"),
        CheckConstraint(
            "outcome IN ('accepted', 'rejected', 'held', 'unchanged')", name="ck_job_outcome"
        ),
        Index("ix_jobs_state", "state", "created_at"),
    )


class WebSession(Base):
    """A signed-in browser (issue 14 part 3). Only a SHA-256 of the session's cookie is kept,
    so a copy of the control database opens no session; revoked or past either timeout, it
    is refused."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    #: The per-session secret every form and unsafe API call must echo (CSRF).
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The absolute timeout: no session outlives it, however busy.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    address: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_web_sessions_username", "username"),)


class SignInAttempt(Base):
    """One try at signing in, for throttling per account and per address (issue 14 part 3).
    ``account`` is an HMAC of the name typed, not the name: a password typed into the name
    field must not be kept."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index("ix_sign_in_attempts_account", "account", "at"),
        Index("ix_sign_in_attempts_address", "address", "at"),
    )
