"""The control plane on SQLite and on the real PostgreSQL server (issue 2 part 3)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from carehaven.audit import verify
from carehaven.control import db
from carehaven.control.models import AuditEntry, NoticeVersionRecord, Organisation
from carehaven.errors import UsageError


def test_init_migrates_every_table(make_haven, control_backend):
    haven = make_haven(control_backend)
    tables = set(inspect(haven.engine).get_table_names())
    assert {"organisations", "dataset_specs", "notice_versions", "submissions", "audit_log",
            "audit_head", "alembic_version"} <= tables
    assert db.is_current(haven.engine)


def test_notice_versions_are_seeded(make_haven, control_backend):
    """CON-3: versioned notices with change notes are in the control plane."""
    haven = make_haven(control_backend)
    with haven.sessions() as s:
        versions = {(n.notice, n.version) for n in s.scalars(select(NoticeVersionRecord))}
    assert {("ips", "1.0"), ("ips", "1.1"), ("ips", "1.2")} <= versions


def test_organisation_kinds_are_enforced_by_the_database(make_haven, control_backend):
    haven = make_haven(control_backend)
    with pytest.raises(IntegrityError), haven.transaction() as s:
        s.add(Organisation(code="X1", name="x", kind="bank", created_at=__import__(
            "carehaven.clock", fromlist=["now"]).now()))


def test_adding_an_organisation_twice_is_refused_and_audited_once(make_haven, control_backend):
    haven = make_haven(control_backend)
    with pytest.raises(UsageError, match="already exists"):
        haven.add_organisation("P001", "treatment-service", "Again", actor="test")
    with haven.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions == ["haven.initialised", "organisation.added"]


def test_unknown_kind_is_a_usage_error(haven):
    with pytest.raises(UsageError, match="Unknown organisation kind"):
        haven.add_organisation("Z9", "bank", "Bank", actor="test")


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM audit_log WHERE seq = 1",
])
def test_audit_log_refuses_update_and_delete(make_haven, control_backend, statement):
    """The log is append-only at the database, not only in carehaven's code."""
    haven = make_haven(control_backend)
    with pytest.raises(DBAPIError, match="append-only"), haven.engine.begin() as conn:
        conn.execute(text(statement))
    assert verify(haven.engine).ok


def test_a_failed_change_leaves_no_audit_entry(make_haven, control_backend):
    """The audit entry is written in the same transaction as the change it records."""
    haven = make_haven(control_backend)
    before = verify(haven.engine).entries
    with pytest.raises(RuntimeError), haven.transaction() as s:
        from carehaven.audit import record
        from carehaven.audit.events import OrganisationAdded

        record(s, OrganisationAdded(code="Q1", kind="partner"), actor="test")
        raise RuntimeError("the change fails after the audit entry was added")
    result = verify(haven.engine)
    assert result.ok and result.entries == before
