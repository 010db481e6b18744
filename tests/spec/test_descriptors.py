"""The shipped dataset descriptors keep the published return formats (shared/design/DATASETS.md).

The column names, requiredness and protection classes of DATASETS.md are a contract with the
providers (COL-3): the tables below transcribe it row by row, so any drift in a descriptor fails
here. The descriptor format itself is ADR 0001 (docs/design/0001-dataset-specs.md).
"""

from __future__ import annotations

import re

import pytest
from frictionless import Resource, Schema

from carehaven.specs import FieldClass, Rule, Spec, available, load_spec

DATASETS = ("cld-event", "hmrc-return", "ips-episode", "ndtms-episode", "ndtms-review")

# DATASETS.md, one line per column, in its order: name, kind, req, class.
# kind: string | date | integer | number | code (one code: `enum`)
#       | list (several codes: `carehaven:list`).
# req: "yes" where DATASETS.md says yes; "-" for no and for every conditional requiredness
# ("if consent", "if discharged", "unless a request", ...), which rules express instead.
CONTRACT: dict[str, str] = {
    "ndtms-episode": """
        provider_code               string   yes  O
        client_ref                  string   yes  D
        episode_id                  string   yes  O
        consent_ndtms               code     yes  O
        initials                    string   -    D
        date_of_birth               date     -    D
        sex                         code     yes  Q
        postcode_district           string   -    Q
        la_of_residence             string   -    Q
        ethnicity                   code     -    S
        religion                    code     -    S
        sexual_orientation          code     -    S
        disability                  list     -    S
        referral_source             code     yes  O
        referral_date               date     yes  O
        triage_date                 date     -    O
        treatment_start_date        date     yes  O
        discharge_date              date     -    O
        discharge_reason            code     -    O
        substance_1                 code     yes  S
        substance_2                 code     -    S
        substance_3                 code     -    S
        injecting_status            code     -    S
        treatment_modality          code     yes  S
        mental_health_need          code     -    S
        receiving_mh_treatment      code     -    S
        hep_c_tested                code     -    S
        hep_b_vaccinated            code     -    S
        hiv_tested                  code     -    S
        parental_responsibility     code     -    S
        children_living_with        integer  -    S
        children_receiving_support  code     -    S
        employment_status           code     -    O
        accommodation_need          code     -    O
        young_person_vulnerability  list     -    S
        transferred_from_provider   string   -    O
        cj_org_ref                  string   -    D
        cj_assessment_reason        code     -    S
        cj_onward_referral          code     -    O
        prison_number               string   -    D
        sentenced                   code     -    S
        release_date                date     -    O
    """,
    "ndtms-review": """
        provider_code               string   yes  O
        episode_id                  string   yes  O
        review_date                 date     yes  O
        review_stage                code     yes  O
        days_used_substance_1       integer  yes  S
        days_injected               integer  -    S
        psychological_health        integer  -    S
        physical_health             integer  -    S
        quality_of_life             integer  -    S
        housing_problem             code     -    S
        offending                   code     -    S
    """,
    "ips-episode": """
        provider_code               string   yes  O
        client_ref                  string   yes  D
        ips_id                      string   yes  O
        episode_id                  string   -    O
        ips_start_date              date     yes  O
        ips_end_date                date     -    O
        consent_dhsc                code     yes  O
        consent_date                date     -    O
        consent_notice_version      string   -    O
        consent_obtained_by         string   -    D
        consent_obtained_by_position string  -    O
        initials                    string   yes  D
        date_of_birth               date     yes  D
        sex                         code     yes  Q
        postcode                    string   -    D
        nino                        string   -    D
        ethnicity                   code     -    S
        job_start_date              date     -    O
    """,
    "cld-event": """
        LA_Code                     string   yes  O
        Reporting_Period_Start_Date date     yes  O
        Reporting_Period_End_Date   date     yes  O
        LA_Person_Unique_Identifier string   yes  D
        NHS_Number                  string   yes  D
        Given_Name                  string   -    D
        Family_Name                 string   -    D
        Date_of_Birth               date     yes  D
        Gender                      code     yes  Q
        Ethnicity                   code     yes  S
        Postcode                    string   yes  D
        Date_of_Death               date     -    Q
        Client_Type                 code     yes  O
        Primary_Support_Reason      code     -    S
        Accommodation_Status        code     yes  Q
        Employment_Status           code     -    Q
        Has_Unpaid_Carer            code     yes  O
        Mental_Health_Record        code     yes  S
        Case_Closure_Date           date     -    O
        Event_Type                  code     yes  O
        Event_Reference             string   -    O
        Event_Start_Date            date     yes  O
        Event_End_Date              date     -    O
        Event_Outcome               code     yes  O
        Request_Route_of_Access     code     -    O
        Hospital_Discharge_Ready_Date date   -    O
        Assessment_Type             code     -    O
        Eligible_Needs_Identified   code     -    O
        Method_of_Assessment        code     -    O
        Service_Type                code     -    O
        Service_Component           code     -    O
        Delivery_Mechanism          code     -    O
        Unit_Cost                   number   -    O
        Cost_Frequency_Unit_Type    code     -    O
        Planned_units_per_week      number   -    O
        Review_Reason               code     -    O
        Review_Outcomes_Achieved    code     -    O
        Method_of_Review            code     -    O
    """,
    "hmrc-return": """
        match_ref                   string   yes  O
        matched                     code     yes  O
        employment_start_date       date     -    O
        employment_end_date         date     -    O
        tax_year                    string   -    O
        taxable_pay                 number   -    S
        income_tax_paid             number   -    S
        ni_paid                     number   -    S
    """,
}

