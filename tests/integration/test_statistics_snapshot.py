"""The statistics page is built once per state of the publications and served from memory
after (docs/benchmarks.md, the portal under load): a new publication, or a file added to a
publication's folder, shows on the next request; a signed-in reader gets the same tables with
their own navigation; a publication's file is found by its label alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from carehaven.access import auth
from carehaven.errors import NotFoundError
from carehaven.haven import Haven
from carehaven.publish import public as published
from tests.people import CHEAP
from tests.portal import ORGS, populate, portal, publish_fixture, sign_in


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "HASHER", CHEAP)


def test_the_page_follows_the_publications(make_haven: Callable[..., Haven],
                                           tmp_path: Path) -> None:
    haven = populate(make_haven(orgs=ORGS))
    first = publish_fixture(haven, tmp_path / "one")
    with portal(haven) as client:
        page = client.get("/statistics")
        assert page.status_code == 200 and first in page.text
        assert client.get("/statistics").text == page.text  # the same bytes, from memory
        assert "Sign out" not in page.text

        second = publish_fixture(haven, tmp_path / "two")
        again = client.get("/statistics").text
        assert first in again and second in again

        (tmp_path / "two" / "extra.csv").write_text("region,count\nEast,12\n")
        assert f"/statistics/{second}/extra.csv" in client.get("/statistics").text

        sign_in(client, "sub")
        mine = client.get("/statistics").text
        assert f"/statistics/{second}/extra.csv" in mine and "Sign out" in mine
        assert 'name="csrf_token"' in mine


def test_a_file_is_found_by_its_label_only(make_haven: Callable[..., Haven],
                                           tmp_path: Path) -> None:
    haven = make_haven()
    label = publish_fixture(haven, tmp_path / "pub")
    assert published.published_file(haven, label, "t.csv") == tmp_path / "pub" / "t.csv"
    number = label.removeprefix("T-")
    for wrong in (f"T-0{number}", f"T-{number}x", number, f"X-{number}", "T-", "T-99",
                  "T-" + "9" * 30):
        with pytest.raises(NotFoundError):
            published.published_file(haven, wrong, "t.csv")
    with pytest.raises(NotFoundError):
        published.published_file(haven, label, "../control.db")
