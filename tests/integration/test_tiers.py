"""The four tiers on a linked synthetic haven: identifiers apart, pseudonyms per recipient, the
de-personalised and anonymised extracts, the leak scanner, key rotation (PSE-1 to PSE-4, IDN-4)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from carehaven.access.users import Actor
from carehaven.control.models import AuditEntry
from carehaven.errors import UsageError
from carehaven.haven import Haven
from carehaven.identity.link import link
from carehaven.pseudonymise import extract as extract_module
from carehaven.pseudonymise.extract import Request, extract
from carehaven.pseudonymise.keys import rotate
from carehaven.pseudonymise.lookup import find_person
from carehaven.pseudonymise.manifest import sha256_file
from carehaven.pseudonymise.personal import events_table, identifiers_table, tokens_table
from carehaven.pseudonymise.scan import LeakFoundError, scan_file
from carehaven.specs import FieldClass, load_spec
from tests.linkage import build, query

pytestmark = pytest.mark.slow

#: The haven has no users: its owner acts (single-operator mode).
OWNER = Actor("test", None, (), single_operator=True)


def release(dataset: str, tier: str, recipient: str, **kw: object) -> Request:
    """What ``release approve`` asks of the tiers code for ``recipient``."""
    return Request(dataset, tier, "release", recipient, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def haven(tmp_path_factory: pytest.TempPathFactory) -> Haven:
    root = tmp_path_factory.mktemp("tiers")
    h, _ = build(root / "haven", root / "returns", people=1500, seed=8,
                 periods=("2025Q1", "2025Q2"))
    link(h, actor="test")
    return h


@pytest.fixture(scope="module")
def ndec(haven: Haven, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ndec")
    extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), out, who=OWNER)
    return out


def test_identifiers_live_apart_from_events(haven: Haven, ndec: Path) -> None:
    """PSE-1: event tables hold no D field; the identifiers table holds them by person_id."""
    for dataset in ("ndtms-episode", "ips-episode", "cld-event", "ndtms-review"):
        spec = load_spec(dataset)
        cols = {r[0] for r in query(haven, f"SELECT column_name FROM information_schema.columns "
                                           f"WHERE table_name = '{events_table(dataset, 1)}'")}
        direct = {f.name for f in spec.fields if f.field_class == FieldClass.DIRECT}
        assert cols and not cols & direct
        assert "person_id" in cols
    fields = {r[0] for r in query(haven, f"SELECT DISTINCT field FROM {identifiers_table(1)}")}
    assert {"date_of_birth", "initials", "client_ref", "NHS_Number", "nino"} <= fields


def test_nhs_tokens_join_people_without_the_number(haven: Haven, ndec: Path) -> None:
    """IDN-4: one token per NHS number, never the number itself."""
    rows = query(haven, f"SELECT t.person_id, t.nhs_token, i.value FROM {tokens_table(1)} t "
                        f"JOIN {identifiers_table(1)} i ON i.person_id = t.person_id "
                        "AND i.field = 'NHS_Number'")
    assert rows
    token_of_number: dict[object, set[object]] = {}
    for _, token, number in rows:
        assert token != number and str(number).replace(" ", "") not in str(token)
        token_of_number.setdefault(str(number).replace(" ", ""), set()).add(token)
    assert sum(len(t) for t in token_of_number.values()) <= len(token_of_number) * 1.01


def test_de_personalised_extract_and_its_manifest(haven: Haven, ndec: Path) -> None:
    """PSE-2/PSE-3: no D field, age instead of date of birth, a pseudonym instead of person_id."""
    table = pq.read_table(ndec / "ndtms-episode.parquet")
    manifest = json.loads((ndec / "ndtms-episode.manifest.json").read_text())
    spec = load_spec("ndtms-episode")
    direct = {f.name for f in spec.fields if f.field_class == FieldClass.DIRECT}
    assert not set(table.column_names) & direct
    assert table.column_names[0] == "pseudonym" and "person_id" not in table.column_names
    assert "age_at_referral" in table.column_names
    assert manifest["dataset"] == "ndtms-episode" and manifest["tier"] == "de-personalised"
    assert manifest["rows"] == table.num_rows
    assert manifest["spec_version"] == spec.version
    assert manifest["key_id"].startswith("pk-") and manifest["recipient"] == "NDEC"
    classes = {c["name"]: c["class"] for c in manifest["columns"]}
    assert classes["pseudonym"] == "pseudonym" and classes["age_at_referral"] == "Q"
    assert set(classes.values()) <= {"Q", "S", "O", "pseudonym"}
    for f in manifest["files"]:
        assert sha256_file(ndec / f["name"]) == f["sha256"]
    # consent_ndtms = N rows are never shared
    assert set(table["consent_ndtms"].to_pylist()) == {"Y"}
    ages = [a for a in table["age_at_referral"].to_pylist() if a is not None]
    assert ages and min(ages) >= 0 and max(ages) < 110


def test_ages_agree_with_the_raw_rows(haven: Haven, ndec: Path) -> None:
    """The age at referral of each extracted episode, recomputed from the accepted rows."""
    raw = query(haven, "SELECT provider_code, episode_id, date_of_birth, referral_date "
                       "FROM ndtms_episode WHERE consent_ndtms = 'Y'")
    expect = {}
    for org, ep, dob, ref in raw:
        if dob is None or ref is None:
            continue
        years = ref.year - dob.year - ((ref.month, ref.day) < (dob.month, dob.day))  # type: ignore[attr-defined]
        expect[(org, ep)] = years
    table = pq.read_table(ndec / "ndtms-episode.parquet",
                          columns=["provider_code", "episode_id", "age_at_referral"])
    checked = 0
    for r in table.to_pylist():
        key = (r["provider_code"], r["episode_id"])
        if key in expect and r["age_at_referral"] is not None:
            assert r["age_at_referral"] == expect[key]
            checked += 1
    assert checked > 100


def test_pseudonyms_are_stable_per_recipient_and_never_shared(haven: Haven, ndec: Path,
                                                              tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), again, who=OWNER)
    extract(haven, release("ndtms-episode", "de-personalised", "OHID"), other, who=OWNER)
    first = pq.read_table(ndec / "ndtms-episode.parquet")
    second = pq.read_table(again / "ndtms-episode.parquet")
    third = pq.read_table(other / "ndtms-episode.parquet")
    assert first.equals(second)
    assert not set(first["pseudonym"].to_pylist()) & set(third["pseudonym"].to_pylist())
    assert len(set(third["pseudonym"].to_pylist())) == len(set(first["pseudonym"].to_pylist()))


def test_a_file_parted_from_its_manifest_has_its_pseudonyms_flagged_as_such(
        haven: Haven, ndec: Path, tmp_path: Path) -> None:
    """A copy without its manifest cannot prove whose pseudonyms it holds: refused, and said so."""
    copy = tmp_path / "copied.parquet"
    copy.write_bytes((ndec / "ndtms-episode.parquet").read_bytes())
    result = scan_file(haven, copy)
    assert not result.ok
    assert set(result.by_kind) == {"pseudonym (file not matched to an extract manifest)"}
    assert scan_file(haven, ndec / "ndtms-episode.parquet").ok


def test_anonymised_extract_is_k_anonymous_and_l_diverse(haven: Haven, tmp_path: Path) -> None:
    """PSE-4: every class of quasi-identifiers holds k rows and l sensitive values."""
    result = extract(haven, release("cld-event", "anonymised", "NDEC", k=10, l_div=2), tmp_path,
                     who=OWNER)
    table = pq.read_table(tmp_path / "cld-event.parquet")
    manifest = json.loads((tmp_path / "cld-event.manifest.json").read_text())
    report = manifest["anonymisation"]
    qis = [q["name"] for q in report["quasi_identifiers"]]
    assert len(qis) == 6 and "Age_at_Event" in qis and "Postcode_District" in qis
    assert "pseudonym" not in table.column_names and manifest["key_id"] is None
    classes = table.group_by(qis).aggregate([("Primary_Support_Reason", "count"),
                                             ("Primary_Support_Reason", "count_distinct")])
    assert min(classes["Primary_Support_Reason_count"].to_pylist()) >= 10
    assert min(classes["Primary_Support_Reason_count_distinct"].to_pylist()) >= 2
    assert report["chosen"]["information_loss"] <= report["baseline_global_recoding"][
        "information_loss"]
    assert table.num_rows == result.rows > 0
    # the suppression promised is the suppression released (people, not rows, make a class)
    assert report["suppressed_rows_counting_people"] == report["chosen"]["suppressed_rows"]
    assert report["chosen"]["suppressed_rows"] <= 0.05 * report["rows_in"]
    for name in ("Event_Start_Date", "Event_Reference", "LA_Person_Unique_Identifier"):
        assert name not in table.column_names


def test_every_extract_is_scanned_before_it_is_written(haven: Haven, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A derivation that let dates of birth through is stopped, and nothing is written."""
    real = extract_module.depersonalised

    def leaky(spec, events, identifiers, tier):  # type: ignore[no-untyped-def]
        rows = real(spec, events, identifiers, tier)
        ids = identifiers.filter(identifiers.field == "date_of_birth")
        return rows.join(ids.select("person_id", dob=ids.value).distinct(on="person_id"),
                         "person_id")

    monkeypatch.setattr(extract_module, "depersonalised", leaky)
    with pytest.raises(LeakFoundError) as err:
        extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), tmp_path,
                who=OWNER)
    assert "dob" in err.value.message and "date of birth" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_scanner_finds_each_kind_of_identifier(haven: Haven, ndec: Path, tmp_path: Path) -> None:
    assert scan_file(haven, ndec / "ndtms-episode.parquet").ok
    assert scan_file(haven, ndec / "ndtms-episode.csv").ok
    other = tmp_path / "other"
    extract(haven, release("ndtms-episode", "de-personalised", "PHE"), other, who=OWNER)
    table = pq.read_table(ndec / "ndtms-episode.parquet").slice(0, 200)
    people = [r[0] for r in query(haven, f"SELECT person_id FROM {events_table('cld-event', 1)} "
                                         "LIMIT 200")]
    nhs = [r[0] for r in query(haven, f"SELECT value FROM {identifiers_table(1)} "
                                      "WHERE field = 'NHS_Number' LIMIT 200")]
    theirs = pq.read_table(other / "ndtms-episode.parquet")["pseudonym"].slice(0, 200)
    n = min(len(people), len(nhs), 200)
    assert n > 50
    for name, values, kind in [
        ("who", people[:n], "person_id"),
        ("nhs", [f"{v[:3]} {v[3:6]} {v[6:]}" for v in nhs[:n]], "identifier"),
        ("other", theirs.slice(0, n).to_pylist(), "pseudonym"),  # no manifest: all flagged
    ]:
        tampered = table.slice(0, n).append_column(name, pa.array(values, pa.string()))
        path = tmp_path / f"{name}.parquet"
        pq.write_table(tampered, path)
        result = scan_file(haven, path)
        assert not result.ok and result.by_column[name] >= n
        assert any(k.startswith(kind) for k in result.by_kind)
        assert values[0] not in result.summary()


