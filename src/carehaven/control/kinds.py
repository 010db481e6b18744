"""The kinds the control plane records, as plain enums (no database import needed)."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    TREATMENT_SERVICE = "treatment-service"
    #: A young people's substance misuse service: returns NDTMS, with the young person's
    #: vulnerabilities that only such a service records (DATASETS.md; issue 13 item 6).
    YOUNG_PEOPLES_SERVICE = "young-peoples-service"
    LOCAL_AUTHORITY = "local-authority"
    CRIMINAL_JUSTICE_TEAM = "criminal-justice-team"
    PRISON = "prison"
    SECURE_SETTING = "secure-setting"
    PARTNER = "partner"
    RECIPIENT = "recipient"


class SubmissionStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    #: Valid rows accepted, but never in force until someone confirms it would retire what is
    #: (it would retire markedly more than it brings: issue 13 item 2).
    HELD = "held"
    #: A held submission refused: its rows stay retired, as a superseded one's do.
    WITHDRAWN = "withdrawn"


class RecipientKind(StrEnum):
    """Who a recipient is, as the notices distinguish them (SHR-1 to SHR-9)."""

    PROCESSOR = "processor"  # a processor or contractor working for the controller
    RESEARCH = "research"  # a research body or trusted organisation
    GOVERNMENT = "government"  # another government department
    LOCAL_AUTHORITY = "local-authority"
    PARTNER = "partner"  # HMRC for IPS
    POLICE = "police"
    COURT = "court"
    PUBLIC = "public"


class Role(StrEnum):
    """What a person may do (ARCHITECTURE "Who uses it"; SHR-6, SHR-7)."""

    SUBMITTER = "submitter"
    DATA_TEAM = "data-team"
    IPS_TEAM = "ips-team"
    ANALYST = "analyst"
    AUTHORITY_VIEWER = "authority-viewer"
    AUDITOR = "auditor"


class JobState(StrEnum):
    """Where a queued job stands (issue 14 part 2): the worker takes the oldest queued one."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Tier(StrEnum):
    """The four categories of data (000 §5, PSE-1), most identifying first: what an extract,
    an agreement, a release or an artefact holds. The one list of them (the sharing policy's
    ``TIERS`` and the extract's are this enum's members, in this order)."""

    PERSONAL = "personal"
    DE_PERSONALISED = "de-personalised"
    ANONYMISED = "anonymised"
    AGGREGATE = "aggregate"


class ReleaseStatus(StrEnum):
    """Where a release stands (SHR-12): proposed (the policy allowed it), denied (the policy
    refused it, when proposed or again when approved), or written (approved by another person
    and written out, in one transaction with its artefact)."""

    PROPOSED = "proposed"
    DENIED = "denied"
    WRITTEN = "written"


class ReleaseDecision(StrEnum):
    """What the sharing policy decided about a release."""

    ALLOW = "allow"
    DENY = "deny"


class LinkPairStatus(StrEnum):
    """A pair of profiles the linkage model was unsure about (ADR 0004)."""

    WAITING = "waiting"  # for a person's decision
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"  # no longer uncertain: the evidence changed


class LinkDecision(StrEnum):
    """A person's decision on a link pair: the two profiles are one person or two."""

    SAME = "same"
    DIFFERENT = "different"


class ArtefactKind(StrEnum):
    """What an artefact is (ADR 0009): all but a preview leave the haven."""

    RELEASE = "release"
    PUBLICATION = "publication"
    FEEDBACK = "feedback"
    PREVIEW = "preview"
    EXCHANGE = "exchange"
    CERTIFICATE = "certificate"


class FeedbackHoldStatus(StrEnum):
    """A held feedback match (IDN-2): waiting for the data team, then released or refused."""

    WAITING = "waiting"
    RELEASED = "released"
    REFUSED = "refused"


class FeedbackHoldReason(StrEnum):
    """Why a feedback match is held."""

    #: The match was not there at the previous link run.
    NEW_MATCH = "new-match"


class JobKind(StrEnum):
    """What a queued job does (issue 14 part 2)."""

    SUBMIT = "submit"
    #: A provider's concurrent-provider feedback (IDN-2): it reads the data plane.
    FEEDBACK = "feedback"
    #: An approved release's extract: it reads and writes the data plane.
    RELEASE = "release"


class JobOutcome(StrEnum):
    """How a done submission job's file was judged (``SubmitResult.status``)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    HELD = "held"
    UNCHANGED = "unchanged"


def sql_one_of(column: str, kind: type[StrEnum], *, nullable: bool = False) -> str:
    """The SQL of a CHECK that ``column`` holds one of ``kind``'s values (or NULL)."""
    allowed = f"{column} IN (" + ", ".join(f"'{k.value}'" for k in kind) + ")"
    return f"{column} IS NULL OR {allowed}" if nullable else allowed
