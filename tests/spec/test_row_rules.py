"""Every row rule as a spec test: rows in, findings out (issue 2 §6, docs/design/0001)."""

from __future__ import annotations

import functools

import ibis
import pyarrow as pa
import pytest

from carehaven.collection.period import parse_period
from carehaven.collection.reading import read_table
from carehaven.collection.rules import Context
from carehaven.collection.validate import validate
from carehaven.consent.notices import published_versions
from carehaven.specs import load_spec
from tests.helpers import csv_bytes, episode

IPS = {
    "provider_code": "P001", "client_ref": "C1", "ips_id": "I1", "ips_start_date": "2025-04-03",
    "consent_dhsc": "Y", "consent_date": "2025-04-03", "consent_notice_version": "1.2",
    "consent_obtained_by": "Sam Worker", "consent_obtained_by_position": "IPS worker",
    "initials": "AB", "date_of_birth": "1980-05-01", "sex": "2", "postcode": "B12 9QA",
    "nino": "AB123456C",
}
CLD = {
    "LA_Code": "E08000025", "Reporting_Period_Start_Date": "2024-07-01",
    "Reporting_Period_End_Date": "2025-06-30", "LA_Person_Unique_Identifier": "LA1",
    "NHS_Number": "9434765919", "Date_of_Birth": "1950-03-04", "Gender": "Female",
    "Ethnicity": "White: British", "Postcode": "B12 9QA", "Client_Type": "Service User",
    "Accommodation_Status": "", "Employment_Status": "", "Has_Unpaid_Carer": "N",
    "Mental_Health_Record": "N", "Event_Type": "Request", "Event_Start_Date": "2025-04-03",
    "Event_End_Date": "2025-04-20", "Event_Outcome": "", "Request_Route_of_Access": "",
}


@functools.cache
def _con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def findings(dataset: str, rows: list[dict[str, str]], org: str = "P001",
             period: str = "2025Q2", kind: str | None = None) -> set[tuple[int, str, str]]:
    spec = load_spec(dataset)
    header = spec.field_names  # every declared column, as a return must carry
    con = _con()
    con.con.register("raw", read_table(csv_bytes(rows, header), spec, "t.csv"))
    ctx = Context(org, parse_period(period), published_versions(), org_kind=kind)
    v = validate(con, "raw", spec, ctx)
    return {(f["row"], f["field"], f["rule"]) for f in v.findings.to_pylist()}


def _valid_cld() -> dict[str, str]:
    spec = load_spec("cld-event")
    row = dict(CLD)
    for name in ("Accommodation_Status", "Employment_Status", "Event_Outcome",
                 "Request_Route_of_Access"):
        row[name] = spec.field(name).enum[0]  # type: ignore[index]
    row["Ethnicity"] = spec.field("Ethnicity").enum[0]  # type: ignore[index]
    row["Gender"] = spec.field("Gender").enum[0]  # type: ignore[index]
    return row


def test_valid_rows_have_no_findings():
    assert findings("ndtms-episode", [episode()]) == set()
    assert findings("ips-episode", [IPS]) == set()
    assert findings("cld-event", [_valid_cld()], org="E08000025") == set()


@pytest.mark.parametrize(("change", "expected"), [
    ({"sex": ""}, {(2, "sex", "required")}),
    ({"sex": "4"}, {(2, "sex", "enum")}),
    ({"initials": "ab"}, {(2, "initials", "pattern")}),
    ({"date_of_birth": "01/05/1980"}, {(2, "date_of_birth", "type")}),
    ({"date_of_birth": "1900-01-01"}, {(2, "date_of_birth", "minimum")}),
    ({"children_living_with": "21"}, {(2, "children_living_with", "maximum")}),
    ({"children_living_with": "two"}, {(2, "children_living_with", "type")}),
    ({"client_ref": "X" * 41}, {(2, "client_ref", "max-length")}),
    ({"disability": "1;2;3;4"}, {(2, "disability", "list-length")}),
    ({"disability": "1;QQ"}, {(2, "disability", "list-enum")}),
    ({"postcode_district": "B1X2"}, {(2, "postcode_district", "pattern")}),
    ({"la_of_residence": "W06000015"}, {(2, "la_of_residence", "pattern")}),
    ({"prison_number": "A12345B"}, {(2, "prison_number", "pattern")}),
])
def test_field_constraints(change, expected):
    assert findings("ndtms-episode", [episode(**change)]) == expected


