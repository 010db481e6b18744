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
