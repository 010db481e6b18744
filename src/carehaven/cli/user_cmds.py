"""Placeholder: filled in by the governance work (issue 6)."""

from __future__ import annotations
