"""Releases on a linked synthetic haven: the policy decides, another person approves, the
extract is written through the tiers code with only the agreed fields, and its lineage names
every person in it (SHR-1, SHR-3, SHR-4, SHR-7, SHR-12, CON-1; issue 12 item 11: one writer,
one lineage, the release recorded in the artefact's own transaction)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from carehaven import clock
from carehaven.access.users import Actor, add_user
from carehaven.audit import verify
from carehaven.control.models import ArtefactPerson, AuditEntry, Release
from carehaven.errors import AccessDeniedError, ExitCode, PolicyDeniedError, UsageError
from carehaven.governance import artefact as artefact_module
from carehaven.governance.artefact import artefacts_holding, people_of
from carehaven.governance.release import approve, get, propose
from carehaven.governance.review import review
from carehaven.governance.sharing import Terms, add_agreement, add_recipient, revoke_agreement
from carehaven.haven import Haven
from carehaven.identity.link import link
from carehaven.pseudonymise.lookup import find_person
from tests.linkage import build, query
from tests.people import actor

pytestmark = pytest.mark.slow

NDTMS_FIELDS = ["age_at_referral", "sex", "referral_date", "substance_1"]


@pytest.fixture(scope="module")
def haven(tmp_path_factory: pytest.TempPathFactory) -> Haven:
    root = tmp_path_factory.mktemp("releases")
    h, _ = build(root / "haven", root / "returns", people=800, seed=21, periods=("2025Q1",))
    link(h, actor="test")
    add_recipient(h, "NDEC", "National Drug Evidence Centre", "research", actor="cli:alice")
    add_recipient(h, "MET", "Metropolitan Police", "police", actor="cli:alice")
    add_recipient(h, "HMRC", "HM Revenue and Customs", "partner", actor="cli:alice")
    for name in ("alice", "bob", "carol"):
        add_user(h, name, name.title(), None, roles=["data-team"], actor="test")
    for name in ("ivy", "iris"):
        add_user(h, name, name.title(), None, roles=["data-team", "ips-team"], actor="test")
    return h


def who(haven: Haven, name: str) -> Actor:
    return actor(haven, name)


def _terms(**kw: object) -> Terms:
    base: dict[str, object] = {
        "recipient": "NDEC",
        "tier": "de-personalised",
        "datasets": ["ndtms-episode"],
        "fields": NDTMS_FIELDS,
        "purposes": ["research", "statistics"],
        "lawful_bases": ["6.1.e", "9.2.j"],
        "expires_on": clock.today() + timedelta(days=365),
        "no_reidentification_signed": True,
    }
    base.update(kw)
    return Terms(**base)  # type: ignore[arg-type]


def _columns_known(haven: Haven) -> list[str]:
    from carehaven.pseudonymise.derive import columns
    from carehaven.specs import load_spec

    return [c.name for c in columns(load_spec("ndtms-episode"), "de-personalised")]


def test_fields_used_here_exist() -> None:
    from carehaven.pseudonymise.derive import columns
    from carehaven.specs import load_spec

    known = {c.name for c in columns(load_spec("ndtms-episode"), "de-personalised")}
    assert set(NDTMS_FIELDS) <= known


def test_propose_approve_writes_only_agreed_fields_with_lineage(
    haven: Haven, tmp_path: Path
) -> None:
    """SHR-4, SHR-7, SHR-12: allowed, refused to its proposer, written when another approves."""
    deal = add_agreement(haven, _terms(), actor="cli:alice")
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", who=who(haven, "alice"))
    assert proposal.decision.allow, proposal.decision
    label = proposal.release.label
    assert proposal.as_json()["release_id"] == label

    with pytest.raises(PolicyDeniedError) as refused:
        approve(haven, label, approver=who(haven, "alice"), out=tmp_path / "own")
    assert refused.value.exit_code == ExitCode.POLICY_DENIED
    assert not (tmp_path / "own").exists()
    assert get(haven, label).status == "proposed"

    row = approve(haven, label, approver=who(haven, "bob"), out=tmp_path / "rel")
    assert row.status == "written" and row.approved_by == "user:bob"
    table = pq.read_table(tmp_path / "rel" / "ndtms-episode.parquet")
    assert table.column_names == ["pseudonym", *NDTMS_FIELDS]
    manifest = json.loads((tmp_path / "rel" / "ndtms-episode.manifest.json").read_text())
    assert manifest["recipient"] == "NDEC" and manifest["rows"] == table.num_rows
    assert row.files and row.manifest and Path(row.manifest).exists()

    # Lineage: exactly the people written, kept once, in the artefact's own record.
    assert row.artefact_id is not None
    with haven.sessions() as session:
        people = people_of(session, row.artefact_id)
        holding = artefacts_holding(session, people[:3])
    assert len(people) == row.people == len(table.column("pseudonym").unique())
    assert all([a.id for a in found] == [row.artefact_id] for found in holding.values())
    hits = find_person(haven, people[0])
    assert [h["for"] for h in hits] == [label]

    with pytest.raises(UsageError):  # a release is written once
        approve(haven, label, approver=who(haven, "carol"), out=tmp_path / "again")
    actions = [a for (a,) in _audit(haven)]
    assert {"release.proposed", "release.refused", "extract.written",
            "release.approved", "artefact.written"} <= set(actions)
    assert verify(haven.engine).ok


def test_police_never_receive_anything_but_aggregates(haven: Haven) -> None:
    """SHR-3: whatever the agreement says, no release to the police."""
    deal = add_agreement(haven, _terms(recipient="MET", tier="anonymised",
                                       fields=["sex", "substance_1"]), actor="cli:alice")
    for tier in ("de-personalised", "anonymised"):
        proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                           tier=tier, purpose="research", fields=["sex", "substance_1"],
                           who=who(haven, "alice"))
        assert not proposal.decision.allow
        assert "SHR-3" in proposal.decision.requirements
        assert proposal.as_json()["release_id"] is None
        assert get(haven, proposal.release.label).status == "denied"


def test_fields_beyond_the_agreement_are_denied(haven: Haven) -> None:
    """SHR-7: data minimisation: a field the agreement does not list stops the release."""
    deal = add_agreement(haven, _terms(), actor="cli:alice")
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", fields=[*NDTMS_FIELDS, "ethnicity"],
                       who=who(haven, "alice"))
    assert not proposal.decision.allow


def test_an_agreement_that_lapses_before_approval_stops_the_release(
    haven: Haven, tmp_path: Path
) -> None:
    """SHR-7: the policy is asked again at approval; an expired agreement stops it."""
    deal = add_agreement(haven, _terms(expires_on=clock.today() + timedelta(days=10)),
                         actor="cli:alice")
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", who=who(haven, "alice"))
    assert proposal.decision.allow
    bob = who(haven, "bob")
    later = datetime.now(UTC) + timedelta(days=30)
    clock.set_clock(lambda: later)
    try:
        with pytest.raises(PolicyDeniedError):
            approve(haven, proposal.release.label, approver=bob, out=tmp_path / "late")
    finally:
        clock.set_clock(None)
    assert get(haven, proposal.release.label).status == "denied"
    assert not (tmp_path / "late").exists()


def test_a_revoked_agreement_stops_releases(haven: Haven) -> None:
    deal = add_agreement(haven, _terms(), actor="cli:alice")
    revoke_agreement(haven, deal.label, actor="cli:alice")
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", who=who(haven, "alice"))
    assert not proposal.decision.allow


def test_ips_to_hmrc_holds_only_people_who_consented(haven: Haven, tmp_path: Path) -> None:
    """SHR-2, CON-1, SHR-6: IPS data to the named partner only with consent, proposed and
    approved by the IPS team: the release keeps only those who consented."""
    deal = add_agreement(
        haven,
        _terms(recipient="HMRC", tier="personal", datasets=["ips-episode"],
               fields=["initials", "nino"], purposes=["ips-employment-outcomes"],
               lawful_bases=["6.1.e", "9.2.h"]),
        actor="cli:alice",
    )
    with pytest.raises(AccessDeniedError):  # SHR-6: the data team alone may not
        propose(haven, dataset="ips-episode", agreement_label=deal.label,
                who=who(haven, "alice"))
    proposal = propose(haven, dataset="ips-episode", agreement_label=deal.label,
                       who=who(haven, "ivy"))
    assert proposal.decision.allow, proposal.decision
    row = approve(haven, proposal.release.label, approver=who(haven, "iris"),
                  out=tmp_path / "ips")
    table = pq.read_table(tmp_path / "ips" / "ips-episode.parquet")
    assert table.num_rows == row.rows > 0
    consent = dict(query(haven, "SELECT upper(replace(nino, ' ', '')), consent_dhsc "
                                "FROM ips_episode WHERE nino IS NOT NULL"))
    assert {consent[n] for n in table.column("nino").to_pylist()} == {"Y"}
    assert row.artefact_id is not None
    with haven.sessions() as session:
        assert len(people_of(session, row.artefact_id)) == row.people


def test_a_failed_write_leaves_no_release_and_no_lineage(
    haven: Haven, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing half-applied: lineage, release and files go when the artefact's transaction
    fails at its last step (the audit entry)."""
    deal = add_agreement(haven, _terms(), actor="cli:alice")
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label,
                       purpose="research", who=who(haven, "alice"))
    label = proposal.release.label
    with haven.sessions() as session:
        lineage_before = session.query(ArtefactPerson).count()
    bob = who(haven, "bob")

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(artefact_module, "record", boom)
    with pytest.raises(RuntimeError):
        approve(haven, label, approver=bob, out=tmp_path / "fail")
    monkeypatch.undo()
    assert get(haven, label).status == "proposed"
    with haven.sessions() as session:
        assert session.query(ArtefactPerson).count() == lineage_before
    assert not list((tmp_path / "fail").iterdir())


