"""Named crash points, so tests can prove that a kill at any step leaves the haven consistent.

A step calls ``checkpoint(settings, "name")``; when ``CAREHAVEN_FAULT_POINT`` names that point
(and the environment is not production) the process dies at once, as ``kill -9`` would leave it.
"""

from __future__ import annotations

import os

from carehaven.config import Settings


def checkpoint(settings: Settings, name: str) -> None:
    if settings.fault_point == name and settings.environment != "production":
        os._exit(137)