# Code lists DATASETS.md spells out itself.
PUBLISHED_CODES: dict[tuple[str, str], set[str]] = {
    ("ndtms-episode", "sex"): {"1", "2", "9"},
    ("ndtms-episode", "consent_ndtms"): {"Y", "N"},
    ("ndtms-episode", "mental_health_need"): {"Y", "N", "U"},
    ("ndtms-episode", "parental_responsibility"): {"Y", "N", "U"},
    ("ndtms-episode", "cj_onward_referral"): {"Y", "N"},
    ("ndtms-episode", "sentenced"): {"Y", "N"},
    ("ndtms-episode", "ethnicity"): set("ABCDEFGHJKLMNPRSZ") | {"99"},
    ("ndtms-review", "review_stage"): {"start", "review", "exit"},
    ("ndtms-review", "housing_problem"): {"Y", "N"},
    ("ndtms-review", "offending"): {"Y", "N"},
    ("ips-episode", "consent_dhsc"): {"Y", "N"},
    ("cld-event", "Client_Type"): {"Service User", "Carer", "Carer known by association"},
    ("cld-event", "Event_Type"): {"Request", "Assessment", "Service", "Review"},
    ("cld-event", "Has_Unpaid_Carer"): {"Y", "N", "U"},
    ("cld-event", "Mental_Health_Record"): {"Y", "N"},
    ("hmrc-return", "matched"): {"Y", "N"},
}

TABLE_SCHEMA_TYPE = {
    "string": "string",
    "code": "string",
    "list": "string",
    "date": "date",
    "integer": "integer",
    "number": "number",
}


def contract(name: str) -> list[tuple[str, str, bool, str]]:
    rows = []
    for line in CONTRACT[name].strip().splitlines():
        field, kind, req, cls = line.split()
        rows.append((field, kind, req == "yes", cls))
    return rows


@pytest.fixture(params=DATASETS)
def spec(request: pytest.FixtureRequest) -> Spec:
    return load_spec(request.param)


def test_exactly_the_five_published_datasets_are_available() -> None:
    assert available() == list(DATASETS)


