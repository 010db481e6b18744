"""Notices promise only what runs, through the command line (issue 12 item 10; CON-2, CON-3,
RIG-1 to RIG-5, RET-1 to RET-5): ``notice render`` leaves out what nothing enforces yet,
``notice publish`` refuses a promise without a working mechanism, and a statement whose
capability lands returns with a change note; ``register`` lists retention as not yet enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carehaven.cli import main
from carehaven.governance import notice_promises
from carehaven.governance.collections import catalogue
from tests.unit.test_notice_promises import patch_catalogue, with_statement

WITHDRAW = "If you choose to share your information, you can change your mind at any time."


@pytest.fixture
def h(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    args = ["--haven", str(tmp_path / "haven")]
    assert main([*args, "init"]) == 0
    capsys.readouterr()
    return args


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_render_states_the_law_and_the_rules_but_not_what_nothing_performs(h, capsys):
    code, text, err = cli([*h, "notice", "render", "--collection", "ndtms", "--format", "text",
                           "--on", "2026-04-01"], capsys)
    assert code == 0 and "Promise without a working mechanism" not in err
    collection = catalogue().collections["ndtms"]
    for st in collection.rights:  # RIG-1 is the law; how a request is met waits for 'rights'
        assert (st.text in text) == (st.kind == "information"), st.requirement
    assert WITHDRAW not in text  # no 'consent withdraw' yet
    assert "not change the treatment or support you receive" in text
    assert "HOW LONG WE KEEP IT" not in text and "20 years" not in text  # no 'retention run'
    assert "Personal and de-personalised data:" in text  # the sharing rules stay
    code, page, _ = cli([*h, "notice", "render", "--collection", "cld", "--format", "html"],
                        capsys)
    assert code == 0 and 'href="#retention"' not in page and "8 years" not in page


def test_publish_refuses_a_promise_without_a_mechanism_and_publishes_nothing(h, capsys,
                                                                              monkeypatch):
    patch_catalogue(monkeypatch, with_statement("ndtms", 0, kind="promise"))
    code, _, err = cli([*h, "notice", "render", "--collection", "ndtms", "--format", "text"],
                       capsys)
    assert code == 0 and "there is no command 'consent withdraw'" in " ".join(err.split())
    code, _, err = cli([*h, "notice", "publish", "--collection", "ndtms", "--version", "1.0",
                        "--on", "2026-01-15"], capsys)
    said = " ".join(err.split())
    assert code == 10 and "would promise what nothing enforces" in said
    assert "consent CON-2" in said and "Traceback" not in err
    code, out, _ = cli([*h, "notice", "list", "--collection", "ndtms", "--json"], capsys)
    assert code == 0 and json.loads(out) == []


def test_a_statement_returns_when_its_capability_lands_with_a_change_note(h, capsys,
                                                                           monkeypatch):
    code, out, _ = cli([*h, "notice", "publish", "--collection", "ndtms", "--version", "1.0",
                        "--on", "2026-01-15", "--json"], capsys)
    assert code == 0, out
    real = notice_promises.commands()
    monkeypatch.setattr(notice_promises, "commands", lambda: real | {"consent withdraw"})
    patch_catalogue(monkeypatch, with_statement("ndtms", 0, kind="promise"))
    code, out, _ = cli([*h, "notice", "publish", "--collection", "ndtms", "--version", "1.1",
                        "--on", "2026-02-15", "--json"], capsys)
    assert code == 0, out
    assert json.loads(out)["change_note"] == [f"Added consent statement: {WITHDRAW}"]
    code, out, _ = cli([*h, "notice", "diff", "1.1", "1.0", "--json"], capsys)
    assert json.loads(out)["changes"] == [f"Removed consent statement: {WITHDRAW}"]


def test_register_lists_the_schedule_as_not_yet_enforced(h, capsys):
    code, out, _ = cli([*h, "register", "--format", "json", "--on", "2026-03-01"], capsys)
    assert code == 0
    for activity in json.loads(out)["activities"]:
        assert activity["retention"] == []
        assert activity["retention_not_yet_enforced"]
        notes = " ".join(activity["notes"])
        assert "returns when rights exists" in notes
    code, out, _ = cli([*h, "register", "--format", "markdown", "--on", "2026-03-01"], capsys)
    assert "not yet acted on by carehaven" in out
