"""The data plane: the records themselves, through Ibis, on DuckDB by default."""

from carehaven.data.backend import connect
from carehaven.data.tables import (
    META_COLUMNS,
    dataset_schema,
    ensure_dataset_table,
    in_force_rows,
)

__all__ = ["META_COLUMNS", "connect", "dataset_schema", "ensure_dataset_table", "in_force_rows"]
