"""Submitting files: rows judged, valid rows accepted, nothing lost, resubmission (issue 2 §6)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from carehaven.audit import verify
from carehaven.collection import report
from carehaven.collection.landing import landed_path, read_landed
from carehaven.collection.submit import submit
from carehaven.control.models import AuditEntry, Submission
from carehaven.data import connect, in_force_rows
from carehaven.errors import ExitCode, UsageError
from carehaven.haven import UnknownOrganisationError
from carehaven.specs import UnknownDatasetError, load_spec
from tests.helpers import csv_bytes, episode, episodes_file

SPEC = load_spec("ndtms-episode")


def _submit(haven, tmp_path: Path, data: bytes, name: str = "P001_2025Q2.csv", **kw):
    path = tmp_path / name
    path.write_bytes(data)
    args = {"dataset": "ndtms-episode", "org": "P001", "period": "2025Q2", "actor": "test"}
    args.update(kw)
    return submit(haven, path, **args)


def _accepted_rows(haven, *ids: str) -> list[dict]:
    con = connect(haven.paths.data_db)
    try:
        return in_force_rows(con, SPEC, ids).order_by("_row").to_pyarrow().to_pylist()
    finally:
        con.disconnect()


def test_a_clean_file_is_accepted_whole(make_haven, control_backend, tmp_path):
    haven = make_haven(control_backend)
    result = _submit(haven, tmp_path, episodes_file(25))
    assert result.status == "accepted"
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (25, 25, 0)
    rows = _accepted_rows(haven, result.submission_id)
    assert len(rows) == 25
    assert str(rows[0]["date_of_birth"]) == "1980-05-01"  # typed as a date in the data plane
    assert rows[0]["_row"] == 2
    assert verify(haven.engine).ok


def test_invalid_rows_are_reported_and_the_rest_accepted(haven, tmp_path):
    rows = [episode(client_ref="C1", episode_id="E1"),
            episode(client_ref="C2", episode_id="E2", sex="7"),
            episode(client_ref="C3", episode_id="E3", date_of_birth="1980-02-30"),
            episode(client_ref="C4", episode_id="E4")]
    result = _submit(haven, tmp_path, csv_bytes(rows))
    assert result.status == "accepted"
    assert (result.rows_accepted, result.rows_rejected, result.findings) == (2, 2, 2)
    _, findings = report.load(result.report)
    got = {(f["row"], f["field"], f["rule"]) for f in findings.to_pylist()}
    assert got == {(3, "sex", "enum"), (4, "date_of_birth", "type")}
    assert [r["_row"] for r in _accepted_rows(haven, result.submission_id)] == [2, 5]


def test_same_bytes_again_change_nothing(haven, tmp_path):
    first = _submit(haven, tmp_path, episodes_file(5))
    entries = verify(haven.engine).entries
    again = _submit(haven, tmp_path, episodes_file(5))
    assert again.status == "unchanged" and again.submission_id == first.submission_id
    assert verify(haven.engine).entries == entries
    with haven.sessions() as s:
        assert len(list(s.scalars(select(Submission)))) == 1


def test_resubmission_supersedes_and_retires_without_destroying(make_haven, control_backend,
                                                                tmp_path):
    haven = make_haven(control_backend)
    first = _submit(haven, tmp_path, episodes_file(5))
    second = _submit(haven, tmp_path, episodes_file(3), name="P001_2025Q2_v2.csv")
    assert second.superseded == first.submission_id
    with haven.sessions() as s:
        old = s.get(Submission, first.submission_id)
        assert old.superseded_by == second.submission_id
        in_force = [x.id for x in s.scalars(select(Submission).where(
            Submission.superseded_by.is_(None), Submission.status == "accepted"))]
    assert in_force == [second.submission_id]
    assert len(_accepted_rows(haven, *in_force)) == 3
    assert len(_accepted_rows(haven, first.submission_id)) == 5  # retired, not destroyed
    with haven.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions[-1] == "submission.superseded"


def test_a_rejected_file_keeps_the_earlier_submission_in_force(haven, tmp_path):
    good = _submit(haven, tmp_path, episodes_file(4))
    bad = _submit(haven, tmp_path, b"provider_code,client_ref\nP001,C1\n", name="broken.csv")
    assert bad.status == "rejected" and bad.rows_accepted == 0
    assert "lacks the columns episode_id" in bad.message
    with haven.sessions() as s:
        assert s.get(Submission, good.submission_id).superseded_by is None
        assert s.get(Submission, bad.submission_id).status == "rejected"


@pytest.mark.parametrize(("data", "rule"), [
    (b"", "empty-file"),
    (b"provider_code,client_ref,episode_id\n", "missing-column"),
    (b"\xff\xfe\x00garbage", "encoding"),
    (b"1,2,3\n4,5,6\n", "no-header"),
])
def test_file_rules_reject_the_whole_file(haven, tmp_path, data, rule):
    result = _submit(haven, tmp_path, data)
    assert result.status == "rejected" and result.rows_accepted == 0
    summary, findings = report.load(result.report)
    assert findings.column("rule").to_pylist() == [rule]
    assert summary["status"] == "rejected"


def test_every_row_rejected_means_the_file_is_rejected(haven, tmp_path):
    result = _submit(haven, tmp_path, episodes_file(3, sex="8"))
    assert result.status == "rejected" and result.rows_rejected == 3


def test_a_file_over_the_size_limit_is_rejected_unread(make_haven, tmp_path):
    haven = make_haven()
    from carehaven.collection.reading import FileRejectedError
    from carehaven.config import Settings
    from carehaven.haven import open_haven

    small = open_haven(Settings.load(haven=haven.paths.root, max_file_mb=1))
    with pytest.raises(FileRejectedError, match="over the limit of 1 MiB") as e:
        _submit(small, tmp_path, episodes_file(20_000))
    assert e.value.exit_code == ExitCode.FILE_REJECTED
    with small.sessions() as s:  # the haven never took the bytes, so there is no submission
        assert list(s.scalars(select(Submission))) == []
    assert list(small.paths.landing.iterdir()) == []


def test_the_raw_file_is_kept_encrypted(haven, tmp_path):
    data = episodes_file(3, initials="QZ")
    result = _submit(haven, tmp_path, data)
    sealed = landed_path(haven.paths.landing, result.submission_id).read_bytes()
    assert b"provider_code" not in sealed and b"1980-05-01" not in sealed
    assert read_landed(haven.paths.landing, haven.master_key, result.submission_id) == data
    assert landed_path(haven.paths.landing, result.submission_id).stat().st_mode & 0o077 == 0


def test_usage_errors_name_what_is_wrong(haven, tmp_path):
    with pytest.raises(UnknownDatasetError) as e:
        _submit(haven, tmp_path, episodes_file(1), dataset="ndtms-everything")
    assert e.value.exit_code == ExitCode.UNKNOWN_DATASET
    with pytest.raises(UnknownOrganisationError):
        _submit(haven, tmp_path, episodes_file(1), org="P999")
    with pytest.raises(UsageError, match="not a quarter"):
        _submit(haven, tmp_path, episodes_file(1), period="2025Q5")
    with pytest.raises(UsageError, match="not by month"):  # P001 returns IPS, by quarter
        _submit(haven, tmp_path, episodes_file(1), dataset="ips-episode", period="2025-06")


def test_identifier_values_never_reach_reports_or_the_audit_log(haven, tmp_path):
    """ARCHITECTURE: identifiers never leak sideways (reports show shapes, audit holds none)."""
    rows = [episode(client_ref="CLIENTSECRET1", episode_id="E1", initials="Q9",
                    date_of_birth="1977-02-31", postcode_district="QX9")]
    rows.append(episode(client_ref="CLIENTSECRET2", episode_id="E2", consent_ndtms="N",
                        initials="ZQ"))
    result = _submit(haven, tmp_path, csv_bytes(rows))
    summary, findings = report.load(result.report)
    text = report.as_json(summary, findings) + report.as_csv(findings) + \
        report.as_html(summary, findings)
    for secret in ("CLIENTSECRET", "Q9", "1977-02-31", "ZQ"):
        assert secret not in text
    assert "A9" in text and "9999-99-99" in text  # the shape of the value is shown
    with haven.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(select(AuditEntry)) for v in row)
    for secret in ("CLIENTSECRET", "1977-02-31", "ZQ"):
        assert secret not in dump


def test_report_csv_neutralises_formulas(haven, tmp_path):
    result = _submit(haven, tmp_path, csv_bytes([episode(substance_1="=HYPERLINK(1)")]))
    _, findings = report.load(result.report)
    rows = list(csv.DictReader(io.StringIO(report.as_csv(findings))))
    assert rows[0]["value"].startswith("'=")


def test_report_html_is_readable(haven, tmp_path):
    result = _submit(haven, tmp_path, csv_bytes([episode(sex="5"), episode(episode_id="E2")]))
    summary, findings = report.load(result.report)
    page = report.as_html(summary, findings)
    assert "<table>" in page and "enum" in page and "Validation report" in page