def test_an_empty_cell_only_fails_required_rules():
    """Optional empty cells are missing values, not errors; a type failure stops other checks."""
    assert findings("ndtms-episode", [episode(triage_date="", ethnicity="")]) == set()
    assert findings("ndtms-episode", [episode(triage_date="2025-02-30")]) == {
        (2, "triage_date", "type")}


def test_duplicate_key_flags_later_rows_only():
    rows = [episode(), episode(client_ref="C2"), episode(client_ref="C3", episode_id="E3"),
            episode(client_ref="C4")]
    assert findings("ndtms-episode", rows) == {(3, "episode_id", "duplicate-key"),
                                               (5, "episode_id", "duplicate-key")}


def test_provider_code_must_be_the_submitters_own():
    assert findings("ndtms-episode", [episode(provider_code="P002")]) == {
        (2, "provider_code", "provider-is-submitter")}


def test_consent_n_with_identifiers_present_is_refused():
    """DATASETS consent_ndtms = N: identifiers must be empty (never linked or shared)."""
    row = episode(consent_ndtms="N", initials="AB", date_of_birth="", postcode_district="")
    assert findings("ndtms-episode", [row]) == {(2, "initials", "consent-identifiers-present")}
    ok = episode(consent_ndtms="N", initials="", date_of_birth="", postcode_district="")
    assert findings("ndtms-episode", [ok]) == set()


def test_consent_y_requires_identifiers():
    assert findings("ndtms-episode", [episode(initials="", date_of_birth="")]) == {
        (2, "initials", "consent-identifiers-required"),
        (2, "date_of_birth", "consent-identifiers-required")}


def test_dates_in_order_and_inside_the_period():
    got = findings("ndtms-episode", [
        episode(triage_date="2025-04-01"),
        episode(episode_id="E2", discharge_date="2025-07-01", discharge_reason="CDF"),
        episode(episode_id="E3", discharge_date="2025-04-09", discharge_reason="CDF"),
    ])
    rule_of = {(row, field): rule for row, field, rule in got}
    assert set(rule_of) == {(2, "triage_date"), (3, "discharge_date"), (4, "discharge_date")}
    assert "after" in rule_of[(3, "discharge_date")] or "period" in rule_of[(3, "discharge_date")]


def test_discharge_reason_required_once_discharged():
    got = findings("ndtms-episode", [episode(discharge_date="2025-05-01")])
    assert {(r, f) for r, f, _ in got} == {(2, "discharge_reason")}


def test_children_support_only_where_there_are_children():
    assert {(f, r) for _, f, r in findings(
        "ndtms-episode", [episode(children_living_with="0", children_receiving_support="1")])
    } == {("children_receiving_support", r) for r in ["children-support-without-children"]} or \
        len(findings("ndtms-episode", [episode(children_living_with="0",
                                               children_receiving_support="1")])) == 1


def test_a_month_period_bounds_dates():
    got = findings("ndtms-episode", [episode(treatment_start_date="2025-06-10",
                                             referral_date="2025-06-01")], period="2025-05")
    assert {f for _, f, _ in got} == {"referral_date", "treatment_start_date"}


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"consent_notice_version": "1.3"}, "consent_notice_version", None),
    ({"consent_notice_version": "1.2", "consent_date": "2022-05-08",
      "ips_start_date": "2022-05-08"}, "consent_notice_version", None),
    ({"nino": "GB123456C"}, "nino", "nino"),
    ({"nino": "AB123456E"}, "nino", "pattern"),
    ({"postcode": "B129QA"}, "postcode", "pattern"),
    ({"consent_date": ""}, "consent_date", None),
])
def test_ips_consent_rules(change, field, rule):
    """CON-1: consent names a notice version published on or before the consent date."""
    got = findings("ips-episode", [{**IPS, **change}])
    assert {f for _, f, _ in got} == {field}
    if rule:
        assert {r for _, _, r in got} == {rule}


