"""A notice promises only what runs (issue 12 item 10; docs/design/0008 "Promises"): every
statement it renders is information or a promise naming a mechanism that exists; a statement
whose mechanism does not exist yet waits in the data and is not rendered (CON-2, CON-3, RIG-1
to RIG-5, RET-1 to RET-5, SEC-1)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from carehaven.governance import notice_promises, register
from carehaven.governance.collections import Catalogue, Required, catalogue, load_collection
from carehaven.governance.notice import NoticeContent, RecipientEntry, render, sections
from carehaven.governance.notice_model import Sections
from carehaven.governance.notice_promises import (
    SECTIONS,
    claims,
    commands,
    landed,
    pending,
    problem,
    unenforced,
)
from carehaven.governance.register import SECURITY_MEASURES, SecurityMeasure
from carehaven.retention import schedule

COLLECTIONS = ("ndtms", "ips", "cld")
NDEC = RecipientEntry(
    code="NDEC", name="National Drug Evidence Centre", kind="research", tier="de-personalised",
    datasets=("ndtms-episode",), purposes=("research",),
    enforced_by=("policy:de-personalised-to-trusted-organisations",),
)
TEMPLATES = Path(notice_promises.__file__).parent / "templates"


def body(collection: str, recipients: tuple[RecipientEntry, ...] = ()) -> Sections:
    return sections(load_collection(collection), recipients)


def rendered(collection: str, fmt: str) -> str:
    found = load_collection(collection)
    return render(NoticeContent(collection=collection, title=found.title, on=date(2026, 4, 1),
                                version=None, published_on=None, sections=body(collection)), fmt)


def patch_catalogue(monkeypatch: pytest.MonkeyPatch, cat: Catalogue) -> None:
    """Every module that reads collections.json reads ``cat`` instead."""
    for name in ("carehaven.governance.collections", "carehaven.governance.notice",
                 "carehaven.governance.notice_promises"):
        monkeypatch.setattr(sys.modules[name], "catalogue", lambda: cat)


def with_statement(collection: str, index: int, **changes: object) -> Catalogue:
    """The catalogue with one consent statement of ``collection`` changed."""
    cat = catalogue()
    found = cat.collections[collection]
    consent = list(found.consent)
    consent[index] = consent[index].model_copy(update=changes)
    changed = found.model_copy(update={"consent": tuple(consent)})
    return cat.model_copy(update={"collections": {**cat.collections, collection: changed}})


# ---- the shipped notices -------------------------------------------------------------------------


def test_every_section_of_a_notice_is_classified():
    """A new section of ``Sections`` cannot render statements that nothing classifies."""
    assert set(SECTIONS) == set(Sections.model_fields)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_every_promise_of_every_notice_names_a_mechanism_that_exists(collection):
    said = claims(body(collection, (NDEC,)))
    assert {c.kind for c in said} == {"information", "promise"}
    assert unenforced(body(collection, (NDEC,))) == []
    assert unenforced(body(collection)) == []


def test_sharing_rules_are_enforced_by_their_own_policy_rule():
    for claim in claims(body("ndtms")):
        if claim.where.startswith("sharing rule "):
            assert claim.enforced_by == (f"policy:{claim.where.removeprefix('sharing rule ')}",)


def test_the_ips_consent_promise_names_the_policy_and_the_spec_rules():
    """CON-1: consent is checked by the policy and the consent form's details by ips-episode."""
    (con1,) = [c for c in claims(body("ips")) if c.where == "consent CON-1"]
    assert con1.kind == "promise"
    assert "rule:ips-episode/consent-notice-version" in con1.enforced_by
    assert any(m.startswith("policy:") for m in con1.enforced_by)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_statements_waiting_for_a_mechanism_are_not_rendered(collection):
    """CON-2 withdrawal (no 'consent withdraw'), the rights requests of RIG-2 to RIG-5 (no
    'rights') and every retention rule (no 'retention run') are left out; the legal rights of
    RIG-1 are information and stay."""
    waiting = pending(collection)
    assert waiting and all(c.kind == "pending" for c in waiting)
    for fmt in ("text", "markdown", "html"):
        page = rendered(collection, fmt)
        for claim in waiting:
            assert claim.text not in page, (fmt, claim.where)
        assert "How long we keep it" not in page and "HOW LONG WE KEEP IT" not in page
    rights = [c for c in claims(body(collection)) if c.where.startswith("right ")]
    assert [(c.where, c.kind) for c in rights] == [("right RIG-1", "information")]


def test_what_waits_and_for_what():
    by_where = {c.where: c.enforced_by for c in pending()}
    assert by_where["ndtms consent CON-2"] == ("command:consent withdraw",)
    assert by_where["ips consent CON-2"] == ("command:consent withdraw",)
    for where in ("ndtms right RIG-2", "ndtms right RIG-3", "ndtms right RIG-4",
                  "ips right RIG-3", "cld right RIG-3"):
        assert by_where[where] == ("command:rights",)
    for rule in schedule().rules:
        assert by_where[f"retention rule {rule.id}"] == ("command:retention run",)


def test_no_pending_statement_has_its_mechanism_yet():
    """When 'rights', 'consent withdraw' or 'retention run' lands, this fails: make the
    statements it enforces promises so that they return to the notices."""
    assert landed() == []


