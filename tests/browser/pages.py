"""Pages the journeys need that the portal does not serve yet: their tests are written to the
issue's text and expected to fail with ``PageMissingError`` (and nothing else) until they exist."""

from __future__ import annotations

from typing import Any

import pytest

from carehaven.web.authz import TABLE


class PageMissingError(AssertionError):
    """The portal does not serve this page yet."""


def missing(*paths: str) -> Any:
    """xfail(strict) while any of ``paths`` is absent from the route table, and only for
    ``PageMissingError``: once the routes are there the test must pass."""
    absent = [p for p in paths if ("GET", p) not in TABLE]
    return pytest.mark.xfail(bool(absent), strict=True, raises=PageMissingError,
                             reason=f"the portal has no page {', '.join(absent)} yet")


def goto_page(visit: Any, path: str, name: str) -> None:
    """``visit.goto`` that says ``PageMissingError`` when the portal answers 404 for ``path``."""
    answer = visit.page.goto(path)
    if answer is not None and answer.status == 404:
        raise PageMissingError(f"{path}: not served")
    assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
    visit.check(name)
