"""carehaven.synth: determinism, the manifest, identifiers, truth, realism and planted errors."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from carehaven.specs import load_spec
from carehaven.synth import SynthResult, organisations, synthesise
from carehaven.synth.periods import parse_period
from carehaven.synth.rowcheck import RowChecker

PEOPLE = 2000
SEED = 11


# -- helpers --------------------------------------------------------------------------------
def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def rows_of(out: Path, dataset: str) -> list[tuple[str, int, dict[str, str]]]:
    """(path, spreadsheet row, row) for every data row of every file of ``dataset``."""
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    found = []
    for f in manifest["files"]:
        if f["dataset"] == dataset:
            for n, row in enumerate(read(out / f["path"]), start=2):
                found.append((f["path"], n, row))
    return found


def code(dataset: str, field: str, *words: str, exclude: tuple[str, ...] = ()) -> str:
    """The code of ``field`` whose label holds ``words`` (the test reads labels, not codes)."""
    f = load_spec(dataset).field(field)
    for c, label in (f.codes or {}).items():
        text = label.lower()
        if all(w in text for w in words) and not any(w in text for w in exclude):
            return c
    raise AssertionError(f"no code of {field} means {words}")


def nhs_ok(value: str) -> bool:
    """Modulus 11, written independently of the generator."""
    if not re.fullmatch(r"\d{10}", value):
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(value[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


def nino_ok(value: str) -> bool:
    return bool(
        re.fullmatch(r"[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]", value)
        and value[:2] not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
    )


def data_files(out: Path) -> set[str]:
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*.csv")
        if p.relative_to(out).parts[0] != "truth"
    }


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesise(tmp_path_factory.mktemp("clean"), people=PEOPLE, seed=SEED)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesise(
        tmp_path_factory.mktemp("planted"), people=PEOPLE, seed=SEED, invalid_rate=0.02
    )


@pytest.fixture(scope="module")
def truth(clean: SynthResult) -> dict[str, dict[str, str]]:
    return {p["person"]: p for p in read(clean.out / "truth" / "people.csv")}


@pytest.fixture(scope="module")
def who(clean: SynthResult) -> dict[tuple[str, int], str]:
    return {(r["path"], int(r["row"])): r["person"] for r in read(clean.out / "truth/records.csv")}


# -- determinism ----------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a = synthesise(tmp_path / "a", people=300, seed=5, invalid_rate=0.02)
    b = synthesise(tmp_path / "b", people=300, seed=5, invalid_rate=0.02)
    c = synthesise(tmp_path / "c", people=300, seed=6, invalid_rate=0.02)
    files_a = sorted(p.relative_to(a.out) for p in a.out.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.out) for p in b.out.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a.out / rel).read_bytes() == (b.out / rel).read_bytes(), rel
    differs = [
        rel for rel in files_a
        if (c.out / rel).is_file() and (c.out / rel).read_bytes() != (a.out / rel).read_bytes()
    ]
    assert len(differs) > len(files_a) // 2


def test_progress_is_reported_to_the_end(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    synthesise(tmp_path, people=50, seed=1, progress=lambda s, d, t: calls.append((s, d, t)))
    assert calls[0][1] == 0
    assert calls[-1][1] == calls[-1][2]
    assert [d for _, d, _ in calls] == sorted(d for _, d, _ in calls)


# -- manifest -------------------------------------------------------------------------------
def test_manifest_lists_every_file_with_its_row_count(planted: SynthResult) -> None:
    out = planted.out
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["generator"] == "carehaven.synth"
    assert (manifest["seed"], manifest["people"], manifest["invalid_rate"]) == (SEED, PEOPLE, 0.02)
    assert manifest["periods"] == ["2024Q3", "2024Q4", "2025Q1", "2025Q2"]
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == data_files(out)
    assert {f.path for f in planted.files} == set(listed)
    for path, f in listed.items():
        assert path == f"{f['dataset']}/{f['org']}_{f['period']}.csv"
        raw = (out / path).read_bytes()
        assert b"\r" not in raw
        with (out / path).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == load_spec(f["dataset"]).field_names
        assert len(rows) - 1 == f["rows"], path
    datasets = {f["dataset"] for f in manifest["files"]}
    assert datasets == {"ndtms-episode", "ndtms-review", "ips-episode", "cld-event", "hmrc-return"}


def test_organisations_are_the_fixed_realistic_set(planted: SynthResult) -> None:
    orgs = {o.code: o for o in organisations()}
    assert orgs["P001"].name == "Riverside Recovery"
    assert orgs["P001"].kind == "treatment-service"
    assert orgs["E08000025"].kind == "local-authority"
    assert orgs["HMRC"].kind == "partner"
    assert {o.kind for o in orgs.values()} >= {"prison", "criminal-justice-team"}
    manifest = json.loads((planted.out / "manifest.json").read_text("utf-8"))
    assert [o["code"] for o in manifest["organisations"]] == list(orgs)
    submitters = {f["org"] for f in manifest["files"]}
    assert submitters <= set(orgs)
    assert {"PR01", "CJ01", "E08000003", "HMRC"} <= submitters


def test_every_file_comes_from_an_organisation_of_a_kind_that_returns_it(
    planted: SynthResult,
) -> None:
    """COL-9: the synthetic haven's files all pass submit's organisation-kind check."""
    kinds = {o.code: o.kind for o in planted.organisations}
    sent = {(f.dataset, kinds[f.org]) for f in planted.files}
    assert {(d, k) for d, k in sent if load_spec(d).refusal("X", k) is not None} == set()
    assert {k for d, k in sent if d == "ndtms-episode"} == {
        "treatment-service", "young-peoples-service", "prison", "criminal-justice-team"
    }
    assert kinds["P008"] == "young-peoples-service"  # Irwell Young People's ... Service


# -- validity by construction ----------------------------------------------------------------
def test_every_row_of_a_clean_run_passes_the_generators_own_checks(clean: SynthResult) -> None:
    kinds = {o.code: o.kind for o in clean.organisations}
    for f in clean.files:
        spec = load_spec(f.dataset)
        checker = RowChecker(spec)
        period = parse_period(f.period)
        with (clean.out / f.path).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        keys = [tuple(r[checker.index[k]] for k in spec.primary_key) for r in rows]
        if spec.primary_key:
            assert len(set(keys)) == len(keys), f.path
        for n, row in enumerate(rows, start=2):
            assert checker.findings(row, f.org, period, kinds[f.org]) == [], (f.path, n)


def test_identifiers_pass_independent_checks(clean: SynthResult) -> None:
    nhs = [r["NHS_Number"] for _, _, r in rows_of(clean.out, "cld-event")]
    assert nhs and all(nhs_ok(v) for v in nhs)
    ninos = [r["nino"] for _, _, r in rows_of(clean.out, "ips-episode") if r["nino"]]
    assert ninos and all(nino_ok(v) for v in ninos)
    people = read(clean.out / "truth" / "people.csv")
    assert all(nhs_ok(p["nhs_number"]) and nino_ok(p["nino"]) for p in people)
    assert len({p["nhs_number"] for p in people}) == len(people)


def test_dates_never_pass_the_end_of_the_period(clean: SynthResult) -> None:
    for f in clean.files:
        spec = load_spec(f.dataset)
        dates = [fl.name for fl in spec.fields if fl.type == "date"]
        end = parse_period(f.period).end.isoformat()
        for row in read(clean.out / f.path):
            assert all(row[d] <= end for d in dates if row[d]), f.path


def test_cld_returns_cover_a_rolling_year(clean: SynthResult) -> None:
    for path, _, row in rows_of(clean.out, "cld-event"):
        period = parse_period(path.rsplit("_", 1)[1].removesuffix(".csv"))
        assert row["Reporting_Period_End_Date"] == period.end.isoformat()
        after = period.end + timedelta(days=1)
        assert row["Reporting_Period_Start_Date"] == after.replace(year=after.year - 1).isoformat()


# -- truth ----------------------------------------------------------------------------------
def test_records_cover_every_data_row(planted: SynthResult) -> None:
    out = planted.out
    people = {p["person"] for p in read(out / "truth" / "people.csv")}
    assert len(people) == PEOPLE
    records = read(out / "truth" / "records.csv")
    covered = {(r["path"], int(r["row"])) for r in records}
    assert len(covered) == len(records)
    expected = {(f.path, n) for f in planted.files for n in range(2, f.rows + 2)}
    assert covered == expected
    assert {r["person"] for r in records} <= people


# -- realism --------------------------------------------------------------------------------
def test_people_transfer_between_providers(
    clean: SynthResult, who: dict[tuple[str, int], str]
) -> None:
    transferred = code("ndtms-episode", "discharge_reason", "transferred", exclude=("prison",))
    episodes = rows_of(clean.out, "ndtms-episode")
    closed_by_transfer = {
        (row["provider_code"], who[(path, n)])
        for path, n, row in episodes
        if row["discharge_reason"] == transferred
    }
    arrivals = [
        (row["transferred_from_provider"], who[(path, n)])
        for path, n, row in episodes
        if row["transferred_from_provider"]
    ]
    assert any(a in closed_by_transfer for a in arrivals)


def test_someone_is_treated_at_two_providers_at_once(
    clean: SynthResult, who: dict[tuple[str, int], str]
) -> None:
    spans: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for path, n, row in rows_of(clean.out, "ndtms-episode"):
        period = path.rsplit("_", 1)[1].removesuffix(".csv")
        end = row["discharge_date"] or parse_period(period).end.isoformat()
        spans[(who[(path, n)], period)].append(
            (row["provider_code"], row["treatment_start_date"], end)
        )
    concurrent = [
        key for key, eps in spans.items()
        if any(
            a[0] != b[0] and a[1] <= b[2] and b[1] <= a[2]
            for i, a in enumerate(eps) for b in eps[i + 1:]
        )
    ]
    assert concurrent


def test_records_carry_realistic_mistakes(
    clean: SynthResult, who: dict[tuple[str, int], str], truth: dict[str, dict[str, str]]
) -> None:
    typos = swaps = 0
    for dataset in ("ndtms-episode", "ips-episode"):
        for path, n, row in rows_of(clean.out, dataset):
            person = truth[who[(path, n)]]
            if row["initials"] and row["initials"] != person["initials"]:
                assert re.fullmatch(r"[A-Z]{2}", row["initials"])
                pairs = zip(row["initials"], person["initials"], strict=True)
                assert sum(a != b for a, b in pairs) == 1
                typos += 1
            dob = person["date_of_birth"]
            if row["date_of_birth"] and row["date_of_birth"] != dob:
                y, m, d = dob.split("-")
                assert row["date_of_birth"] == f"{y}-{d}-{m}"
                swaps += 1
    assert typos > 0
    assert swaps > 0


def test_people_move_repeat_and_die(
    clean: SynthResult, who: dict[tuple[str, int], str], truth: dict[str, dict[str, str]]
) -> None:
    died = code("ndtms-episode", "discharge_reason", "died")
    episodes = rows_of(clean.out, "ndtms-episode")
    deaths = [
        (who[(path, n)], row["discharge_date"])
        for path, n, row in episodes
        if row["discharge_reason"] == died
    ]
    assert deaths
    assert all(truth[pid]["date_of_death"] == day for pid, day in deaths)
    assert any(r["Date_of_Death"] for _, _, r in rows_of(clean.out, "cld-event"))
    per_client: dict[tuple[str, str], set[str]] = defaultdict(set)
    districts: dict[str, set[str]] = defaultdict(set)
    for path, n, row in episodes:
        per_client[(row["provider_code"], row["client_ref"])].add(row["episode_id"])
        if row["postcode_district"] and row["postcode_district"] != "ZZ99":
            districts[who[(path, n)]].add(row["postcode_district"])
    assert any(len(ids) > 1 for ids in per_client.values()), "no repeat episode"
    assert any(len(ds) > 1 for ds in districts.values()), "nobody moved home"
    assert any(r["postcode_district"] == "ZZ99" for _, _, r in episodes)


def test_people_without_ndtms_consent_are_not_identifiable(clean: SynthResult) -> None:
    no = code("ndtms-episode", "consent_ndtms", "no")
    episodes = rows_of(clean.out, "ndtms-episode")
    declined = [r for _, _, r in episodes if r["consent_ndtms"] == no]
    assert 0.02 < len(declined) / len(episodes) < 0.07
    for r in declined:
        for name in ("initials", "date_of_birth", "postcode_district", "cj_org_ref",
                     "prison_number"):
            assert r[name] == ""


def test_some_social_care_clients_are_also_in_drug_treatment(
    clean: SynthResult, who: dict[tuple[str, int], str]
) -> None:
    treated = {who[(p, n)] for p, n, _ in rows_of(clean.out, "ndtms-episode")}
    cared = {who[(p, n)] for p, n, _ in rows_of(clean.out, "cld-event")}
    assert treated & cared


def test_criminal_justice_and_prison_returns_fill_their_fields(clean: SynthResult) -> None:
    episodes = rows_of(clean.out, "ndtms-episode")
    assert any(r["prison_number"] and r["sentenced"] for _, _, r in episodes
               if r["provider_code"].startswith("PR"))
    assert any(r["cj_org_ref"] and r["cj_assessment_reason"] for _, _, r in episodes
               if r["provider_code"].startswith("CJ"))
    assert not any(r["prison_number"] for _, _, r in episodes
                   if not r["provider_code"].startswith("PR"))


def test_ips_consent_cites_a_notice_in_force(clean: SynthResult) -> None:
    from carehaven.consent.notices import version_in_force

    yes = code("ips-episode", "consent_dhsc", "yes")
    rows = [r for _, _, r in rows_of(clean.out, "ips-episode")]
    signed = [r for r in rows if r["consent_dhsc"] == yes]
    assert 0.7 < len(signed) / len(rows) < 0.95
    for r in signed:
        on = date.fromisoformat(r["consent_date"])
        assert version_in_force("ips", r["consent_notice_version"], on)
        assert r["postcode"] and r["nino"] and r["consent_obtained_by"]


# -- planted errors -------------------------------------------------------------------------
def test_planted_errors_are_about_the_rate_and_all_recorded(
    clean: SynthResult, planted: SynthResult
) -> None:
    total = sum(f.rows for f in planted.files)
    plants = read(planted.out / "truth" / "invalid.csv")
    assert planted.planted_invalid == len(plants)
    assert abs(len(plants) - 0.02 * total) <= 0.002 * total
    assert len({(p["path"], p["row"]) for p in plants}) == len(plants)
    recorded = {(p["path"], int(p["row"])): p for p in plants}
    rules_seen = set()
    changed_rows = set()
    for f in planted.files:
        spec = load_spec(f.dataset)
        with (clean.out / f.path).open(encoding="utf-8", newline="") as handle:
            before = list(csv.reader(handle))
        with (planted.out / f.path).open(encoding="utf-8", newline="") as handle:
            after = list(csv.reader(handle))
        assert len(before) == len(after)
        for n, (a, b) in enumerate(zip(before, after, strict=True), start=1):
            if a == b:
                continue
            changed_rows.add((f.path, n))
            plant = recorded.get((f.path, n))
            assert plant is not None, (f.path, n)
            rules_seen.add(plant["rule"])
            cells = [spec.field_names[i] for i, (x, y) in enumerate(zip(a, b, strict=True))
                     if x != y]
            if plant["rule"] == "duplicate-key":
                assert plant["field"] == spec.primary_key[-1]
                key = [spec.field_names.index(k) for k in spec.primary_key]
                assert any(
                    [b[i] for i in key] == [other[i] for i in key] for other in after[1:n - 1]
                )
                continue
            assert len(cells) == 1
            rule = next((r for r in spec.rules if r.id == plant["rule"]), None)
            allowed = {plant["field"]} | ({rule.not_before} if rule and rule.not_before else set())
            assert cells[0] in allowed, (f.path, n, plant, cells)
    assert changed_rows == set(recorded)
    assert {"required", "type", "enum", "pattern", "nhs-number", "duplicate-key"} <= rules_seen
    assert any(r not in {"required", "type", "enum", "pattern"} and "-" in r for r in rules_seen)


def test_planted_rows_give_exactly_the_recorded_finding(planted: SynthResult) -> None:
    plants = {(p["path"], int(p["row"])): p for p in read(planted.out / "truth" / "invalid.csv")}
    no = code("ndtms-episode", "consent_ndtms", "no")
    no_ips = code("ips-episode", "consent_dhsc", "no")
    for f in planted.files:
        spec = load_spec(f.dataset)
        checker = RowChecker(spec)
        period = parse_period(f.period)
        for n, row in enumerate(read(planted.out / f.path), start=2):
            plant = plants.get((f.path, n))
            if plant is None or plant["rule"] == "duplicate-key":
                continue
            cells = list(row.values())
            assert checker.findings(cells, f.org, period) == [(plant["field"], plant["rule"])]
            if f.dataset == "ndtms-episode":
                assert row["consent_ndtms"] != no
            if f.dataset == "ips-episode":
                assert row["consent_dhsc"] != no_ips


# -- small parts ----------------------------------------------------------------------------
def test_periods_tax_years_and_check_digits() -> None:
    from carehaven.synth.hmrc import tax_year
    from carehaven.synth.identifiers import is_valid_nhs_number, wrong_check_digit

    q = parse_period("2025Q2")
    assert (q.start, q.end) == (date(2025, 4, 1), date(2025, 6, 30))
    assert q.rolling_year_start() == date(2024, 7, 1)
    assert parse_period("2024Q4").rolling_year_start() == date(2024, 1, 1)
    assert parse_period("2025-02").end == date(2025, 2, 28)
    assert tax_year(date(2025, 4, 5).toordinal()) == "2024-25"
    assert tax_year(date(2025, 4, 6).toordinal()) == "2025-26"
    assert nhs_ok("9434765919") and is_valid_nhs_number("9434765919")
    assert not nhs_ok(wrong_check_digit("9434765919"))


def test_rolling_returns_repeat_cld_events_under_new_references(clean: SynthResult) -> None:
    """Issue 13 item 4: one true event sits in several rolling returns, with a different
    Event_Reference in each (some left empty), and the truth lists each event once."""
    out = clean.out
    events = {r["event"]: r for r in read(out / "truth" / "cld-events.csv")}
    event_of = {(r["path"], int(r["row"])): r["event"] for r in read(out / "truth" / "records.csv")
                if r["path"].startswith("cld-event/")}
    refs: dict[str, list[str]] = {}
    for path, row, values in rows_of(out, "cld-event"):
        refs.setdefault(event_of[(path, row)], []).append(values["Event_Reference"])
    assert set(refs) <= set(events)
    repeated = [r for r in refs.values() if len(r) > 1]
    assert len(repeated) > len(refs) / 3
    given = [r for r in repeated if all(r)]
    assert given and all(len(set(r)) == len(r) for r in given)  # a new reference every file
    every = [ref for r in refs.values() for ref in r]
    assert 0.03 < every.count("") / len(every) < 0.2
    services = [e for e in events.values() if e["event_type"] == "Service" and e["Unit_Cost"]]
    assert services and all(e["Cost_Frequency_Unit_Type"] for e in services)