def test_the_notices_own_sentences_come_from_the_wording():
    """The templates hold headings only: every sentence they show is classified wording."""
    for template in TEMPLATES.iterdir():
        source = template.read_text()
        for key, said in catalogue().wording.items():
            assert said.text not in source, (template.name, key)
    page = rendered("ndtms", "text")
    for key in ("sharing-rules", "changes", "no-recipients", "class-D", "derived"):
        assert catalogue().wording[key].text in page


# ---- the check fails when a mechanism goes missing ---------------------------------------------


def test_a_deleted_policy_rule_is_reported(monkeypatch):
    ids = notice_promises._policy_ids()
    monkeypatch.setattr(notice_promises, "_policy_ids",
                        lambda: ids - {"never-police-or-courts"})
    bad = unenforced(body("ndtms"))
    assert [u.claim.where for u in bad] == ["sharing rule never-police-or-courts"]
    assert bad[0].problems == ("sharing.cedar has no rule never-police-or-courts",)


def test_a_permit_removed_under_a_listed_recipient_is_reported(monkeypatch):
    ids = notice_promises._policy_ids()
    gone = NDEC.enforced_by[0].removeprefix("policy:")
    monkeypatch.setattr(notice_promises, "_policy_ids", lambda: ids - {gone})
    where = {u.claim.where for u in unenforced(body("ndtms", (NDEC,)))}
    assert "recipient NDEC (de-personalised)" in where


def test_a_promise_pointing_at_a_missing_command_is_reported(monkeypatch):
    """The withdrawal statement made a promise before 'consent withdraw' exists."""
    patch_catalogue(monkeypatch, with_statement("ndtms", 0, kind="promise"))
    bad = unenforced(body("ndtms"))
    assert [(u.claim.where, u.problems) for u in bad] == [
        ("consent CON-2", ("there is no command 'consent withdraw'",))
    ]


def test_a_pending_statement_returns_when_its_command_lands(monkeypatch):
    real = commands()
    monkeypatch.setattr(notice_promises, "commands", lambda: real | {"consent withdraw"})
    assert {c.where for c in landed()} == {"ndtms consent CON-2", "ips consent CON-2"}
    patch_catalogue(monkeypatch, with_statement("ndtms", 0, kind="promise"))
    assert unenforced(body("ndtms")) == []
    assert "you can change your mind at any time" in rendered("ndtms", "text")


def test_a_retention_rule_is_stated_once_it_is_acted_on(monkeypatch):
    """RET-4: when 'retention run' acts on a rule, the CLD notice states it; if the command
    then goes, the promise is reported."""
    module = sys.modules["carehaven.retention.schedule"]
    real = schedule()
    acted = real.model_copy(update={"rules": tuple(
        r.model_copy(update={"kind": "promise"}) if r.id == "cld-other" else r
        for r in real.rules
    )})
    monkeypatch.setattr(module, "schedule", lambda: acted)
    monkeypatch.setattr(notice_promises, "commands", lambda: commands() | {"retention run"})
    cld = body("cld")
    assert [(r.id, r.enforced_by) for r in cld.retention] == [
        ("cld-other", ("retention:cld-other",))
    ]
    assert unenforced(cld) == []
    assert "All other adult social care records are kept for 8 years" in rendered("cld", "text")
    monkeypatch.undo()
    monkeypatch.setattr(module, "schedule", lambda: acted)
    bad = unenforced(cld)
    assert [u.problems for u in bad] == [
        ("retention rule cld-other: there is no command 'retention run'",)
    ]


@pytest.mark.parametrize(("mechanism", "says"), [
    ("policy:never-police-or-courts", None),
    ("policy:nope", "sharing.cedar has no rule nope"),
    ("rule:ips-episode/consent-notice-version", None),
    ("rule:ips-episode/nope", "ips-episode has no validation rule nope"),
    ("rule:nope/consent-notice-version", "there is no dataset nope"),
    ("retention:cld-other", "retention rule cld-other is not acted on yet"),
    ("retention:nope", "the retention schedule has no rule nope"),
    ("command:audit verify", None),
    ("command:notice", None),
    ("command:rights", "there is no command 'rights'"),
    ("audit verify", "'audit verify' is not a mechanism"),
])
def test_each_kind_of_mechanism_is_checked(mechanism, says):
    assert problem(mechanism) == says


@pytest.mark.parametrize(("kind", "enforced_by", "reason"), [
    ("promise", [], "names the mechanisms"),
    ("pending", [], "names the mechanisms"),
    ("information", ["command:audit verify"], "information names no mechanism"),
    ("promise", ["audit verify"], "is not a mechanism"),
    ("maybe", ["command:audit verify"], "kind"),
])
def test_a_statement_that_does_not_say_what_it_is_is_refused_at_load(kind, enforced_by, reason):
    with pytest.raises(ValidationError, match=reason):
        Required.model_validate({"requirement": "RIG-1", "text": "You may.", "source": "000 §8",
                                 "kind": kind, "enforced_by": enforced_by})
    with pytest.raises(ValidationError, match="kind"):
        Required.model_validate({"requirement": "RIG-1", "text": "You may.", "source": "000 §8"})


# ---- the register of processing keeps the same rule ---------------------------------------------


def test_every_security_measure_names_commands_that_exist():
    assert register.unenforced() == []
    assert all(m.enforced_by for m in SECURITY_MEASURES)
    gone = SecurityMeasure(measure="Backups are encrypted.", module="carehaven.haven",
                           enforced_by=("command:backup",))
    assert register.unenforced([gone]) == [(gone, ("there is no command 'backup'",))]
