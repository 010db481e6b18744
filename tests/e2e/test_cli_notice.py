"""Notices and the register as a user runs them: notice render, publish, diff, list; register
(CON-3, SHR-11, SEC-3)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from carehaven import clock
from carehaven.config import Settings
from carehaven.control.models import Agreement, Recipient
from carehaven.haven import open_haven
from carehaven.specs import FieldClass, load_spec
from tests.e2e.test_cli import run

pytestmark = pytest.mark.slow


def _add_ndec(root: Path) -> None:
    haven = open_haven(Settings.load(haven=root))
    try:
        with haven.transaction() as s:
            s.add(Recipient(code="NDEC", name="National Drug Evidence Centre", kind="research",
                            created_at=clock.now(), created_by="test"))
            s.flush()
            s.add(Agreement(
                recipient="NDEC", tier="de-personalised", fields={"ndtms-episode": ["sex"]},
                purposes=["research"], lawful_bases=["6.1.e", "9.2.j"],
                starts_on=date(2026, 1, 1), expires_on=date(2027, 1, 1),
                no_reidentification_signed=True, created_at=clock.now(), created_by="test",
            ))
    finally:
        haven.close()


def test_render_publish_diff_and_register(tmp_path: Path):
    root = tmp_path / "haven"
    h = ["--haven", str(root)]
    assert run(*h, "init").returncode == 0

    page = tmp_path / "ndtms.html"
    r = run(*h, "notice", "render", "--collection", "ndtms", "--format", "html", "--out",
            str(page), "--on", "2026-01-15")
    assert r.returncode == 0, r.stderr
    html = page.read_text()
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert "Draft, not published" in html and "<script" not in html
    for f in load_spec("ndtms-episode").fields:
        if f.field_class == FieldClass.DIRECT:
            assert f"<code>{f.name}</code>" in html

    first = run(*h, "notice", "publish", "--collection", "ndtms", "--version", "1.0", "--on",
                "2026-01-15", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["change_note"] == ["First version rendered from the rules."]

    _add_ndec(root)
    second = run(*h, "notice", "publish", "--collection", "ndtms", "--version", "1.1", "--on",
                 "2026-02-15")
    assert second.returncode == 0, second.stderr
    assert "PUBLISHED" in second.stdout
    assert "Added recipient National Drug Evidence Centre (research, de-personalised)." in (
        second.stdout)

    again = run(*h, "notice", "publish", "--collection", "ndtms", "--version", "1.1")
    assert again.returncode == 2 and "already published" in again.stderr
    assert "Traceback" not in again.stderr

    diff = run(*h, "notice", "diff", "1.0", "1.1", "--json")  # only ndtms has both
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout) == {
        "collection": "ndtms", "from": "1.0", "to": "1.1",
        "changes": ["Added recipient National Drug Evidence Centre (research, de-personalised)."],
    }
    missing = run(*h, "notice", "diff", "1.0", "9.9")
    assert missing.returncode == 2 and "No notice has both versions" in missing.stderr

    listed = json.loads(run(*h, "notice", "list", "--collection", "ndtms", "--json").stdout)
    assert [(v["version"], v["rendered"]) for v in listed] == [("1.0", True), ("1.1", True)]

    shown = run(*h, "notice", "render", "--collection", "ndtms", "--format", "markdown",
                "--version", "1.1")
    assert shown.returncode == 0 and "Version 1.1, published 15 February 2026." in shown.stdout

    reg = run(*h, "register", "--format", "json", "--on", "2026-03-01")
    assert reg.returncode == 0, reg.stderr
    activities = json.loads(reg.stdout)["activities"]
    assert [a["collection"] for a in activities] == ["ndtms", "ips", "cld"]
    assert all(a["third_country_transfers"] == [] for a in activities)
    assert activities[0]["recipients"][0]["organisations"] == ["National Drug Evidence Centre"]

    unknown = run(*h, "notice", "render", "--collection", "nope")
    assert unknown.returncode == 9 and "Known collections" in unknown.stderr
