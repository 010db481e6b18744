"""Privacy notices rendered from the rules, without a haven: the collections, the retention
schedule, which policy rules a notice shows, change notes and the three renderings (CON-3,
SHR-11, SEC-3, RET-1 to RET-5)."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import pytest
from pydantic import ValidationError

from carehaven.governance.collections import catalogue, load_collection
from carehaven.governance.notice import (
    NoticeContent,
    RecipientEntry,
    Sections,
    change_note,
    render,
    rule_scopes,
    sections,
)
from carehaven.governance.notice_model import RetentionEntry
from carehaven.governance.policy import rules
from carehaven.retention import RetentionRule, rules_for, schedule
from carehaven.specs import FieldClass, load_spec
from carehaven.specs.registry import available

SEED = re.compile(r"^00[0-3] ")
NDEC = RecipientEntry(
    code="NDEC", name="National Drug Evidence Centre", kind="research", tier="de-personalised",
    datasets=("ndtms-episode",), purposes=("research",),
)


def notice(collection: str, recipients: tuple[RecipientEntry, ...] = ()) -> NoticeContent:
    found = load_collection(collection)
    return NoticeContent(
        collection=collection, title=found.title, on=date(2026, 4, 1), version=None,
        published_on=None, sections=sections(found, recipients),
    )


class Page(HTMLParser):
    """What the tests look at in a rendered HTML notice."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.tags: list[str] = []
        self.rules: list[str] = []
        self.codes_in: dict[str, list[str]] = {}
        self._section = ""
        self._in_rules = False
        self._li: list[str] | None = None
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = a.get("lang")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "section":
            self._section = (a.get("aria-labelledby") or "")
        if tag == "ul":
            self._in_rules = a.get("class") == "rules"
        if tag == "li" and self._in_rules:
            self._li = []
        if tag == "code":
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._li is not None:
            self.rules.append("".join(self._li).strip())
            self._li = None
        if tag == "ul":
            self._in_rules = False
        if tag == "code" and self._code is not None:
            self.codes_in.setdefault(self._section, []).append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._li is not None:
            self._li.append(data)
        if self._code is not None:
            self._code.append(data)


