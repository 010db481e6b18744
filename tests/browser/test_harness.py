"""The harness checks what it says it checks: axe-core fails a page with a serious violation,
naming the rule and the element."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visit

pytestmark = pytest.mark.browser


def test_axe_fails_a_page_with_a_serious_violation(visit: Visit) -> None:
    visit.page.set_content('<!DOCTYPE html><html lang="en"><head><title>t</title></head>'
                           '<body><main><img src="/static/none.png"></main></body></html>')
    with pytest.raises(AssertionError, match=r"image-alt \(critical.*img"):
        visit.check("harness-bad-page")
