"""A haven where only some datasets have been submitted still builds its tiers, feedback and
publications (found by an outside tester: an unsubmitted dataset had no table, exit 1)."""

from __future__ import annotations

from pathlib import Path

from carehaven.access.users import Actor
from carehaven.collection.submit import submit
from carehaven.haven import Haven
from carehaven.identity.feedback import feedback
from carehaven.identity.link import link
from carehaven.pseudonymise.extract import Request, extract, preview_folder
from tests.helpers import episodes_file

OWNER = Actor("test", None, (), single_operator=True)


def test_only_episodes_submitted(haven: Haven, tmp_path: Path) -> None:
    path = tmp_path / "P001_2025Q2.csv"
    path.write_bytes(episodes_file(40))
    assert submit(haven, path, dataset="ndtms-episode", org="P001", period="2025Q2",
                  actor="test").status == "accepted"
    link(haven, actor="test")
    req = Request("ndtms-episode", "de-personalised")
    assert extract(haven, req, preview_folder(haven, req), who=OWNER).rows == 40
    fed = feedback(haven, "P001", tmp_path / "fb.csv", actor="test")
    assert fed.rows == [] and (tmp_path / "fb.csv").is_file()
