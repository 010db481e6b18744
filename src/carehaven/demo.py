"""The demo: a fresh haven, a synthetic population, every file submitted and linked, a summary.

Later capabilities (identity, tiers, disclosure, ...) add their stage here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from carehaven import clock
from carehaven.audit import verify
from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.errors import UsageError
from carehaven.haven import Haven, init_haven
from carehaven.identity.counts import count_people
from carehaven.identity.link import link

DEMO_MARK = ".carehaven-demo"
COUNTED = ("ndtms-episode", "ips-episode", "cld-event")


@dataclass
class DatasetTotals:
    files: int = 0
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    findings: int = 0
    rejected_files: int = 0


@dataclass
class DemoResult:
    haven: Path
    returns: Path
    people: int
    datasets: dict[str, DatasetTotals] = field(default_factory=dict)
    audit_entries: int = 0
    audit_ok: bool = False
    linked_records: int = 0
    people_found: dict[str, int] = field(default_factory=dict)  # dataset -> unique people
    waiting_review: int = 0
    #: Headline tables published for the latest quarter: name -> (cells, primary, secondary).
    published: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    publications: Path | None = None
    #: The de-personalised release proposed by one person and approved by another.
    release: dict[str, object] = field(default_factory=dict)
    notice: Path | None = None
    #: The audit checkpoint signed before anything left the haven.
    checkpoint: str | None = None
    #: The web portal's demo users (name -> role), whose passwords are in ``passwords``.
    portal_users: dict[str, str] = field(default_factory=dict)
    passwords: Path | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "haven": str(self.haven),
            "returns": str(self.returns),
            "people": self.people,
            "datasets": {k: vars(v) for k, v in self.datasets.items()},
            "audit": {"ok": self.audit_ok, "entries": self.audit_entries},
            "identity": {
                "records": self.linked_records,
                "people": self.people_found,
                "waiting_review": self.waiting_review,
            },
            "published": {
                "folder": str(self.publications) if self.publications else None,
                "tables": {
                    n: {"cells": c, "suppressed_primary": p, "suppressed_secondary": q}
                    for n, (c, p, q) in self.published.items()
                },
            },
            "release": self.release,
            "notice": str(self.notice) if self.notice else None,
            "checkpoint": self.checkpoint,
            "portal": {"users": self.portal_users,
                       "passwords": str(self.passwords) if self.passwords else None},
        }


def run(
    settings: Settings,
    *,
    people: int,
    seed: int,
    invalid_rate: float,
    progress: Callable[[str, int, int], None],
    actor: str,
) -> DemoResult:
    from carehaven.synth import synthesise

    root = settings.haven.resolve()
    returns = root.with_name(root.name + "-returns")
    _clear(root)
    _clear(returns)
    haven = init_haven(settings, actor=actor)
    (root / DEMO_MARK).write_text("made by carehaven demo; safe to delete\n")
    returns.mkdir(parents=True)
    (returns / DEMO_MARK).write_text("made by carehaven demo; safe to delete\n")

    result = synthesise(
        returns, people=people, seed=seed, invalid_rate=invalid_rate, progress=progress
    )
    for org in result.organisations:
        haven.add_organisation(org.code, org.kind, org.name, actor=actor)
    demo = DemoResult(haven=root, returns=returns, people=result.people)
    for i, f in enumerate(result.files, start=1):
        progress(f"submitting {f.dataset}", i, len(result.files))
        outcome = submit(
            haven, returns / f.path, dataset=f.dataset, org=f.org, period=f.period, actor=actor
        )
        totals = demo.datasets.setdefault(f.dataset, DatasetTotals())
        totals.files += 1
        totals.rows += outcome.rows_total
        totals.accepted += outcome.rows_accepted
        totals.rejected += outcome.rows_rejected
        totals.findings += outcome.findings
        totals.rejected_files += outcome.status == "rejected"
    progress("linking people", len(result.files), len(result.files))
    linked = link(haven, actor=actor)
    demo.linked_records, demo.waiting_review = linked.records, linked.waiting_review
    for dataset in COUNTED:
        demo.people_found[dataset] = count_people(haven, dataset).rows[0]["people"]
    demo.people_found["all datasets"] = linked.people
    # A signed checkpoint of the audit log before anything leaves: every publication and release
    # carries it, so a recipient holds a witness copy (the owner signs: no users yet).
    from carehaven.audit import checkpoint

    signed = checkpoint.sign(haven, actor=actor)
    demo.checkpoint = f"C-{signed.id} ({signed.size} entries)"
    _publish(haven, demo, max(f.period for f in result.files), progress, actor)
    _govern(haven, demo, progress, actor)
    _portal_users(haven, demo, next(o.code for o in result.organisations
                                    if o.kind == "treatment-service"))
    check = verify(haven.engine)
    demo.audit_ok, demo.audit_entries = check.ok, check.entries
    haven.close()
    return demo


def _publish(
    haven: Haven,
    demo: DemoResult,
    period: str,
    progress: Callable[[str, int, int], None],
    actor: str,
) -> None:
    """The headline tables for the latest quarter, protected and checked (PSE-5, OUT-4)."""
    from carehaven.publish.definitions import definitions
    from carehaven.publish.publish import publish

    demo.publications = haven.paths.outputs / "publications" / period
    names = list(definitions())
    for i, name in enumerate(names, start=1):
        progress(f"publishing {name}", i, len(names))
        r = publish(haven, name, period, demo.publications, actor=actor)
        demo.published[name] = (r.cells, r.suppressed_primary, r.suppressed_secondary)


#: The fields the demo agreement allows: no identifier, no free text (SHR-7 minimisation).
DEMO_FIELDS = ("age_at_referral", "sex", "la_of_residence", "referral_date", "substance_1",
               "treatment_modality", "discharge_reason")
APPROVER = "demo-approver"
#: In the demo haven: a personal token for each demo user, for whoever runs the demo.
DEMO_TOKENS = "demo-tokens.env"


def _govern(
    haven: Haven, demo: DemoResult, progress: Callable[[str, int, int], None], actor: str
) -> None:
    """Users, a recipient, an agreement, one release proposed by one person and approved by
    another, and the NDTMS privacy notice rendered from the rules (SHR-1 to SHR-12, CON-3)."""
    from carehaven.access.auth import TOKEN_ENV, issue_token, new_private_file
    from carehaven.access.users import acting_user, add_user
    from carehaven.governance.notice import content, render
    from carehaven.governance.release import approve, propose
    from carehaven.governance.sharing import Terms, add_agreement, add_recipient

    progress("governance: users, agreement, release", 1, 3)
    # The haven's owner (single-operator mode) adds both people: they are its two founders,
    # independent of each other as a release's two people must be (SHR-12), and the second
    # one ends single-operator mode (docs/access.md).
    operator = acting_user(haven).username  # the account running the demo keeps data-team
    people = {operator: "proposed the demo release", APPROVER: "approved it"}
    for name, display in ((operator, "Demo operator"), (APPROVER, "Demo second person")):
        add_user(haven, name, display, None, actor=actor, roles=["data-team"])
    tokens = {name: issue_token(haven, name, actor=actor, label="carehaven demo").token
              for name in people}
    with new_private_file(haven.paths.root / DEMO_TOKENS) as handle:
        handle.write(
            "# carehaven demo: a personal token for each demo user. Keep this file secret: a\n"
            "# token acts for its user until it expires (90 days) or is revoked. Sourcing the\n"
            "# file ('. FILE') acts as the operator; uncomment the other line to switch.\n"
        )
        for i, (name, what) in enumerate(people.items()):
            handle.write(f"# {name} (data-team; {what})\n"
                         f"{'# ' if i else ''}export {TOKEN_ENV}={tokens[name]}\n")
    # From here on each person acts as anyone does once a haven has users: with their token.
    proposer = acting_user(haven, environ={TOKEN_ENV: tokens[operator]})
    me = proposer.label
    add_recipient(haven, "NDEC", "National Drug Evidence Centre", "research", actor=me)
    deal = add_agreement(
        haven,
        Terms(
            recipient="NDEC",
            tier="de-personalised",
            datasets=["ndtms-episode"],
            fields=list(DEMO_FIELDS),
            purposes=["research", "statistics"],
            lawful_bases=["6.1.e", "9.2.j"],
            expires_on=clock.today() + timedelta(days=365),
            no_reidentification_signed=True,
        ),
        actor=me,
    )
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", who=proposer)
    demo.release = proposal.as_json()
    if proposal.decision.allow:
        progress("governance: approving the release", 2, 3)
        second = acting_user(haven, environ={TOKEN_ENV: tokens[APPROVER]})
        row = approve(haven, proposal.release.label, approver=second)
        demo.release.update(
            status=row.status, rows=row.rows, people=row.people, manifest=row.manifest,
            approved_by=row.approved_by,
        )
    progress("governance: the NDTMS notice", 3, 3)
    demo.notice = haven.paths.outputs / "notices" / "ndtms.html"
    demo.notice.parent.mkdir(parents=True, exist_ok=True)
    demo.notice.write_text(render(content(haven, "ndtms", clock.today()), "html"))


#: In the demo haven: the web portal's demo users' passwords, for whoever runs the demo.
DEMO_PASSWORDS = "demo-passwords.txt"
SUBMITTER, AUDITOR = "demo-submitter", "demo-auditor"


def _portal_users(haven: Haven, demo: DemoResult, provider: str) -> None:
    """People who sign in to the web portal (carehaven serve): a submitter for one provider,
    the two data-team founders and an auditor, each with a generated password written to a
    new owner-only file in the haven (issue 14 part 7)."""
    import secrets

    from carehaven.access.auth import hash_password, new_private_file, set_password
    from carehaven.access.users import acting_user, add_user, grant

    operator = acting_user(haven, environ={"USER": os.environ.get("USER", "operator"),
                                           "CAREHAVEN_TOKEN": _operator_token(haven)}).username
    passwords = {name: "-".join(secrets.token_urlsafe(6) for _ in range(4))
                 for name in (SUBMITTER, operator, APPROVER, AUDITOR)}
    add_user(haven, SUBMITTER, "Demo submitter", provider, roles=["submitter"],
             actor=f"user:{operator}", password_hash=hash_password(passwords[SUBMITTER]))
    # The auditor's role comes from someone independent of the account's creator.
    add_user(haven, AUDITOR, "Demo auditor", None, actor=f"user:{operator}",
             password_hash=hash_password(passwords[AUDITOR]))
    grant(haven, AUDITOR, "auditor", None, actor=f"user:{APPROVER}")
    for name in (operator, APPROVER):
        set_password(haven, name, passwords[name], actor=f"user:{name}")
    demo.portal_users = {SUBMITTER: f"submitter for {provider}", operator: "data-team",
                         APPROVER: "data-team", AUDITOR: "auditor"}
    demo.passwords = haven.paths.root / DEMO_PASSWORDS
    with new_private_file(demo.passwords) as handle:
        handle.write("# carehaven demo: the web portal's demo users and their passwords "
                     "(carehaven --haven HAVEN serve). Keep this file secret.\n")
        for name, role in demo.portal_users.items():
            handle.write(f"{name}\t{passwords[name]}\t# {role}\n")


def _operator_token(haven: Haven) -> str:
    """The operator's token from the demo's token file (its one uncommented export)."""
    text = (haven.paths.root / DEMO_TOKENS).read_text()
    line = next(x for x in text.splitlines() if x.startswith("export "))
    return line.split("=", 1)[1]


def _clear(folder: Path) -> None:
    """Remove an earlier demo's folder; never a folder the demo did not make."""
    if not folder.exists():
        return
    if not (folder / DEMO_MARK).exists():
        raise UsageError(
            f"{folder} exists and was not made by carehaven demo; "
            "choose another --haven-dir or remove it yourself."
        )
    shutil.rmtree(folder)