@pytest.mark.parametrize("name", DATASETS)
def test_descriptor_loads_with_its_name_and_version(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name
    assert spec.version == "1.0.0"
    assert spec.title
    assert spec.description


def test_field_names_and_order_follow_the_published_format(spec: Spec) -> None:
    """COL-3: a provider's extract loads unchanged, so names and order are DATASETS.md's."""
    assert list(spec.field_names) == [f for f, *_ in contract(spec.name)]


def test_requiredness_follows_the_published_format(spec: Spec) -> None:
    """Required exactly where DATASETS.md says "yes"; conditional requiredness is a rule."""
    expected = {f: req for f, _, req, _ in contract(spec.name)}
    assert {f.name: f.required for f in spec.fields} == expected


def test_protection_classes_follow_the_published_format(spec: Spec) -> None:
    """PSE-1: the class decides which tier a value may reach."""
    expected = {f: FieldClass(cls) for f, _, _, cls in contract(spec.name)}
    assert {f.name: f.field_class for f in spec.fields} == expected


def test_types_and_code_lists_follow_the_published_format(spec: Spec) -> None:
    for field, kind, _, _ in contract(spec.name):
        f = spec.field(field)
        assert f.type == TABLE_SCHEMA_TYPE[kind], field
        if kind == "code":
            assert f.enum, f"{field} is coded but has no enum"
            assert f.list is None, field
        elif kind == "list":
            assert f.enum is None, f"{field} holds several codes, so its own enum must be absent"
            assert f.list is not None, field
            assert f.list.separator == ";"
        else:
            assert f.enum is None and f.list is None, field


def test_multi_code_fields_allow_as_many_codes_as_published() -> None:
    episode = load_spec("ndtms-episode")
    disability = episode.field("disability").list
    vulnerability = episode.field("young_person_vulnerability").list
    assert disability is not None and disability.max_items == 3
    assert vulnerability is not None and vulnerability.max_items == 5


@pytest.mark.parametrize(("name", "field"), sorted(PUBLISHED_CODES))
def test_published_code_lists_are_kept(name: str, field: str) -> None:
    assert set(load_spec(name).field(field).enum or ()) == PUBLISHED_CODES[(name, field)]


def test_every_field_is_described(spec: Spec) -> None:
    for f in spec.fields:
        assert f.description.strip().endswith("."), f.name


def test_every_code_has_a_label(spec: Spec) -> None:
    for f in spec.fields:
        codes = f.enum if f.enum is not None else f.list.enum if f.list else None
        if codes is None:
            assert f.codes is None, f"{f.name} has labels but no code list"
            continue
        assert len(set(codes)) == len(codes), f"{f.name} repeats a code"
        assert all(isinstance(c, str) and c == c.strip() and c for c in codes), f.name
        if f.codes is not None:
            assert set(f.codes) == set(codes), f"{f.name}: labels and codes differ"
            assert all(label.strip() for label in f.codes.values()), f.name


def test_every_pattern_compiles_and_is_implicitly_anchored(spec: Spec) -> None:
    for f in spec.fields:
        pattern = f.constraints.pattern
        if pattern is None:
            continue
        re.compile(pattern)
        assert not pattern.startswith("^") and not pattern.endswith("$"), f.name
        assert f.type == "string", f.name


@pytest.mark.parametrize(
    ("name", "field", "good", "bad"),
    [
        ("ndtms-episode", "initials", ["AB"], ["A", "ABC", "ab", "A."]),
        (
            "ndtms-episode",
            "postcode_district",
            ["SW1H", "M1", "B33", "EC1A", "ZZ99"],
            ["SW1H 9AJ", "1AB", "SW"],
        ),
        (
            "ndtms-episode",
            "la_of_residence",
            ["E08000003", "E06000001", "E09000033"],
            ["E10000002", "W06000001", "E0800003"],
        ),
        ("ndtms-episode", "prison_number", ["A1234BC"], ["A1234B", "11234BC", "a1234bc"]),
        (
            "ips-episode",
            "postcode",
            ["SW1H 9AJ", "M1 1AE", "EC1A 1BB"],
            ["SW1H9AJ", "SW1H  9AJ", "SW1H"],
        ),
        ("ips-episode", "nino", ["AB123456C", "JZ000000A"], ["DA123456A", "AB123456E", "AB12345C"]),
        ("ips-episode", "consent_notice_version", ["1.2", "10.0"], ["1", "v1.2", "1.2.3"]),
        ("cld-event", "NHS_Number", ["9434765919"], ["943 476 5919", "943476591"]),
        ("cld-event", "LA_Code", ["E08000003"], ["E10000002"]),
        ("hmrc-return", "tax_year", ["2023-24"], ["2023/24", "2023-2024"]),
    ],
)
def test_patterns_accept_and_refuse_sample_values(
    name: str, field: str, good: list[str], bad: list[str]
) -> None:
    pattern = load_spec(name).field(field).constraints.pattern
    assert pattern is not None
    for value in good:
        assert re.fullmatch(pattern, value), value
    for value in bad:
        assert not re.fullmatch(pattern, value), value


def test_identifier_checks_go_beyond_the_pattern() -> None:
    assert load_spec("ips-episode").field("nino").check == "nino"
    assert load_spec("cld-event").field("NHS_Number").check == "nhs-number"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("ndtms-episode", "date_of_birth"),
        ("ips-episode", "date_of_birth"),
        ("cld-event", "Date_of_Birth"),
    ],
)
def test_dummy_date_of_birth_is_out_of_range(name: str, field: str) -> None:
    """1900-01-01 is a known dummy date of birth, so the range starts the day after."""
    assert load_spec(name).field(field).constraints.minimum == "1900-01-02"