def test_access_review_lists_what_expires_and_who_had_nothing(haven: Haven) -> None:
    """SHR-7: the regular review."""
    add_agreement(haven, _terms(expires_on=clock.today() + timedelta(days=20)),
                  actor="cli:alice")
    result = review(haven, soon=30)
    assert any(e["days_left"] == 20 for e in result.expiring)
    quiet = {q["recipient"] for q in result.quiet_recipients}
    assert "MET" in quiet  # never received anything
    assert all(a["recipient"] != "MET" or a["tier"] == "anonymised" for a in result.access)


def _audit(haven: Haven) -> list[tuple[str]]:
    with haven.sessions() as session:
        return [(a,) for a in session.scalars(select(AuditEntry.action).order_by(
            AuditEntry.seq))]


def test_release_rows_are_never_silently_changed(haven: Haven) -> None:
    with haven.sessions() as session:
        statuses = set(session.scalars(select(Release.status)))
    assert statuses <= {"proposed", "denied", "written"}
    assert date.today()  # the haven's clock is restored


def test_without_users_nobody_can_approve(haven: Haven, tmp_path: Path) -> None:
    """SHR-12: in single-operator mode proposer and approver are the same account."""
    deal = add_agreement(haven, _terms(), actor="cli:alice")
    root = Actor("root", None, (), single_operator=True)
    proposal = propose(haven, dataset="ndtms-episode", agreement_label=deal.label, who=root)
    assert proposal.release.purpose == "research"  # the agreement's first purpose
    with pytest.raises(PolicyDeniedError, match="no registered users"):
        approve(haven, proposal.release.label, approver=root, out=tmp_path / "x")
