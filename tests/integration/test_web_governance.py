"""The data team's and the auditor's governance pages and API through real HTTP (in-process
TestClient over a real haven): the audit log's state and its verification (a row edited in
the database is a failure naming the first bad entry), and the register of processing, whose
JSON is the command line's (issue 14, "The data team", "An auditor")."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from carehaven.access import auth
from carehaven.haven import Haven
from tests.audit_attacks import as_owner, drop_triggers, restore_triggers, with_entries
from tests.people import CHEAP
from tests.portal import ORGS, populate, portal, sign_in


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


@pytest.fixture
def haven(make_haven: Callable[..., Haven]) -> Haven:
    return populate(make_haven(orgs=ORGS))


def _last_seq(haven: Haven) -> int:
    return int(haven.rows.fetch("SELECT max(seq) FROM audit_log")[0][0])


def test_the_audit_page_shows_the_newest_entries_and_verifies_the_log(haven: Haven) -> None:
    with_entries(haven, 3)
    last = _last_seq(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "aud")
        page = client.get("/audit")
        assert page.status_code == 200
        assert "Verify the audit log" in page.text and "organisation.added" in page.text
        assert f">{last}<" in page.text  # the newest entry is listed
        refused = client.post("/audit/verify", data={})  # no CSRF token
        assert refused.status_code == 403
        done = client.post("/audit/verify", data={"csrf_token": csrf})
        assert done.status_code == 200, done.text
        assert "Audit log intact" in done.text and "not read back" in done.text
        # Verifying reads only: the sign-in is the one entry appended since.
        assert _last_seq(haven) == last + 1
        landed = client.post("/audit/verify", data={"csrf_token": csrf, "read_landed": "yes"})
        assert "Audit log intact" in landed.text and "0 read back, 0 failed" in landed.text


def test_a_row_edited_in_the_database_is_a_failure_naming_the_first_bad_entry(
        haven: Haven) -> None:
    with_entries(haven, 6)
    bad = _last_seq(haven) - 3
    # An intruder's naive edit: the guard dropped, one entry's actor changed, the guard back.
    drop_triggers(haven)
    as_owner(haven, f"UPDATE audit_log SET actor = 'mallory' WHERE seq = {bad}")
    restore_triggers(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        page = client.post("/audit/verify", data={"csrf_token": csrf})
        assert page.status_code == 200
        assert f"Audit verification failed at entry {bad}" in page.text
        assert "Audit log intact" not in page.text
        api = client.post("/api/audit/verify", json={}, headers={"X-CSRF-Token": csrf})
        assert api.status_code == 200
        state = api.json()
        assert state["ok"] is False and state["first_bad"] == bad
        assert state["reason"] == state["failures"][0] and str(bad) in state["reason"]
        assert all(f in page.text for f in state["failures"])
        assert "mallory" not in state["reason"]  # a sentence about the entry, not its content


def test_the_audit_api_lists_entries_and_keeps_others_out(haven: Haven) -> None:
    with_entries(haven, 2)
    with portal(haven) as client:
        sign_in(client, "aud")
        entries = client.get("/api/audit/entries", params={"limit": 2}).json()
        assert [e["seq"] for e in entries] == [_last_seq(haven) - 1, _last_seq(haven)]
        assert set(entries[0]) == {"seq", "at", "actor", "action", "subject", "details"}
    with portal(haven) as client:
        csrf = sign_in(client, "sub")
        assert client.get("/audit").status_code == 403
        assert client.get("/api/audit/entries").status_code == 403
        assert client.post("/api/audit/verify", headers={"X-CSRF-Token": csrf}
                           ).status_code == 403
        assert client.get("/register").status_code == 403
        assert 'href="/audit"' not in client.get("/submissions").text  # not in the menu


def test_the_register_page_and_its_json_are_the_command_lines(haven: Haven) -> None:
    from carehaven import clock
    from carehaven.governance.register import as_json, register

    expected = json.loads(as_json(register(haven, clock.today())))
    with portal(haven) as client:
        sign_in(client, "aud")
        page = client.get("/register")
        assert page.status_code == 200
        assert "Record of processing activities" in page.text
        for activity in expected["activities"]:
            assert activity["collection"] in page.text
        assert 'href="/register"' in page.text and 'href="/audit"' in page.text  # the menu
        api = client.get("/api/register")
        assert api.status_code == 200
        assert api.json() == expected
        # Keys as the command line prints them: a contact's "for", not the model's for_.
        contact = api.json()["activities"][0]["contacts"][0]
        assert "for" in contact and "for_" not in contact


def test_the_data_team_adds_a_recipient_and_an_agreement_and_revokes_it(haven: Haven) -> None:
    from sqlalchemy import select

    from carehaven.control.models import AuditEntry

    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        assert client.post("/sharing/recipients", data={"code": "NDEC", "kind": "research"}
                           ).status_code == 403  # no CSRF token
        added = client.post("/sharing/recipients", data={
            "csrf_token": csrf, "code": "NDEC", "kind": "research",
            "name": "National Drug Evidence Centre"})
        assert added.status_code == 303, added.text
        assert added.headers["location"].startswith("/sharing?done=Recipient+NDEC")
        deal = client.post("/sharing/agreements", data={
            "csrf_token": csrf, "recipient": "NDEC", "tier": "de-personalised",
            "datasets": "ndtms-episode", "fields": "age_at_referral, sex",
            "purposes": "research", "lawful_bases": "6.1.e, 9.2.j",
            "expires_on": "2099-12-31", "no_reidentification_signed": "yes"})
        assert deal.status_code == 303, deal.text
        page = client.get(deal.headers["location"])
        assert "Agreement A-1 recorded" in page.text and "in force" in page.text
        assert "age_at_referral, sex" in page.text and "6.1.e, 9.2.j" in page.text
        listed = client.get("/api/agreements").json()
        assert [(a["agreement_id"], a["state"], a["fields"]) for a in listed] == [
            ("A-1", "active", {"ndtms-episode": ["age_at_referral", "sex"]})]
        # A bad term is refused with a sentence, and nothing is recorded.
        bad = client.post("/api/agreements", headers={"X-CSRF-Token": csrf}, json={
            "recipient": "NDEC", "tier": "de-personalised", "datasets": ["ndtms-episode"],
            "fields": ["no_such_field"], "purposes": ["research"],
            "lawful_bases": ["6.1.e"], "expires_on": "2099-12-31"})
        assert 400 <= bad.status_code < 500 and bad.json()["error"]["message"]
        assert len(client.get("/api/agreements").json()) == 1
        revoked = client.post("/sharing/agreements/A-1/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert client.get("/api/agreements").json()[0]["state"] == "revoked"
        again = client.post("/api/agreements/A-1/revoke", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 400
        assert client.post("/api/agreements/A-99/revoke", headers={"X-CSRF-Token": csrf}
                           ).status_code == 404
        assert [r["code"] for r in client.get("/api/recipients").json()] == ["NDEC"]
    with haven.sessions() as s:
        done = [(e.action, e.actor) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.subject.like("%NDEC%") | AuditEntry.subject.like("%A-1%")))]
    assert len(done) == 3 and {actor for _, actor in done} == {"user:dt"}, done


def test_the_auditor_reads_sharing_and_the_access_review_but_changes_nothing(
        haven: Haven) -> None:
    from tests.portal import sharing_fixture

    deal = sharing_fixture(haven)
    with portal(haven) as client:
        csrf = sign_in(client, "aud")
        page = client.get("/sharing")
        assert page.status_code == 200 and deal in page.text
        assert "Revoke agreement" not in page.text and "Add a recipient" not in page.text
        assert client.post(f"/sharing/agreements/{deal}/revoke",
                           data={"csrf_token": csrf}).status_code == 403
        assert client.post("/api/recipients", json={"code": "X", "kind": "research"},
                           headers={"X-CSRF-Token": csrf}).status_code == 403
        review = client.get("/access-review")
        assert review.status_code == 200 and "Access in force" in review.text
        assert deal in review.text and "carehaven access review" in review.text
        body = client.get("/api/access-review", params={"soon": 400, "idle": 0}).json()
        assert client.get("/api/agreements").status_code == 200
        assert client.get("/api/recipients").status_code == 200
        assert [a["agreement"] for a in body["access"]] == [deal]
        assert [e["agreement"] for e in body["expiring_agreements"]] == [deal]
        assert {r["user"] for r in body["unused_roles"]} >= {"sub2"}
    with portal(haven) as client:
        sign_in(client, "sub")
        assert client.get("/sharing").status_code == 403
        assert client.get("/api/access-review").status_code == 403


def test_the_data_team_publishes_a_notice_version_and_the_auditor_reads_it(
        haven: Haven) -> None:
    with portal(haven) as client:
        csrf = sign_in(client, "dt")
        before = client.get("/api/notice-versions").json()
        done = client.post("/notice-versions", data={"csrf_token": csrf,
                                                     "collection": "ndtms", "version": "50.1"})
        assert done.status_code == 303, done.text
        page = client.get(done.headers["location"])
        assert "The ndtms notice version 50.1 published" in page.text
        after = client.get("/api/notice-versions").json()
        assert len(after) == len(before) + 1
        (new,) = [v for v in after if v["version"] == "50.1"]
        assert new["collection"] == "ndtms" and new["rendered"] and new["change_note"]
        assert new["created_by"] == "user:dt"
        # Versions must increase: an older one is refused with a sentence, nothing published.
        older = client.post("/api/notice-versions", json={"collection": "ndtms",
                                                           "version": "1.0"},
                            headers={"X-CSRF-Token": csrf})
        assert older.status_code == 400, older.text
        assert len(client.get("/api/notice-versions").json()) == len(after)
    with portal(haven) as client:
        csrf = sign_in(client, "aud")
        page = client.get("/notice-versions")
        assert page.status_code == 200 and "50.1" in page.text
        assert "Publish a new version" not in page.text
        assert client.post("/api/notice-versions", json={"collection": "ndtms",
                                                          "version": "60.0"},
                           headers={"X-CSRF-Token": csrf}).status_code == 403
