"""Notices and the register of processing in a real haven: recipients and agreements in the
control plane, versions with generated change notes, audit, ordering (CON-3, SHR-10, SHR-11)."""

from __future__ import annotations

import importlib
import json
from datetime import date

import pytest
from sqlalchemy import select

from carehaven import clock
from carehaven.audit import verify
from carehaven.control.models import Agreement, AuditEntry, NoticeVersionRecord, Recipient
from carehaven.errors import NotFoundError, UsageError
from carehaven.governance import notice
from carehaven.governance.register import SECURITY_MEASURES, as_csv, export, register
from carehaven.retention import schedule

JAN, FEB, MAR = date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)
NDEC_NAME = "National Drug Evidence Centre"


def add_recipient(haven, code: str, name: str, kind: str, *, tier: str = "de-personalised",
                  datasets: tuple[str, ...] = ("ndtms-episode",),
                  purposes: tuple[str, ...] = ("research",), starts: date = JAN,
                  expires: date = date(2027, 1, 1), org: str | None = None,
                  **terms: object) -> None:
    """A recipient and its agreement, written straight into the control plane."""
    with haven.transaction() as s:
        if s.get(Recipient, code) is None:
            s.add(Recipient(code=code, name=name, kind=kind, created_at=clock.now(),
                            created_by="test", org_code=org))
            s.flush()
        s.add(Agreement(
            recipient=code, tier=tier, fields={d: ["sex"] for d in datasets},
            purposes=list(purposes), lawful_bases=["6.1.e", "9.2.j"], starts_on=starts,
            expires_on=expires, no_reidentification_signed=True, created_at=clock.now(),
            created_by="test", **terms,
        ))


def test_publishing_a_version_after_an_agreement_names_the_new_recipient(make_haven,
                                                                          control_backend):
    haven = make_haven(control_backend)
    first = notice.publish(haven, "ndtms", "1.0", JAN, actor="test")
    assert first.change_note == "First version rendered from the rules."
    add_recipient(haven, "NDEC", NDEC_NAME, "research", purposes=("research", "statistics"))
    second = notice.publish(haven, "ndtms", "1.1", FEB, actor="test")
    assert second.change_note.splitlines() == [
        f"Added recipient {NDEC_NAME} (research, de-personalised)."
    ]
    with haven.sessions() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "notice.published")
                                 .order_by(AuditEntry.seq)))
        cited = {(r.notice, r.version) for r in s.scalars(select(NoticeVersionRecord))}
    assert [e.subject for e in entries] == ["notice:ndtms@1.0", "notice:ndtms@1.1"]
    assert json.loads(entries[1].details)["sha256"] == second.sha256
    assert {("ndtms", "1.0"), ("ndtms", "1.1")} <= cited
    assert verify(haven.engine).ok


def test_diff_of_stored_versions(haven):
    notice.publish(haven, "ndtms", "1.0", JAN, actor="test")
    add_recipient(haven, "NDEC", NDEC_NAME, "research")
    notice.publish(haven, "ndtms", "1.1", FEB, actor="test")
    added = f"Added recipient {NDEC_NAME} (research, de-personalised)."
    assert notice.diff(haven, "ndtms", "1.0", "1.1") == [added]
    assert notice.diff(haven, "ndtms", "1.1", "1.0") == [added.replace("Added", "Removed")]
    with pytest.raises(NotFoundError, match=r"Published versions: 1\.0, 1\.1"):
        notice.diff(haven, "ndtms", "1.0", "2.0")
    with pytest.raises(NotFoundError, match="written by hand"):
        notice.diff(haven, "ips", "1.1", "1.2")


def test_versions_must_increase(haven):
    notice.publish(haven, "ndtms", "1.1", FEB, actor="test")
    with pytest.raises(UsageError, match=r"Version 1\.1 of the ndtms notice was already published"):
        notice.publish(haven, "ndtms", "1.1", MAR, actor="test")
    with pytest.raises(UsageError, match="already published"):
        notice.publish(haven, "ndtms", "1.1.0", MAR, actor="test")
    with pytest.raises(UsageError, match=r"lower than 1\.1"):
        notice.publish(haven, "ndtms", "1.0", MAR, actor="test")
    with pytest.raises(UsageError, match="cannot be published on an earlier day"):
        notice.publish(haven, "ndtms", "1.2", JAN, actor="test")
    with pytest.raises(UsageError, match="numbers with dots"):
        notice.publish(haven, "ndtms", "v2", MAR, actor="test")
    with pytest.raises(UsageError, match="already published on 2022-05-09"):
        notice.publish(haven, "ips", "1.2", MAR, actor="test")  # the seed's own version
    assert [v.version for v in notice.versions(haven, "ndtms")] == ["1.1"]


def test_a_refused_publication_leaves_nothing(haven):
    before = verify(haven.engine).entries
    with pytest.raises(UsageError):
        notice.publish(haven, "ips", "1.0", MAR, actor="test")
    assert verify(haven.engine).entries == before
    assert [v.rendered for v in notice.versions(haven, "ips")] == [False, False, False]


def test_ips_notice_continues_after_the_hand_written_versions(haven):
    doc = notice.publish(haven, "ips", "1.3", MAR, actor="test")
    assert doc.change_note.splitlines() == [
        "First version rendered from the rules.",
        "Versions 1.0 to 1.2 were written by hand and are not compared.",
    ]
    listed = notice.versions(haven, "ips")
    assert [(v.version, v.rendered) for v in listed] == [
        ("1.0", False), ("1.1", False), ("1.2", False), ("1.3", True)
    ]