@pytest.mark.parametrize(("version", "on", "found"), [
    ("1.1", "2021-12-01", set()),  # 1.1 was the notice in force that day
    ("1.2", "2022-05-09", set()),  # the day 1.2 was published
    ("1.1", "2022-05-09", {(2, "consent_notice_version", "consent-notice-superseded")}),
    ("1.0", "2025-04-03", {(2, "consent_notice_version", "consent-notice-superseded")}),
    ("1.2", "2022-05-08", {(2, "consent_notice_version", "consent-notice-version")}),
])
def test_ips_consent_cites_the_notice_in_force_on_the_day(version, on, found):
    """Issue 13 item 3 (CON-3): a version already superseded on the consent date is a finding
    of its own rule id; one not yet published stays consent-notice-version."""
    assert findings("ips-episode", [{**IPS, "consent_notice_version": version,
                                     "consent_date": on}]) == found


def test_ips_identifiers_without_consent_are_a_finding():
    """Issue 13 item 3 (CON-5): a postcode or NINO sent for a person who did not consent."""
    row = {**IPS, "consent_dhsc": "N", "consent_date": "", "consent_notice_version": "",
           "consent_obtained_by": "", "consent_obtained_by_position": ""}
    assert findings("ips-episode", [row]) == {
        (2, "postcode", "identifiers-without-consent"),
        (2, "nino", "identifiers-without-consent")}
    assert findings("ips-episode", [{**row, "postcode": "", "nino": ""}]) == set()


@pytest.mark.parametrize(("nhs", "ok"), [
    ("9434765919", True), ("9434765918", False), ("4010232137", True), ("1234567890", False),
])
def test_cld_nhs_number_check_digit(nhs, ok):
    got = findings("cld-event", [{**_valid_cld(), "NHS_Number": nhs}], org="E08000025")
    assert got == (set() if ok else {(2, "NHS_Number", "nhs-number")})


def test_cld_type_specific_fields_are_required():
    row = {**_valid_cld(), "Event_Type": "Service"}
    got = findings("cld-event", [row], org="E08000025")
    assert {"Service_Type", "Service_Component", "Delivery_Mechanism"} <= {f for _, f, _ in got}


def test_hmrc_unmatched_rows_carry_nothing_else():
    base = {"match_ref": "M1", "matched": "N"}
    assert findings("hmrc-return", [base], org="HMRC") == set()
    got = findings("hmrc-return", [{**base, "taxable_pay": "100.00"}], org="HMRC")
    assert {f for _, f, _ in got} == {"taxable_pay"}


@pytest.mark.parametrize("large", [False, True])
def test_small_and_large_file_plans_find_the_same(monkeypatch, large):
    """Large files keep only rows with findings; small ones every row's flags (validate._plan)."""
    from carehaven.collection import validate as validation

    monkeypatch.setattr(validation, "LARGE_FILE_ROWS", 0 if large else 10**9)
    rows = [episode(), episode(episode_id="E2", sex="4"), episode(client_ref="C9"),
            episode(episode_id="E4", triage_date="2025-02-30", initials="a")]
    assert findings("ndtms-episode", rows) == {
        (3, "sex", "enum"), (4, "episode_id", "duplicate-key"), (5, "triage_date", "type"),
        (5, "initials", "pattern")}


# -- the submitting organisation's kind, and an age at a date (issue 13 item 6) -----------------

KIND_FIELDS = {"young_person_vulnerability": ("1", "vulnerability-only-young-peoples-services"),
               "prison_number": ("A1234BC", "prison-details-only-prisons"),
               "sentenced": ("Y", "prison-details-only-prisons"),
               "release_date": ("2025-05-01", "release-date-only-prisons-secure-settings")}
#: DATASETS.md: who may return each field (young people's services; prisons; prisons and
#: secure settings), written here from the format rather than from the descriptor.
RETURNED_BY = {"young_person_vulnerability": {"young-peoples-service"},
               "prison_number": {"prison"}, "sentenced": {"prison"},
               "release_date": {"prison", "secure-setting"}}


@pytest.mark.parametrize("kind", ["treatment-service", "young-peoples-service", "prison",
                                  "secure-setting", "criminal-justice-team"])
def test_fields_only_some_kinds_of_service_return(kind):
    """DATASETS.md: young_person_vulnerability young people's services only; prison_number,
    sentenced prisons only; release_date prisons and secure settings. One row per field."""
    rows = [episode(episode_id=f"E{i}", **{name: value})
            for i, (name, (value, _)) in enumerate(KIND_FIELDS.items())]
    expected = {(2 + i, name, rule) for i, (name, (_, rule)) in enumerate(KIND_FIELDS.items())
                if kind not in RETURNED_BY[name]}
    assert findings("ndtms-episode", rows, kind=kind) == expected
    # Empty cells: nothing to refuse, whoever submits.
    assert findings("ndtms-episode", [episode()], kind=kind) == set()


