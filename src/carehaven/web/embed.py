"""Documents carehaven renders on its own (a validation report, a privacy notice) shown inside
the portal's layout: their <body> only, since their <style> block is inline and the
Content-Security-Policy allows none. They are carehaven's own autoescaped templates."""

from __future__ import annotations

import re

from markupsafe import Markup

_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
_STYLE = re.compile(r"<style.*?</style>|\sstyle=\"[^\"]*\"", re.DOTALL | re.IGNORECASE)


def body_of(document: str) -> Markup:
    found = _BODY.search(document)
    inner = found.group(1) if found else document
    return Markup(_STYLE.sub("", inner))  # noqa: S704 (carehaven's own autoescaped output)
