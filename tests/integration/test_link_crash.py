"""A link run killed after writing its tables, before committing, leaves the previous registry
in force; the next run completes normally (ADR 0004)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carehaven.control.models import AuditEntry, LinkRun
from carehaven.identity.counts import count_people
from carehaven.identity.link import link
from tests.linkage import build

pytestmark = pytest.mark.slow


def test_a_link_killed_before_commit_changes_nothing(tmp_path: Path) -> None:
    haven, _ = build(tmp_path / "h", tmp_path / "r", people=600, seed=9,
                     periods=("2025Q1", "2025Q2"))
    first = link(haven, actor="test")
    before = count_people(haven, "ndtms-episode", ("provider",)).rows
    with haven.sessions() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
    haven.close()

    env = {**os.environ, "CAREHAVEN_FAULT_POINT": "link.tables-written"}
    proc = subprocess.run(
        [sys.executable, "-m", "carehaven", "--haven", str(tmp_path / "h"), "link", "--full"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 137, proc.stderr

    with haven.sessions() as s:
        assert s.scalar(select(func.max(LinkRun.id))) == first.run
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == entries
    assert count_people(haven, "ndtms-episode", ("provider",)).rows == before

    again = link(haven, actor="test")
    assert again.run == first.run + 1
    assert (again.merges, again.splits) == (0, 0)
    assert count_people(haven, "ndtms-episode", ("provider",)).rows == before
