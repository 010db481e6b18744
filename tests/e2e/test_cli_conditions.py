"""DATASETS.md's conditions the specs did not express, found through ``carehaven submit``
(issue 13 item 6; docs/design/0001, "Conditions of DATASETS.md").

One CLD return holds a valid row of every kind of event and one bad row per new condition; the
report names each bad row, its field and the rule, with a sentence naming the field, and nothing
else. A second return states a reporting period other than the quarter it is submitted for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from carehaven.cli import main
from tests.helpers import csv_bytes, declared_header, episode
from tests.spec.test_row_rules import IPS, _valid_cld

LA = "E08000025"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    args = ["--haven", str(tmp_path_factory.mktemp("conditions") / "haven")]
    assert main([*args, "init"]) == 0
    for code, kind in ((LA, "local-authority"), ("P001", "treatment-service"),
                       ("PR01", "prison"), ("SS01", "secure-setting"),
                       ("YP01", "young-peoples-service"), ("P002", "treatment-service")):
        assert main([*args, "orgs", "add", code, "--kind", kind, "--name", code]) == 0
    with pytest.MonkeyPatch.context() as m:
        # Each test's return replaces the last for the same period, whatever it brings: these
        # tests are about rows' conditions, not the supersession guard (test_cli_returns.py).
        m.setenv("CAREHAVEN_SUPERSEDE_HOLD_SHARE", "0")
        yield args


def _submit(h: list[str], tmp_path: Path, rows: list[dict[str, str]], dataset: str, org: str,
            capsys: pytest.CaptureFixture[str], header: list[str] | None = None,
            period: str = "2025Q2") -> tuple[dict, list[dict]]:
    """Submit ``rows``; the summary and the report's findings, as the user reads them."""
    path = tmp_path / f"{dataset}.csv"
    path.write_bytes(csv_bytes(rows, header))
    capsys.readouterr()
    code = main([*h, "submit", str(path), "--dataset", dataset, "--org", org,
                 "--period", period, "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    summary = json.loads(out)
    assert main([*h, "report", summary["submission_id"], "--format", "json", "--stdout"]) == 0
    report = json.loads(capsys.readouterr().out)
    return summary, report["findings"]


def _cld(**changes: str) -> dict[str, str]:
    return {**_valid_cld(), **changes}


def _assessment(**changes: str) -> dict[str, str]:
    return _cld(**{
        "Event_Type": "Assessment", "Request_Route_of_Access": "",
        "Primary_Support_Reason": "Mental Health Support",
        "Assessment_Type": "Long Term Support Needs Assessment",
        "Eligible_Needs_Identified": "Y", "Method_of_Assessment": "Face to Face",
        "Event_Outcome": "Progress to Support Planning / Services", **changes})


def _service(**changes: str) -> dict[str, str]:
    """An ongoing long-term home support service, costed."""
    return _cld(**{
        "Event_Type": "Service", "Request_Route_of_Access": "", "Event_End_Date": "",
        "Primary_Support_Reason": "Mental Health Support",
        "Service_Type": "Long Term Support: Community", "Service_Component": "Home Support",
        "Delivery_Mechanism": "Direct Payment", "Unit_Cost": "19.50",
        "Cost_Frequency_Unit_Type": "Hourly", "Planned_units_per_week": "10",
        "Event_Outcome": "Provision of service", **changes})


def _review(**changes: str) -> dict[str, str]:
    return _cld(**{
        "Event_Type": "Review", "Request_Route_of_Access": "",
        "Primary_Support_Reason": "Mental Health Support", "Review_Reason": "Planned",
        "Review_Outcomes_Achieved": "Fully Achieved", "Method_of_Review": "Telephone",
        "Event_Outcome": "No change in package", **changes})


SHORT_TERM = {"Service_Type": "Short Term Support: Other Short Term",
              "Service_Component": "Equipment and Adaptations", "Event_End_Date": "2025-05-01"}
VALID = [
    _cld(Hospital_Discharge_Ready_Date="2025-04-02"),  # a request on discharge from hospital
    _assessment(),
    _service(),  # ongoing: no Event_End_Date
    _review(),
    _service(**{**SHORT_TERM, "Unit_Cost": "150.00", "Cost_Frequency_Unit_Type": "One-off",
                "Planned_units_per_week": ""}),  # a one-off cost has no units a week
    _service(**{**SHORT_TERM, "Unit_Cost": "", "Cost_Frequency_Unit_Type": "",
                "Planned_units_per_week": ""}),  # a short-term service need not be costed
    # Learning disability at 75 (1950-03-04): Employment_Status is asked at working age only.
    _assessment(Primary_Support_Reason="Learning Disability Support", Employment_Status=""),
]
#: One bad row per condition, and what the report must say of it: (field, rule) pairs.
BAD: list[tuple[dict[str, str], set[tuple[str, str]]]] = [
    (_cld(Event_End_Date=""), {("Event_End_Date", "event-end-required")}),
    (_assessment(Event_End_Date=""), {("Event_End_Date", "event-end-required")}),
    (_assessment(Method_of_Assessment=""),
     {("Method_of_Assessment", "assessment-details-required")}),
    (_assessment(Eligible_Needs_Identified=""),
     {("Eligible_Needs_Identified", "assessment-details-required")}),
    (_review(Review_Outcomes_Achieved=""),
     {("Review_Outcomes_Achieved", "review-details-required")}),
    (_review(Method_of_Review=""), {("Method_of_Review", "review-details-required")}),
    (_service(Unit_Cost="", Cost_Frequency_Unit_Type="", Planned_units_per_week=""),
     {(f, "long-term-service-cost-required")
      for f in ("Unit_Cost", "Cost_Frequency_Unit_Type", "Planned_units_per_week")}),
    (_service(**{**SHORT_TERM, "Unit_Cost": "", "Cost_Frequency_Unit_Type": "",
                 "Planned_units_per_week": "3"}),
     {("Unit_Cost", "cost-needs-frequency"), ("Cost_Frequency_Unit_Type", "cost-needs-frequency")}),
    (_service(**{**SHORT_TERM, "Cost_Frequency_Unit_Type": ""}),
     {("Cost_Frequency_Unit_Type", "cost-needs-frequency")}),
    (_service(**{**SHORT_TERM, "Cost_Frequency_Unit_Type": "Daily",
                 "Planned_units_per_week": ""}),
     {("Planned_units_per_week", "planned-units-required")}),
    (_cld(Request_Route_of_Access="Community / Other route",
          Hospital_Discharge_Ready_Date="2025-04-02"),
     {("Hospital_Discharge_Ready_Date", "discharge-ready-only-from-hospital")}),
    (_assessment(Hospital_Discharge_Ready_Date="2025-04-02"),
     {("Hospital_Discharge_Ready_Date", "discharge-ready-only-from-hospital")}),
    # DHSC: Employment_Status for a person with a learning disability aged 18 to 64.
    (_assessment(Primary_Support_Reason="Learning Disability Support", Employment_Status="",
                 Date_of_Birth="1980-03-04"),
     {("Employment_Status", "employment-status-required")}),
    # A code that is not one of Event_Type's makes every condition on it unknown: the row gets
    # its own finding, not one from each rule that tests Event_Type.
    (_cld(Event_Type="Servce", Event_End_Date=""), {("Event_Type", "enum")}),
]


def test_each_condition_finds_its_bad_row(h, tmp_path, capsys):
    rows = VALID + [row for row, _ in BAD]
    # Every declared column, as a return carries them (issue 13 item 1).
    header = declared_header(list(dict.fromkeys(name for row in rows for name in row)))
    summary, findings = _submit(h, tmp_path, rows, "cld-event", LA, capsys, header)
    first_bad = 2 + len(VALID)  # the header is row 1
    expected = {(first_bad + i, field, rule)
                for i, (_, pairs) in enumerate(BAD) for field, rule in pairs}
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == expected
    assert summary["rows"] == {"total": len(rows), "accepted": len(VALID), "rejected": len(BAD)}
    for f in findings:
        assert f["field"] in f["message"] and f["message"].endswith("."), f


def test_the_reporting_period_is_the_quarter_submitted(h, tmp_path, capsys):
    """A rolling 12-month return for 2025Q2 covers 2024-07-01 to 2025-06-30; a file that
    states 2025Q1's 12 months (2024-04-01 to 2025-03-31) is found on both dates, every row."""
    earlier = {"Reporting_Period_Start_Date": "2024-04-01",
               "Reporting_Period_End_Date": "2025-03-31"}
    rows = [_cld(), _cld(**earlier, Event_Start_Date="2025-01-10", Event_End_Date="2025-01-20"),
            _cld(Reporting_Period_Start_Date="2024-06-30")]
    summary, findings = _submit(h, tmp_path, rows, "cld-event", LA, capsys)
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == {
        (3, "Reporting_Period_Start_Date", "reporting-period-start"),
        (3, "Reporting_Period_End_Date", "reporting-period-end"),
        (4, "Reporting_Period_Start_Date", "reporting-period-start"),
    }
    assert summary["rows"]["accepted"] == 1
    said = {f["rule"]: f["message"] for f in findings}
    assert "last day of the quarter submitted" in said["reporting-period-end"]
    assert "12 months" in said["reporting-period-start"]


def test_children_support_only_where_children_live_with_the_person(h, tmp_path, capsys):
    """DATASETS.md: children_receiving_support "only where children_living_with > 0", so also
    not where the count is not given; a count that is not a number gets its own finding only."""
    rows = [episode(children_living_with="2", children_receiving_support="1"),
            episode(episode_id="E2", children_living_with="", children_receiving_support="1"),
            episode(episode_id="E3", children_living_with="0", children_receiving_support="1"),
            episode(episode_id="E4", children_living_with="two", children_receiving_support="1")]
    _, findings = _submit(h, tmp_path, rows, "ndtms-episode", "P001", capsys)
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == {
        (3, "children_receiving_support", "children-support-without-children"),
        (4, "children_receiving_support", "children-support-without-children"),
        (5, "children_living_with", "type"),
    }


#: DATASETS.md: the fields only some kinds of service return, a value for each.
BY_KIND = {"young_person_vulnerability": "1;3", "prison_number": "A1234BC", "sentenced": "Y",
           "release_date": "2025-05-20"}


@pytest.mark.parametrize(("org", "refused"), [
    ("P001", {("young_person_vulnerability", "vulnerability-only-young-peoples-services"),
              ("prison_number", "prison-details-only-prisons"),
              ("sentenced", "prison-details-only-prisons"),
              ("release_date", "release-date-only-prisons-secure-settings")}),
    ("YP01", {("prison_number", "prison-details-only-prisons"),
              ("sentenced", "prison-details-only-prisons"),
              ("release_date", "release-date-only-prisons-secure-settings")}),
    ("PR01", {("young_person_vulnerability", "vulnerability-only-young-peoples-services")}),
    ("SS01", {("young_person_vulnerability", "vulnerability-only-young-peoples-services"),
              ("prison_number", "prison-details-only-prisons"),
              ("sentenced", "prison-details-only-prisons")}),
])
def test_fields_returned_by_some_kinds_of_service_only(h, tmp_path, capsys, org, refused):
    """DATASETS.md: young_person_vulnerability "young people's services only"; prison_number,
    sentenced "prisons only"; release_date "prisons and secure settings". One row per field
    from each kind of submitter (registered with ``orgs add --kind``, young-peoples-service
    among them): found exactly where the kind does not return it, nothing else."""
    rows = [episode(provider_code=org)] + [
        episode(provider_code=org, episode_id=f"E{i}", **{name: value})
        for i, (name, value) in enumerate(BY_KIND.items(), start=2)]
    summary, findings = _submit(h, tmp_path, rows, "ndtms-episode", org, capsys)
    fields = list(BY_KIND)
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == {
        (3 + fields.index(field), field, rule) for field, rule in refused}
    assert summary["rows"]["rejected"] == len(refused)  # each field in a row of its own
    for f in findings:
        assert f["field"] in f["message"] and "submitting organisation" in f["message"], f


def _review(episode_id: str, day: str) -> dict[str, str]:
    return {"provider_code": "P002", "episode_id": episode_id, "review_date": day,
            "review_stage": "review", "days_used_substance_1": "4"}


def test_reviews_and_ips_name_an_episode_of_the_same_provider_in_force(h, tmp_path, capsys):
    """DATASETS.md: a review's episode_id is "an episode of the same provider", its review_date
    "within the episode"; an IPS episode_id, if any, "the person's treatment episode at the same
    provider". The episodes are the provider's accepted ndtms-episode rows in force, of any
    period, each as its latest return states it: from referral_date to discharge_date."""
    def ep(episode_id: str, **changes: str) -> dict[str, str]:
        return episode(provider_code="P002", client_ref=f"C{episode_id}", episode_id=episode_id,
                       **changes)

    closed = {"discharge_reason": "CDF"}
    q1 = [ep("E1", referral_date="2025-01-05", treatment_start_date="2025-01-10",
             discharge_date="2025-03-20", **closed),
          ep("E2", referral_date="2025-02-01", treatment_start_date="2025-02-03")]
    assert _submit(h, tmp_path, q1, "ndtms-episode", "P002", capsys, period="2025Q1")[1] == []
    # An episode of another provider, and one whose return was replaced without it.
    other = [episode(episode_id="X7", referral_date="2024-11-01",
                     treatment_start_date="2024-11-02")]
    assert _submit(h, tmp_path, other, "ndtms-episode", "P001", capsys, period="2024Q4")[1] == []
    q2 = [ep("E2", referral_date="2025-02-01", treatment_start_date="2025-02-03",
             discharge_date="2025-06-10", **closed),
          ep("E3", referral_date="2025-04-05", treatment_start_date="2025-04-08")]
    assert _submit(h, tmp_path, [*q2, ep("E4")], "ndtms-episode", "P002", capsys)[1] == []
    summary, _ = _submit(h, tmp_path, q2, "ndtms-episode", "P002", capsys)
    assert summary["superseded"]  # E4's return is no longer in force

    reviews = [_review("E2", "2025-05-01"), _review("E3", "2025-04-20"),
               _review("E2", "2025-06-10"),  # the day of discharge is within the episode
               _review("E2", "2025-06-20"),  # after E2's discharge, as its 2025Q2 row says
               _review("E3", "2025-04-01"),  # before E3's referral
               _review("E1", "2025-04-10"),  # after E1's discharge, in its 2025Q1 row
               _review("E9", "2025-05-01"),  # no such episode
               _review("X7", "2025-05-01"),  # P001's episode, not P002's
               _review("E4", "2025-05-01"),  # only in a superseded return
               _review("E9", "2025-13-01")]  # a bad date: its own finding, and the unknown key
    summary, findings = _submit(h, tmp_path, reviews, "ndtms-review", "P002", capsys)
    within, known = "review-within-episode", "review-episode-known"
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == {
        (5, "review_date", within), (6, "review_date", within), (7, "review_date", within),
        (8, "episode_id", known), (9, "episode_id", known), (10, "episode_id", known),
        (11, "episode_id", known), (11, "review_date", "type")}
    assert summary["rows"] == {"total": 10, "accepted": 3, "rejected": 7}
    for f in findings:
        assert f["field"] in f["message"] and "E9" not in f["message"], f

    ips = [{**IPS, "provider_code": "P002", "ips_id": "I1", "episode_id": ""},
           {**IPS, "provider_code": "P002", "ips_id": "I2", "episode_id": "E1"},
           {**IPS, "provider_code": "P002", "ips_id": "I3", "episode_id": "E9"},
           {**IPS, "provider_code": "P002", "ips_id": "I4", "episode_id": "X7"}]
    summary, findings = _submit(h, tmp_path, ips, "ips-episode", "P002", capsys)
    assert {(f["row"], f["field"], f["rule"]) for f in findings} == {
        (4, "episode_id", "ips-episode-known"), (5, "episode_id", "ips-episode-known")}
    assert all("episode_id" in f["message"] for f in findings)