def test_rotation_changes_pseudonyms_and_keeps_earlier_releases_searchable(
    haven: Haven, ndec: Path, tmp_path: Path
) -> None:
    before = json.loads((ndec / "ndtms-episode.manifest.json").read_text())
    gen = rotate(haven, actor="test")
    assert gen.id >= 2
    extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), tmp_path, who=OWNER)
    after = json.loads((tmp_path / "ndtms-episode.manifest.json").read_text())
    assert after["key_id"] != before["key_id"] and after["key_generation"] == gen.id
    old = pq.read_table(ndec / "ndtms-episode.parquet")["pseudonym"]
    new = pq.read_table(tmp_path / "ndtms-episode.parquet")["pseudonym"]
    assert not set(old.to_pylist()) & set(new.to_pylist())
    # the earlier release still scans clean: its own pseudonyms are allowed by its manifest
    assert scan_file(haven, ndec / "ndtms-episode.parquet").ok
    person = query(haven, f"SELECT person_id FROM {events_table('ndtms-episode', 1)} "
                          "WHERE linkable LIMIT 1")[0][0]
    # The lineage finds the person in the releases before and after the rotation.
    found = {f["id"] for f in find_person(haven, str(person))}
    assert {before["artefact"], after["artefact"]} <= found
    mine = {before["artefact"]: old, after["artefact"]: new}
    assert all(int(pc.sum(pc.equal(col, col[0])).as_py()) >= 1 for col in mine.values())


