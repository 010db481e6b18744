"""The haven the browser tests visit: synthetic returns submitted, linked with a pair waiting
for review, a table published, a release proposed and waiting for a second person, and people
of every role with passwords (tests/portal.py's, who share ``PASSWORD``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from carehaven import clock
from carehaven.collection.submit import submit
from carehaven.config import Settings
from carehaven.haven import init_haven
from tests.portal import populate

#: The table the public journey downloads.
TABLE = "ndtms-people-in-treatment"
PERIOD = "2025Q2"


@dataclass(frozen=True)
class BuiltHaven:
    root: Path
    #: A submission of P002's, which sub (a submitter for P001) must not see.
    other_org_submission: str
    #: The published folder of ``TABLE`` (the files the downloads must equal).
    published: Path
    #: The release dt2 proposed, for dt to approve.
    release: str
    waiting_review: int


def build(root: Path, returns: Path) -> BuiltHaven:
    """About 15 s on a 2-core machine: 300 people, one quarter, one dataset."""
    from carehaven.access.users import _actor
    from carehaven.audit import checkpoint
    from carehaven.governance.release import propose
    from carehaven.governance.sharing import Terms, add_agreement, add_recipient
    from carehaven.identity.link import link
    from carehaven.identity.resolve import Thresholds
    from carehaven.publish.publish import publish
    from carehaven.synth import synthesise

    made = synthesise(returns, people=300, seed=7, periods=(PERIOD,))
    haven = init_haven(Settings.load(haven=root), actor="test")
    try:
        for org in made.organisations:
            haven.add_organisation(org.code, org.kind, org.name, actor="test")
        other = None
        for f in made.files:
            if f.dataset != "ndtms-episode":
                continue
            done = submit(haven, returns / f.path, dataset=f.dataset, org=f.org,
                          period=f.period, actor="test")
            if f.org == "P002" and done.submission_id:
                other = done.submission_id
        assert other is not None, "the synthetic returns have no file of P002's"
        # A wide review band, so that a population this small leaves a pair for a person.
        linked = link(haven, actor="test", thresholds=Thresholds(0.999, 0.02))
        assert linked.waiting_review > 0, "the link run left no pair for review"
        checkpoint.sign(haven, actor="test")
        published = haven.paths.outputs / "publications" / PERIOD
        publish(haven, TABLE, PERIOD, published, actor="test")
        populate(haven)
        proposer = _actor(haven, "dt2", via="test")
        assert proposer is not None
        add_recipient(haven, "NDEC", "National Drug Evidence Centre", "research",
                      actor=proposer.label)
        deal = add_agreement(haven, Terms(
            recipient="NDEC", tier="de-personalised", datasets=["ndtms-episode"],
            fields=["age_at_referral", "sex", "la_of_residence", "referral_date",
                    "substance_1", "treatment_modality", "discharge_reason"],
            purposes=["research", "statistics"], lawful_bases=["6.1.e", "9.2.j"],
            expires_on=clock.today() + timedelta(days=365), no_reidentification_signed=True,
        ), actor=proposer.label)
        proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                           purpose="research", who=proposer)
        assert proposal.decision.allow, proposal.as_json()
        return BuiltHaven(root=root, other_org_submission=other, published=published,
                          release=proposal.release.label, waiting_review=linked.waiting_review)
    finally:
        haven.close()