def test_content_carries_the_version_it_matches_and_is_a_draft_otherwise(haven):
    assert notice.content(haven, "cld", JAN).draft
    notice.publish(haven, "cld", "1.0", JAN, actor="test")
    assert notice.content(haven, "cld", FEB).version == "1.0"
    # A sub-licensed authority is held to its own rows (SHR-9), so it names its organisation.
    add_recipient(haven, "LA1", "A local authority", "local-authority", datasets=("cld-event",),
                  purposes=("benchmarking",), sub_licensing=True, org="E09000001")
    later = notice.content(haven, "cld", FEB)
    assert later.draft and [r.code for r in later.sections.recipients] == ["LA1"]
    assert "Draft, not published" in notice.render(later, "html")
    as_published = notice.stored(haven, "cld", "1.0")
    assert as_published.version == "1.0" and not as_published.sections.recipients
    assert "Version 1.0, published 15 January 2026." in notice.render(as_published, "text")


def test_only_agreements_in_force_that_the_policy_allows_are_listed(haven):
    add_recipient(haven, "NDEC", NDEC_NAME, "research")
    add_recipient(haven, "OLD", "Expired Analytics", "research", expires=date(2026, 1, 31))
    add_recipient(haven, "GONE", "Revoked Research", "research", revoked_on=JAN)
    add_recipient(haven, "SOON", "Future Uni", "research", starts=date(2026, 6, 1))
    add_recipient(haven, "POL", "A police force", "police")
    n = notice.content(haven, "ndtms", FEB)
    assert [r.code for r in n.sections.recipients] == ["NDEC"]
    assert len(n.warnings) == 1 and "POL" in n.warnings[0] and "police" in n.warnings[0]
    assert "A police force" not in notice.render(n, "html")
    ips = notice.content(haven, "ips", FEB)  # NDEC's agreement is for NDTMS only
    assert not ips.sections.recipients


def test_html_escapes_a_recipient_name(haven):
    add_recipient(haven, "EVIL", "Evil <script>alert(1)</script> Ltd", "research")
    html = notice.render(notice.content(haven, "ndtms", FEB), "html")
    assert "<script" not in html
    assert "Evil &lt;script&gt;alert(1)&lt;/script&gt; Ltd" in html


def test_register_has_every_collection_no_transfers_and_the_schedule(haven):
    add_recipient(haven, "NDEC", NDEC_NAME, "research")
    reg = json.loads(export(register(haven, FEB), "json"))
    assert [a["collection"] for a in reg["activities"]] == ["ndtms", "ips", "cld"]
    periods = {r.id: r.period_years for r in schedule().rules}
    for a in reg["activities"]:
        assert a["third_country_transfers"] == []
        assert a["transfers"].startswith("None.")
        # Nothing acts on the schedule yet: it is envisaged, not done (docs/design/0008).
        assert a["retention"] == [] and a["retention_not_yet_enforced"]
        for r in a["retention_not_yet_enforced"]:
            assert r["period_years"] == periods[r["id"]]
            assert r["enforced_by"] == ["command:retention run"]
        assert a["lawful_bases"] and a["purposes"] and a["data_subjects"] and a["contacts"]
        assert a["special_category_data"] is True
        assert a["recipient_rules"]
        assert a["security_measures"] == [m.measure for m in SECURITY_MEASURES]
    ndtms = reg["activities"][0]
    assert ndtms["recipients"] == [{
        "kind": "research", "tier": "de-personalised", "organisations": [NDEC_NAME],
        "datasets": ["ndtms-episode"], "purposes": ["research"],
    }]
    direct = next(c for c in ndtms["personal_data"]
                  if c["dataset"] == "ndtms-episode" and c["field_class"] == "D")
    assert "date_of_birth" in direct["fields"]
    cld = reg["activities"][2]
    assert {r["id"]: r["period_years"] for r in cld["retention_not_yet_enforced"]} == {
        "cld-agreement": 0, "cld-mental-health": 20, "cld-mental-health-deceased": 8,
        "cld-other": 8, "national-maximum": 20,
    }


def test_register_tells_the_truth_about_an_agreement_outside_the_uk(haven):
    add_recipient(haven, "ABROAD", "Overseas Analytics", "research", uk_only=False)
    reg = register(haven, FEB)
    ndtms = reg.activities[0]
    assert ndtms.third_country_transfers and "ABROAD" in ndtms.third_country_transfers[0]
    assert not ndtms.transfers.startswith("None")
    assert any("ABROAD" in n for n in ndtms.notes)  # the policy refuses it, and says so
    assert not reg.activities[1].third_country_transfers


def test_register_exports(haven):
    reg = register(haven, FEB)
    text = as_csv(reg)
    assert text.splitlines()[0].startswith("collection,name,controller")
    assert len(text.splitlines()) == 4
    md = export(reg, "markdown")
    assert md.startswith("# Record of processing activities")
    assert md.count("\n## ") == 3
    with pytest.raises(UsageError, match="json, csv, markdown"):
        export(reg, "xml")


@pytest.mark.parametrize("measure", SECURITY_MEASURES, ids=lambda m: m.module)
def test_every_security_measure_names_a_module_that_exists(measure):
    importlib.import_module(measure.module)
