"""The data plane: the records themselves, through Ibis, on DuckDB by default.

The names below are loaded when first used (PEP 562), so that ``carehaven.data.rawsql``, which a
``submit`` uses without Ibis (ADR 0014), can be imported without importing Ibis.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carehaven.data.backend import connect
    from carehaven.data.tables import (
        META_COLUMNS,
        dataset_schema,
        ensure_dataset_table,
        in_force_rows,
    )

_WHERE = {
    "connect": "backend", "META_COLUMNS": "tables", "dataset_schema": "tables",
    "ensure_dataset_table": "tables", "in_force_rows": "tables",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"carehaven.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'carehaven.data' has no attribute {name!r}")


__all__ = ["META_COLUMNS", "connect", "dataset_schema", "ensure_dataset_table", "in_force_rows"]