def test_an_unknown_submitter_kind_leaves_the_kind_rules_unjudged():
    """Three-valued: a context without the kind makes ``submitterKind`` unknown, and so
    ``not`` of it, so the rule is not judged (ADR 0001); a bad cell keeps its own finding."""
    rows = [episode(prison_number="A1234BC", sentenced="Y", release_date="2025-05-01",
                    young_person_vulnerability="1"),
            episode(episode_id="E2", prison_number="A12345B")]
    assert findings("ndtms-episode", rows, kind=None) == {(3, "prison_number", "pattern")}
    assert findings("ndtms-episode", rows, kind="treatment-service") >= {
        (3, "prison_number", "pattern"), (3, "prison_number", "prison-details-only-prisons")}


def _ld(**changes: str) -> dict[str, str]:
    """A CLD assessment of a person with a learning disability, Employment_Status empty."""
    return {**_valid_cld(), "Event_Type": "Assessment", "Request_Route_of_Access": "",
            "Primary_Support_Reason": "Learning Disability Support",
            "Assessment_Type": "Long Term Support Needs Assessment",
            "Eligible_Needs_Identified": "Y", "Method_of_Assessment": "Face to Face",
            "Event_Outcome": "Progress to Support Planning / Services",
            "Employment_Status": "", **changes}


@pytest.mark.parametrize(("born", "required"), [
    ("2007-04-03", True),   # 18 on the day of the event (2025-04-03)
    ("2007-04-04", False),  # 18 the day after: 17 at the event
    ("1960-04-04", True),   # 64 until the next day
    ("1960-04-03", False),  # 65 on the day
    ("2004-02-29", True),   # a leap-day birth: 21
])
def test_employment_status_is_required_at_working_age(born, required):
    """DHSC CLD guidance (Release 1): Employment_Status is mandatory for a person with the
    primary support reason Learning Disability Support, collected for those aged 18 to 64:
    age in whole years from Date_of_Birth to Event_Start_Date."""
    got = findings("cld-event", [_ld(Date_of_Birth=born)], org="E08000025")
    assert got == ({(2, "Employment_Status", "employment-status-required")} if required
                   else set())
    assert findings("cld-event", [_ld(Date_of_Birth=born, Employment_Status="Unknown")],
                    org="E08000025") == set()


def test_the_age_test_is_false_on_an_empty_cell_and_unknown_on_an_invalid_one():
    """ADR 0001: another support reason, or no Event_Start_Date, makes the rule false (not
    judged as broken); a Date_of_Birth that is not a date gets its own type finding only."""
    la = "E08000025"
    assert findings("cld-event", [_ld(Primary_Support_Reason="Mental Health Support")],
                    org=la) == set()
    assert findings("cld-event", [_ld(Event_Start_Date="")], org=la) == {
        (2, "Event_Start_Date", "required")}
    assert findings("cld-event", [_ld(Date_of_Birth="03/04/1980")], org=la) == {
        (2, "Date_of_Birth", "type")}
    assert findings("cld-event", [_ld(Event_Start_Date="2025-02-30")], org=la) == {
        (2, "Event_Start_Date", "type")}


# -- references to another return's rows (issue 13 item 6) --------------------------------------

def _episodes(*rows: tuple[str, str, str]) -> dict[str, pa.Table]:
    """The episodes a review may name: (episode_id, referral_date, discharge_date)."""
    from carehaven.collection import references

    spec = load_spec("ndtms-review")
    return {"episode_id": references.from_rows(spec, "episode_id", [
        {"episode_id": e, "referral_date": r, "discharge_date": d} for e, r, d in rows])}


def _reviews(rows: list[dict[str, str]], named: dict | None) -> set[tuple[int, str, str]]:
    spec = load_spec("ndtms-review")
    con = _con()
    con.con.register("raw", read_table(csv_bytes(rows, spec.field_names), spec, "t.csv"))
    ctx = Context("P001", parse_period("2025Q2"), published_versions(), references=named)
    return {(f["row"], f["field"], f["rule"]) for f in validate(con, "raw", spec, ctx)
            .findings.to_pylist()}