def test_refusals(haven: Haven, ndec: Path, tmp_path: Path) -> None:
    for req, words in [
        (Request("ndtms-episode", "personal"), "never previewed"),
        (Request("ndtms-episode", "aggregate"), "publish"),
        (Request("ndtms-episode", "de-personalised", "release"), "names its recipient"),
        (Request("hmrc-return", "anonymised"), "not about people"),
        (release("ndtms-episode", "de-personalised", "nd ec"), "not valid"),
        (Request("cld-event", "anonymised", k=1), "--k"),
    ]:
        with pytest.raises(UsageError) as err:
            extract(haven, req, tmp_path, who=OWNER)
        assert words in err.value.message
    with pytest.raises(UsageError, match="already exists"):
        extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), ndec, who=OWNER)


def test_audit_records_extracts_without_identifiers(haven: Haven, ndec: Path) -> None:
    with haven.sessions() as s:
        entries = list(s.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("extract.written", "keys.rotated")))))
    assert any(e.action == "extract.written" for e in entries)
    pseudonyms = set(pq.read_table(ndec / "ndtms-episode.parquet")["pseudonym"].to_pylist())
    for e in entries:
        details = json.loads(e.details)
        assert not set(map(str, details.values())) & pseudonyms
        assert "PN" not in e.details


def test_unreadable_input_is_a_sentence_without_its_content(haven: Haven, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n"PN0123456789abcdef,1\nx,y,z\n')
    with pytest.raises(UsageError) as err:
        scan_file(haven, bad)
    assert "cannot be read" in err.value.message and "PN0123" not in err.value.message
    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("")
    with pytest.raises(UsageError, match="is a file"):
        extract(haven, release("ndtms-episode", "de-personalised", "NDEC"), not_a_folder,
                who=OWNER)