def test_bounded_numbers_have_their_published_range() -> None:
    bounds = {
        ("ndtms-episode", "children_living_with"): (0, 20),
        ("ndtms-review", "days_used_substance_1"): (0, 28),
        ("ndtms-review", "days_injected"): (0, 28),
        ("ndtms-review", "psychological_health"): (0, 20),
        ("ndtms-review", "physical_health"): (0, 20),
        ("ndtms-review", "quality_of_life"): (0, 20),
    }
    for (name, field), (low, high) in bounds.items():
        c = load_spec(name).field(field).constraints
        assert (c.minimum, c.maximum) == (low, high), field
    for name, field in [
        ("cld-event", "Unit_Cost"),
        ("cld-event", "Planned_units_per_week"),
        ("hmrc-return", "taxable_pay"),
        ("hmrc-return", "income_tax_paid"),
        ("hmrc-return", "ni_paid"),
    ]:
        assert load_spec(name).field(field).constraints.minimum == 0, field


def test_string_identifiers_have_a_length_limit(spec: Spec) -> None:
    for f in spec.fields:
        free_text = f.enum is None and f.list is None and f.constraints.pattern is None
        if f.type == "string" and free_text:
            assert f.constraints.max_length, f"{f.name} has no maxLength"


@pytest.mark.parametrize(
    ("name", "key", "submitter", "periods"),
    [
        ("ndtms-episode", ("provider_code", "episode_id"), "provider_code", ("quarter", "month")),
        (
            "ndtms-review",
            ("provider_code", "episode_id", "review_date", "review_stage"),
            "provider_code",
            ("quarter", "month"),
        ),
        ("ips-episode", ("provider_code", "ips_id"), "provider_code", ("quarter",)),
        ("cld-event", (), "LA_Code", ("quarter",)),
        ("hmrc-return", (), None, ("quarter",)),
    ],
)
def test_keys_submitter_and_periods(
    name: str, key: tuple[str, ...], submitter: str | None, periods: tuple[str, ...]
) -> None:
    """COL-1: the collection knows which organisation sent each file, and checks it."""
    spec = load_spec(name)
    assert spec.primary_key == key
    assert spec.submitter_field == submitter
    assert spec.periods == periods
    submitter_rules = [r.field for r in spec.rules if r.kind == "submitter"]
    assert submitter_rules == ([submitter] if submitter else [])


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("ndtms-episode", ("treatment-service", "young-peoples-service", "prison",
                           "secure-setting", "criminal-justice-team")),
        ("ndtms-review", ("treatment-service", "young-peoples-service", "prison",
                          "secure-setting", "criminal-justice-team")),
        ("ips-episode", ("treatment-service",)),
        ("cld-event", ("local-authority",)),
        ("hmrc-return", ("partner",)),
    ],
)
def test_each_collection_is_returned_by_its_own_kinds_of_organisation(
    name: str, kinds: tuple[str, ...]
) -> None:
    """COL-9 (000 §2.1, §2.7, §2.8; 001; 002; 003): NDTMS from treatment services, prisons and
    secure settings and criminal justice teams; IPS from treatment services; CLD from local
    authorities; the HMRC return from the partner. The description says why, citing the seeds."""
    spec = load_spec(name)
    assert tuple(spec.submitter_kinds) == kinds
    assert spec.descriptor()["carehaven:submitterKinds"] == list(kinds)
    assert "COL-9" in spec.description and re.search(r"00[0-3] ", spec.description)
    for kind in ("treatment-service", "local-authority", "prison", "partner", "recipient"):
        refusal = spec.refusal("X1", kind)
        assert (refusal is None) == (kind in kinds), (name, kind)
    assert spec.refusal("X1", "recipient") is not None  # a recipient never submits


