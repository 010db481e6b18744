"""The hash chain names the first entry that was altered, removed, inserted or reordered."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from carehaven.audit import record, verify
from carehaven.audit.events import OrganisationAdded


def _with_entries(haven, n: int) -> None:
    with haven.transaction() as s:
        for i in range(n):
            record(s, OrganisationAdded(code=f"T{i}", kind="partner"), actor="test")


def _tamper(haven, *statements: str) -> None:
    """What an attacker with database access could do: switch the guard off, then edit."""
    with haven.engine.begin() as conn:
        if haven.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        for s in statements:
            conn.execute(text(s))


def test_an_intact_chain_verifies(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 10)
    result = verify(haven.engine)
    assert result.ok and result.entries == 12 and result.first_bad is None


def test_an_altered_entry_is_named(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 10)
    _tamper(haven, "UPDATE audit_log SET details = '{\"code\":\"X\",\"kind\":\"partner\"}' "
                   "WHERE seq = 7")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 7 and "altered" in result.reason


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(make_haven,
                                                                      control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 10)
    from carehaven.audit import canonical, entry_hash

    with haven.engine.connect() as conn:
        seq, at, _actor, action, subject, prev = conn.execute(text(
            "SELECT seq, at, actor, action, subject, prev_hash FROM audit_log WHERE seq = 5"
        )).one()
    forged = entry_hash(prev, canonical(seq, at, "mallory", action, subject, "{}"))
    _tamper(haven, f"UPDATE audit_log SET actor = 'mallory', details = '{{}}', hash = '{forged}' "
                   "WHERE seq = 5")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 6


def test_a_removed_entry_is_named(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 10)
    _tamper(haven, "DELETE FROM audit_log WHERE seq = 4")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 5 and "removed" in result.reason
    assert result.entries == 11  # the log's length, not how far the walk got


def test_reordered_entries_are_named(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 10)
    _tamper(haven,
            "UPDATE audit_log SET seq = 1000 WHERE seq = 6",
            "UPDATE audit_log SET seq = 6 WHERE seq = 7",
            "UPDATE audit_log SET seq = 7 WHERE seq = 1000")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 6


def test_an_inserted_entry_is_named(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 3)
    # Renumber the tail to make room, then insert a forged entry with a self-consistent hash.
    from carehaven.audit import canonical, entry_hash

    with haven.engine.connect() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
    body = canonical(3, "2026-01-01T00:00:00.000000Z", "mallory", "organisation.added",
                     "organisation:Z", "{}")
    h = entry_hash(prev, body)
    _tamper(haven,
            "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
            "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103",
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) "
            f"VALUES (3, '2026-01-01T00:00:00.000000Z', 'mallory', 'organisation.added', "
            f"'organisation:Z', '{{}}', '{prev}', '{h}')")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 4


def test_a_truncated_tail_is_detected(make_haven, control_backend):
    haven = make_haven(control_backend)
    _with_entries(haven, 5)
    _tamper(haven, "DELETE FROM audit_log WHERE seq >= 6")
    result = verify(haven.engine)
    assert not result.ok and result.first_bad == 6 and "end" in result.reason


@pytest.mark.parametrize("backend", ["sqlite"])
def test_audit_details_hold_no_free_text(make_haven, backend):
    """Events are typed: their fields are codes, ids, counts and thresholds only."""
    import dataclasses

    from carehaven.audit import events

    for name in dir(events):
        cls = getattr(events, name)
        if isinstance(cls, type) and issubclass(cls, events.AuditEvent) and cls is not \
                events.AuditEvent:
            for f in dataclasses.fields(cls):
                assert f.type in ("str", "int", "float"), (cls.__name__, f.name, f.type)
