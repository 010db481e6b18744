"""What a person may be allowed to do (docs/access.md); which roles allow it is in
``access.users``. A plain enum, so the command line can name it cheaply."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    SUBMIT = "submit"  # org-scoped
    READ_SUBMISSIONS = "read-submissions"  # org-scoped: reports, submissions, identity feedback
    RUN_PIPELINE = "run-pipeline"  # link, review decisions, keys rotate, orgs add, synth
    EXTRACT = "extract"  # extract, scan, extracts list / find
    PUBLISH = "publish"  # publish
    MANAGE_SHARING = "manage-sharing"  # recipients, agreements
    PROPOSE_RELEASE = "propose-release"
    APPROVE_RELEASE = "approve-release"
    READ_GOVERNANCE = "read-governance"  # releases, access review, register, notices
    PUBLISH_NOTICE = "publish-notice"
    READ_IPS_IDENTIFIABLE = "read-ips-identifiable"  # SHR-6: only ips-team
    READ_AUDIT = "read-audit"  # audit verify / show / prove
    SIGN_CHECKPOINT = "sign-checkpoint"  # audit checkpoint: the signing key is not the data team's
    MANAGE_USERS = "manage-users"
    VIEW_DASHBOARD = "view-dashboard"  # org-scoped (the web dashboard)