def test_every_rule_says_what_is_wrong(spec: Spec) -> None:
    for rule in spec.rules:
        assert rule.message and rule.message.strip().endswith("."), rule.id


def _rule(spec: Spec, rule_id: str) -> Rule:
    matches = [r for r in spec.rules if r.id == rule_id]
    assert len(matches) == 1, rule_id
    assert matches[0].when is not None or matches[0].kind not in ("required-if", "empty-if")
    return matches[0]


def test_ndtms_identifiers_follow_consent() -> None:
    """IDN-1, PSE-2: without consent the episode is only counted, so no identifier is sent."""
    spec = load_spec("ndtms-episode")
    required = _rule(spec, "consent-identifiers-required")
    assert required.kind == "required-if"
    assert set(required.fields) == {"initials", "date_of_birth"}
    assert (required.when.field, required.when.equals) == ("consent_ndtms", "Y")
    present = _rule(spec, "consent-identifiers-present")
    assert present.kind == "empty-if"
    assert (present.when.field, present.when.equals) == ("consent_ndtms", "N")
    optional_direct = {
        f.name for f in spec.fields if f.field_class is FieldClass.DIRECT and not f.required
    }
    assert optional_direct <= set(present.fields)
    assert "postcode_district" in present.fields


def test_ips_consent_carries_the_consent_form() -> None:
    """CON-1: consent names the notice version and date and who obtained it."""
    spec = load_spec("ips-episode")
    required = [r for r in spec.rules if r.kind == "required-if"]
    assert len(required) == 1
    assert (required[0].when.field, required[0].when.equals) == ("consent_dhsc", "Y")
    assert set(required[0].fields) == {
        "consent_date",
        "consent_notice_version",
        "consent_obtained_by",
        "consent_obtained_by_position",
        "postcode",
        "nino",
    }
    notice = [r for r in spec.rules if r.kind == "notice-version"]
    assert [(r.field, r.date_field, r.notice) for r in notice] == [
        ("consent_notice_version", "consent_date", "ips")
    ]


def test_hmrc_unmatched_rows_carry_nothing_else() -> None:
    """XCH-2: "N: HMRC found no record; no other field then"."""
    spec = load_spec("hmrc-return")
    empty = [r for r in spec.rules if r.kind == "empty-if"]
    assert len(empty) == 1
    assert (empty[0].when.field, empty[0].when.equals) == ("matched", "N")
    assert set(empty[0].fields) == set(spec.field_names) - {"match_ref", "matched"}


def test_cld_type_specific_codes_are_required_for_their_event_type() -> None:
    """COL-2: requests, assessments, services and reviews each carry their own codes."""
    spec = load_spec("cld-event")
    by_type: dict[str, set[str]] = {}
    for r in spec.rules:
        if r.kind == "required-if" and r.when.field == "Event_Type":
            for event_type in r.when.in_ or (r.when.equals,):
                by_type.setdefault(event_type, set()).update(r.fields)
    # DATASETS.md: Assessment_Type, Eligible_Needs_Identified, Method_of_Assessment "assessments";
    # Review_Reason, Review_Outcomes_Achieved, Method_of_Review "reviews" (issue 13 item 6).
    assert by_type == {
        "Request": {"Request_Route_of_Access"},
        "Assessment": {
            "Primary_Support_Reason",
            "Assessment_Type",
            "Eligible_Needs_Identified",
            "Method_of_Assessment",
        },
        "Service": {
            "Primary_Support_Reason",
            "Service_Type",
            "Service_Component",
            "Delivery_Mechanism",
        },
        "Review": {
            "Primary_Support_Reason",
            "Review_Reason",
            "Review_Outcomes_Achieved",
            "Method_of_Review",
        },
    }


