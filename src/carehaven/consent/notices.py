"""Published privacy-notice versions (CON-3), shipped as data in notices.json.

The IPS notice states version 1.2 and its change note, and that 1.2 is the third version. Its
consent form cites "dated 9th May 2022, version 1.2" while the notice page says "Date of
publication: 8th September 2022"; carehaven takes the earlier date as the day 1.2 existed, so
consents given between the two are not refused. The notice does not state when 1.0 and 1.1 were
published: the dates here are assumptions, marked ``date_stated: false``.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib import resources

from pydantic import BaseModel


class NoticeVersion(BaseModel):
    notice: str
    version: str
    published_on: date
    change_note: str
    date_stated: bool


@cache
def published_versions() -> tuple[NoticeVersion, ...]:
    """Every version of every notice carehaven knows, oldest first within a notice."""
    raw = json.loads((resources.files("carehaven.consent") / "notices.json").read_text("utf-8"))
    return tuple(
        NoticeVersion(notice=notice, **v)
        for notice, body in sorted(raw.items())
        for v in sorted(body["versions"], key=lambda v: v["published_on"])
    )


def version_superseded(notice: str, version: str, on: date) -> bool:
    """Whether a later version of ``notice`` than ``version`` had been published by ``on``."""
    mine = [v for v in published_versions() if v.notice == notice and v.version == version]
    return any(
        v.notice == notice and v.published_on <= on and v.published_on > m.published_on
        for m in mine
        for v in published_versions()
    )


def version_in_force(notice: str, version: str, on: date) -> bool:
    """Whether ``version`` of ``notice`` had been published by ``on`` (CON-1)."""
    return any(
        v.notice == notice and v.version == version and v.published_on <= on
        for v in published_versions()
    )
