"""Collection: land a provider's file, judge every row, accept the valid rows, report the rest.

The names below are loaded when first used (PEP 562), so that a listing (``collection.listing``)
imports neither DuckDB nor Arrow, which ``submit`` needs (issue 14 part 0; ADR 0015).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carehaven.collection.period import Period, parse_period
    from carehaven.collection.submit import SubmitResult

# ``submit`` the function is imported from ``carehaven.collection.submit``: a lazy name here
# would be shadowed by the submodule of the same name once that is imported.
__all__ = ["Period", "SubmitResult", "parse_period"]

_WHERE = {"Period": "period", "parse_period": "period", "SubmitResult": "submit"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"carehaven.collection.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'carehaven.collection' has no attribute {name!r}")