def test_condition_values_are_valid_codes(spec: Spec) -> None:
    """A `when` on a coded field names codes that exist, or it can never hold; a date is
    tested for being given, or for the age it gives at another date; a submitter kind test
    names kinds that return the dataset."""
    for rule in spec.rules:
        for leaf in rule.when.leaves() if rule.when else ():
            if leaf.submitter_kind is not None:
                assert set(leaf.submitter_kind) <= set(spec.submitter_kinds), rule.id
                continue
            assert leaf.field is not None
            f = spec.field(leaf.field)
            values = [*(leaf.in_ or ()), *([leaf.equals] if leaf.equals else [])]
            if f.enum is not None:
                assert set(values) <= set(f.enum), rule.id
            if f.type == "date":
                assert leaf.not_empty is not None or leaf.age_at is not None, rule.id
            if leaf.age_at is not None:
                assert f.type == spec.field(leaf.age_at).type == "date", rule.id


@pytest.mark.parametrize(("name", "rules"), [
    ("ndtms-episode", {}),
    ("ndtms-review", {"review-episode-known": ("episode_id", None),
                      "review-within-episode": ("review_date",
                                                ("referral_date", "discharge_date"))}),
    ("ips-episode", {"ips-episode-known": ("episode_id", None)}),
    ("cld-event", {}),
    ("hmrc-return", {}),
])
def test_references_to_another_return(name: str, rules: dict) -> None:
    """DATASETS.md: a review's episode_id is "an episode of the same provider" and its
    review_date "within the episode" (from the episode's referral, its first date, to its
    discharge); an IPS episode_id "the person's treatment episode at the same provider, if
    any". Each names ndtms-episode by episode_id, a field of a return its submitter makes."""
    spec = load_spec(name)
    got = {r.id: (r.targets[0], (r.within.from_, r.within.to) if r.within else None)
           for r in spec.references}
    assert got == rules
    target = load_spec("ndtms-episode")
    for r in spec.references:
        assert (r.field, r.dataset, r.key) == ("episode_id", "ndtms-episode", "episode_id")
        assert target.submitter_field == spec.submitter_field == "provider_code"
        assert r.message and r.field in r.message and r.targets[0] in r.message


def test_date_order_rules_compare_dates(spec: Spec) -> None:
    for rule in spec.rules:
        if rule.kind in ("date-order", "within-period"):
            assert spec.field(rule.field).type == "date", rule.id
        if rule.kind == "date-order":
            assert spec.field(rule.not_before).type == "date", rule.id


def test_schema_is_a_valid_frictionless_table_schema(spec: Spec) -> None:
    """ADR 0001: the same descriptor drives the frictionless oracle."""
    descriptor = spec.descriptor()["schema"]
    report = Schema.validate_descriptor(descriptor)
    assert report.valid, report.errors
    schema = Schema.from_descriptor(descriptor)
    assert [f.name for f in schema.fields] == list(spec.field_names)
    assert schema.missing_values == [""]
    assert schema.primary_key == list(spec.primary_key)


def test_frictionless_applies_the_field_constraints() -> None:
    """The oracle sees the same constraints: a bad code, out-of-range scores, a missing count."""
    spec = load_spec("ndtms-review")
    header = ",".join(spec.field_names)
    rows = [
        "P1,E1,2024-01-10,start,3,0,12,14,10,N,N",
        "P1,E1,2024-02-10,middle,29,,21,,,Y,",
        "P1,E2,2024-01-10,exit,,,,,,,",
    ]
    data = "\n".join([header, *rows]).encode()
    schema = Schema.from_descriptor(spec.descriptor()["schema"])
    report = Resource(data=data, format="csv", schema=schema).validate()
    found = {tuple(e) for e in report.flatten(["rowNumber", "fieldName"])}
    assert found == {
        (3, "review_stage"),
        (3, "days_used_substance_1"),
        (3, "psychological_health"),
        (4, "days_used_substance_1"),
    }