def page(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


# ---- collections.json -------------------------------------------------------------------------


def test_the_three_collections_and_their_datasets():
    got = {code: c.datasets for code, c in catalogue().collections.items()}
    assert got == {
        "ndtms": ("ndtms-episode", "ndtms-review"),
        "ips": ("ips-episode", "hmrc-return"),
        "cld": ("cld-event",),
    }
    covered = sorted(d for c in got.values() for d in c)
    assert covered == sorted(available())


def test_every_statement_names_the_seed_it_comes_from():
    cat = catalogue()
    assert set(cat.seeds) == {"000", "001", "002", "003"}
    for c in cat.collections.values():
        sourced = [c.summary, c.controller, *c.processors, *c.data_subjects, *c.sources,
                   *c.purposes, *c.lawful_bases, *c.consent, *c.rights, *c.contacts]
        for item in sourced:
            assert SEED.match(item.source), (c.code, item)
    for tier in cat.tiers.values():
        assert SEED.match(tier.source)


def test_lawful_bases_are_those_the_notices_state():
    """SHR-11: Art. 6(1)(e) for all; Art. 9(2)(i) and (j) for NDTMS and IPS, (h) and (j) for
    client level data."""
    bases = {code: {b.code for b in c.lawful_bases} for code, c in catalogue().collections.items()}
    assert bases == {
        "ndtms": {"6.1.e", "9.2.i", "9.2.j"},
        "ips": {"6.1.e", "9.2.i", "9.2.j"},
        "cld": {"6.1.e", "9.2.h", "9.2.j"},
    }


def test_every_notice_gives_the_data_protection_officer_and_the_ico():
    """SEC-3."""
    for c in catalogue().collections.values():
        roles = {ct.role: ct for ct in c.contacts}
        assert roles["data-protection-officer"].email == "data_protection@dhsc.gov.uk"
        assert "Wycliffe House" in roles["regulator"].address


def test_consent_statements():
    """CON-1 and CON-2 for IPS, CON-2 for NDTMS, CON-4 (no right to object) for CLD."""
    reqs = {code: {s.requirement for s in c.consent} for code, c in catalogue().collections.items()}
    assert reqs == {"ndtms": {"CON-2"}, "ips": {"CON-1", "CON-2"}, "cld": {"CON-4"}}


def test_an_unknown_collection_is_a_sentence():
    with pytest.raises(Exception, match="Known collections: ndtms, ips, cld"):
        load_collection("nope")


# ---- the retention schedule ----------------------------------------------------------------


def test_the_schedule_keeps_every_retention_requirement():
    by_req: dict[str, list[RetentionRule]] = {}
    for r in schedule().rules:
        by_req.setdefault(r.requirement, []).append(r)
    assert sorted(by_req) == ["RET-1", "RET-2", "RET-3", "RET-4", "RET-5"]
    ret4 = {(r.period_years, r.from_event, r.from_field, r.condition) for r in by_req["RET-4"]}
    assert ret4 == {
        (20, "case-closure", "Case_Closure_Date",
         "Mental_Health_Record is Y and Date_of_Death is empty"),
        (8, "death", "Date_of_Death", "Mental_Health_Record is Y and Date_of_Death is given"),
        (8, "case-closure", "Case_Closure_Date", "Mental_Health_Record is N"),
    }
    (ret5,) = by_req["RET-5"]
    assert (ret5.period_years, ret5.from_event, ret5.extendable) == (20, "receipt", True)
    assert set(ret5.datasets) == set(available())
    (ret3,) = by_req["RET-3"]
    assert (ret3.period_years, ret3.from_event) == (0, "agreement-expiry")
    assert all(r.period_years is None for r in by_req["RET-1"] + by_req["RET-2"])


def test_rules_for_a_collection():
    assert [r.id for r in rules_for(["cld-event"])] == [
        "cld-agreement", "cld-mental-health", "cld-mental-health-deceased", "cld-other",
        "national-maximum",
    ]


@pytest.mark.parametrize(("change", "message"), [
    ({"text": "Kept for a while."}, "must state the period"),
    ({"from_field": None}, "from_field"),
    ({"from_field": "NHS_Number"}, "not a date field"),
    ({"when": [{"field": "Nope", "equals": "Y"}]}, "has no field Nope"),
    ({"requirement": "SHR-1"}, "not a RET requirement"),
    # What acts on a rule is a command (docs/design/0008 "Promises"); a rule says if it is.
    ({"enforced_by": []}, "enforced_by names the commands"),
    ({"enforced_by": ["policy:never-police-or-courts"]}, "enforced_by names the commands"),
    ({"kind": "information"}, "kind"),
])
def test_a_rule_that_does_not_hold_together_is_refused(change, message):
    rule = next(r for r in schedule().rules if r.id == "cld-mental-health")
    data = {**rule.model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        RetentionRule.model_validate(data)


# ---- which policy rules a notice shows ------------------------------------------------------


def test_every_policy_rule_is_shown_in_some_notice():
    """The probes reach every rule; a new rule they cannot reach fails here, not silently."""
    shown = {r.id for c in catalogue().collections.values() for r, _ in rule_scopes(c.datasets)}
    assert shown == {r.id for r in rules()}


def test_rules_about_ips_data_are_only_in_the_ips_notice():
    ips = {r.id for r, _ in rule_scopes(load_collection("ips").datasets)}
    ndtms = {r.id for r, _ in rule_scopes(load_collection("ndtms").datasets)}
    only_ips = {r.id for r in rules() if r.requirement in {"SHR-6", "CON-1"}}
    assert only_ips and only_ips <= ips
    assert not only_ips & ndtms


def test_rules_are_grouped_by_the_tiers_they_decide():
    scopes = {r.id: tiers for r, tiers in rule_scopes(load_collection("ndtms").datasets)}
    assert scopes["aggregate-to-anyone"] == ("aggregate",)
    assert scopes["personal-to-processors"] == ("personal",)
    assert scopes["never-police-or-courts"] == ("personal", "de-personalised")
    assert scopes["anonymised-for-stated-purposes"] == ("anonymised",)


# ---- rendering -------------------------------------------------------------------------------


def test_html_notice_names_every_direct_identifier():
    html = render(notice("ndtms"), "html")
    named = page(html).codes_in["what-we-collect"]
    for dataset in ("ndtms-episode", "ndtms-review"):
        for f in load_spec(dataset).fields:
            assert f.name in named, f.name
    direct = [f.name for f in load_spec("ndtms-episode").fields
              if f.field_class == FieldClass.DIRECT]
    assert {"client_ref", "initials", "date_of_birth", "prison_number"} <= set(direct)


@pytest.mark.parametrize("fmt", ["markdown", "text"])
def test_other_formats_name_every_direct_identifier(fmt):
    text = render(notice("ndtms"), fmt)
    for dataset in ("ndtms-episode", "ndtms-review"):
        for f in load_spec(dataset).fields:
            if f.field_class == FieldClass.DIRECT:
                assert f.name in text


@pytest.mark.parametrize("collection", ["ndtms", "ips", "cld"])
def test_every_sharing_sentence_is_a_policy_rule_and_every_relevant_rule_is_there(collection):
    shown = page(render(notice(collection, (NDEC,)), "html")).rules
    texts = {r.text for r in rules()}
    assert shown and all(s in texts for s in shown), [s for s in shown if s not in texts]
    relevant = {r.text for r, _ in rule_scopes(load_collection(collection).datasets)}
    assert set(shown) == relevant


def test_html_is_accessible():
    p = page(render(notice("cld"), "html"))
    assert p.lang == "en"
    assert p.headings[0] == 1 and p.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(p.headings, p.headings[1:], strict=False))
    assert "script" not in p.tags


def test_a_recipient_name_is_escaped():
    evil = NDEC.model_copy(update={"name": "<script>alert('x')</script> & Co"})
    n = notice("ndtms", (evil,))
    html = render(n, "html")
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "script" not in page(html).tags
    md = render(n, "markdown")
    assert not re.search(r"(?<!\\)<", md.split("## Contact us")[0])  # every < is escaped
    assert r"\<script\>alert('x')\</script\> \& Co" in md


def test_a_draft_says_so_and_a_version_says_which():
    draft = notice("ips")
    assert "Draft, not published" in render(draft, "text")
    published = draft.model_copy(update={"version": "1.3", "published_on": date(2026, 4, 1)})
    assert "Version 1.3, published 1 April 2026." in render(published, "markdown")


def test_an_unknown_format_is_a_sentence():
    with pytest.raises(Exception, match="use one of: html, markdown, text"):
        render(notice("ndtms"), "pdf")


# ---- change notes ---------------------------------------------------------------------------


def _changed(base: Sections, **changes: object) -> Sections:
    return base.model_copy(update=changes)


def test_change_note_names_an_added_recipient():
    base = notice("ndtms").sections
    after = _changed(base, recipients=(NDEC,))
    assert change_note(base, after) == [
        "Added recipient National Drug Evidence Centre (research, de-personalised)."
    ]
    assert change_note(after, base) == [
        "Removed recipient National Drug Evidence Centre (research, de-personalised)."
    ]


def test_change_note_names_fields_rules_purposes_and_retention():
    base = notice("ndtms").sections
    episode = base.datasets[0]
    fewer = episode.model_copy(update={"classes": tuple(
        g.model_copy(update={"fields": tuple(f for f in g.fields if f.name != "religion")})
        for g in episode.classes
    )})
    sharing = base.sharing[1:]
    assert base.retention == ()  # no retention rule is acted on yet (docs/design/0008)
    kept = RetentionEntry(id="cld-other", requirement="RET-4", record_type="records",
                          period_years=8, from_event="case-closure", text="Kept for 8 years.",
                          enforced_by=("retention:cld-other",))
    after = _changed(
        base,
        datasets=(fewer, *base.datasets[1:]),
        sharing=sharing,
        purposes=base.purposes[:-1],
        retention=(kept,),
    )
    note = change_note(base, after)
    assert "Removed field religion from ndtms-episode." in note
    for r in base.sharing[0].rules:
        assert f"Removed sharing rule: {r.text}" in note
    assert any(line.startswith("Removed purpose statistics:") for line in note)
    assert "Added retention rule: Kept for 8 years." in note
    assert "Removed retention rule: Kept for 8 years." in change_note(after, base)
    assert all(line.endswith(".") for line in note)


def test_no_change_gives_an_empty_note():
    base = notice("cld").sections
    assert change_note(base, base) == []
