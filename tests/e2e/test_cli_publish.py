"""Publishing as a user runs it (issue 5): the demo ends by publishing, publish --list,
publish NAME, disclosure check (PSE-5, OUT-4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.people import demo_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("cli-publish")
    r = run("demo", "--haven-dir", str(root / "haven"), "--people", "1500", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    out["root"] = str(root)
    return out  # type: ignore[no-any-return]


def test_the_demo_ends_by_publishing_every_headline_table(demo: dict) -> None:  # type: ignore[type-arg]
    listed = run("publish", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [t["name"] for t in json.loads(listed.stdout)]
    assert set(json.loads(listed.stdout)[0]) == {"name", "dataset", "description"}
    published = demo["published"]
    assert set(published["tables"]) == set(names) and len(names) >= 6
    folder = Path(published["folder"])
    for name in names:
        csv = folder / f"{name}.csv"
        r = run("disclosure", "check", str(csv), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        result = json.loads(r.stdout)
        assert result == {"safe": True, "cells_checked": result["cells_checked"], "unsafe": []}


def test_publish_and_check_from_the_command_line(demo: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    haven = str(Path(demo["root"]) / "haven")
    r = run("--haven", haven, "publish", "ndtms-people-in-treatment", "--period", "2025Q1",
            "--out", str(tmp_path), "--json", env=demo_env(Path(haven)))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result) == {"files", "cells", "suppressed_primary", "suppressed_secondary", "safe",
                           "revision"}
    assert result["revision"] is None
    assert result["safe"] is True and result["cells"] > 0
    assert str(tmp_path / "ndtms-people-in-treatment.csv") in result["files"]
    for ext in ("csv", "structure.json", "png", "html"):
        assert (tmp_path / f"ndtms-people-in-treatment.{ext}").exists()
    again = run("--haven", haven, "publish", "ndtms-people-in-treatment", "--period", "2025Q1",
                "--out", str(tmp_path), env=demo_env(Path(haven)))
    assert again.returncode == 2 and "already exists" in again.stderr + again.stdout
    bad = run("--haven", haven, "publish", "no-such-table", "--period", "2025Q1",
              "--out", str(tmp_path), env=demo_env(Path(haven)))
    assert bad.returncode == 9 and "Traceback" not in bad.stderr


def test_check_finds_a_cell_given_away_by_its_totals(tmp_path: Path) -> None:
    """One suppressed cell alone in its row is recovered exactly from the row total: exit 12."""
    csv = tmp_path / "leaky.csv"
    csv.write_text(
        "area,sex,value\n"
        "A,F,[c]\nA,M,20\nA,Total,23\n"
        "B,F,15\nB,M,[c]\nB,Total,19\n"
        "Total,F,[c]\nTotal,M,[c]\nTotal,Total,42\n"
    )
    r = run("disclosure", "check", str(csv), "--json")
    assert r.returncode == 12, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["safe"] is False and result["cells_checked"] == 4
    exact = {tuple(u["cell"].values()): u["interval"] for u in result["unsafe"]}
    assert exact[("A", "F")] == [3.0, 3.0] and exact[("B", "M")] == [4.0, 4.0]
    text = run("disclosure", "check", str(csv))
    assert text.returncode == 12 and "UNSAFE" in text.stdout


def test_the_demo_releases_once_with_two_people_and_renders_the_notice(
    demo: dict,  # type: ignore[type-arg]
) -> None:
    """Issue 6, done when: the demo proposes and approves one de-personalised release (by two
    different people) and renders the NDTMS notice from the rules."""
    release = demo["release"]
    assert release["decision"] == "allow" and release["status"] == "written"
    assert release["rows"] > 0 and 0 < release["people"] <= release["rows"]
    assert Path(release["manifest"]).is_file()
    haven = Path(demo["root"]) / "haven"
    shown = run("--haven", str(haven), "release", "show", release["release_id"], "--json",
                env=demo_env(haven))
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["approved_by"] != record["proposed_by"]
    assert record["tier"] == "de-personalised" and record["recipient"] == "NDEC"
    notice = Path(demo["notice"]).read_text()
    assert notice.startswith("<!DOCTYPE html>") or "<html" in notice
    assert "National Drug Evidence Centre" in notice and "initials" in notice
    # The demo's people act as anyone does once a haven has users: with their own tokens,
    # left owner-only for whoever ran it; without one, nobody acts.
    tokens = haven / "demo-tokens.env"
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert run("--haven", str(haven), "release", "show", release["release_id"]).returncode == 13
    second = [x.removeprefix("# ") for x in tokens.read_text().splitlines()
              if x.startswith("# export CAREHAVEN_TOKEN=")]
    assert len(second) == 1
    who = run("--haven", str(haven), "auth", "whoami", "--json",
              env={"CAREHAVEN_TOKEN": second[0].split("=", 1)[1]})
    assert who.returncode == 0 and json.loads(who.stdout)["actor"] == record["approved_by"]


def test_the_demo_leaves_portal_users_who_sign_in_and_its_tables_on_the_statistics_page(
    demo: dict,  # type: ignore[type-arg]
) -> None:
    import stat

    from carehaven.config import Settings
    from carehaven.haven import open_haven
    from tests.portal import portal, sign_in

    portal_users = demo["portal"]
    passwords = Path(portal_users["passwords"])
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    lines = [x.split("\t") for x in passwords.read_text().splitlines() if not x.startswith("#")]
    assert {x[0] for x in lines} == set(portal_users["users"])
    assert sorted(portal_users["users"].values()).count("data-team") == 2
    haven = open_haven(Settings.load(haven=Path(demo["root"]) / "haven"))
    try:
        with portal(haven) as client:
            page = client.get("/statistics")
            assert page.status_code == 200
            for name in demo["published"]["tables"]:
                assert f"/{name}.csv" in page.text, name
            for name, password, _role in lines:
                with portal(haven) as browser:
                    sign_in(browser, name, password)
                    assert browser.get("/api/me").json()["username"] == name
    finally:
        haven.close()