def _rev(episode_id: str, day: str) -> dict[str, str]:
    return {"provider_code": "P001", "episode_id": episode_id, "review_date": day,
            "review_stage": "review", "days_used_substance_1": "3"}


def test_a_review_names_a_known_episode_and_falls_within_it():
    """From the episode's referral_date to its discharge_date, both days included; an open
    episode has no end. A key naming nothing is found on episode_id, a date outside on
    review_date."""
    named = _episodes(("E1", "2025-04-02", "2025-05-31"), ("E2", "2025-04-20", ""))
    rows = [_rev("E1", "2025-04-02"), _rev("E1", "2025-05-31"), _rev("E2", "2025-06-30"),
            _rev("E1", "2025-04-01"), _rev("E1", "2025-06-01"), _rev("E2", "2025-04-19"),
            _rev("E3", "2025-05-01")]
    assert _reviews(rows, named) == {
        (5, "review_date", "review-within-episode"), (6, "review_date", "review-within-episode"),
        (7, "review_date", "review-within-episode"), (8, "episode_id", "review-episode-known")}


def test_a_reference_is_judged_only_on_a_valid_key_where_the_rows_were_looked_up():
    """ADR 0001: a key that breaks its own field's constraints has that finding only; a date
    that is not a date its type finding only; and without looked-up rows (validation outside a
    haven) the reference rules are not judged, as a condition that is unknown."""
    named = _episodes(("E1", "2025-04-02", ""))
    long_key = "E" * 41
    rows = [_rev(long_key, "2025-05-01"), _rev("E1", "2025-02-30"), _rev("E9", "2025-05-01")]
    assert _reviews(rows, named) == {(2, "episode_id", "max-length"),
                                     (3, "review_date", "type"),
                                     (4, "episode_id", "review-episode-known")}
    assert _reviews(rows, None) == {(2, "episode_id", "max-length"), (3, "review_date", "type")}
    assert _reviews([_rev("E9", "2025-05-01")], _episodes()) == {
        (2, "episode_id", "review-episode-known")}  # looked up, and the provider has none


def test_an_ips_episode_reference_is_checked_only_when_given():
    from carehaven.collection import references

    spec = load_spec("ips-episode")
    named = {"episode_id": references.from_rows(spec, "episode_id", [{"episode_id": "E1"}])}
    rows = [IPS, {**IPS, "ips_id": "I2", "episode_id": "E1"},
            {**IPS, "ips_id": "I3", "episode_id": "E2"}]
    con = _con()
    con.con.register("raw", read_table(csv_bytes(rows, spec.field_names), spec, "t.csv"))
    ctx = Context("P001", parse_period("2025Q2"), published_versions(), references=named)
    got = {(f["row"], f["field"], f["rule"]) for f in validate(con, "raw", spec, ctx)
           .findings.to_pylist()}
    assert got == {(4, "episode_id", "ips-episode-known")}


@pytest.mark.parametrize(("rule", "said"), [
    ({"kind": "reference", "field": "n"}, "needs dataset, key"),
    ({"kind": "reference", "field": "n", "dataset": "d", "key": "k",
      "within": {"field": "n", "from": "a"}}, "needs n to be a date"),
    ({"kind": "required-if", "fields": ["n"], "when": {"field": "n", "notEmpty": True},
      "dataset": "d"}, "for a reference"),
])
def test_a_reference_that_could_not_be_judged_is_refused_on_load(rule, said):
    from pydantic import ValidationError

    from carehaven.specs import Spec

    with pytest.raises(ValidationError, match=said):
        Spec.from_descriptor({
            "name": "toy", "version": "1.0.0", "title": "Toy",
            "carehaven:submitterKinds": ["treatment-service"],
            "schema": {"fields": [{"name": "n", "type": "string", "carehaven:class": "O"}]},
            "carehaven:rules": [{"id": "r", **rule}]})


def test_a_reference_must_name_another_dataset_by_a_field_of_it():
    from carehaven.specs.registry import _check_reference

    review = load_spec("ndtms-review")
    with pytest.raises(ValueError, match="not another dataset"):
        _check_reference(review, "episode_id", "ndtms-review", "episode_id", ())
    with pytest.raises(ValueError, match="not a field"):
        _check_reference(review, "episode_id", "ndtms-episode", "episode_ref", ())
    with pytest.raises(ValueError, match="not a date"):
        _check_reference(review, "episode_id", "ndtms-episode", "episode_id", ("sex",))
