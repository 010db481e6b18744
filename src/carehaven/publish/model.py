"""A table as published: the numbers the public may see and a marker for every hidden cell.

The suppression engine works on :class:`~carehaven.disclosure.table.Table`, which holds the true
value of every cell. Writers must never see those values for hidden cells, or a bug in a writer
(a chart that "helpfully" draws the bar, a spreadsheet that keeps the number under a format)
becomes a disclosure. :class:`Published` is the hand-over: hidden cells are NaN and carry a
marker, and construction fails if a hidden cell still holds a number.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from carehaven.disclosure.table import TOTAL, Hierarchy, Key, Table

SHOWN = ""
SUPPRESSED = "[c]"
NOT_AVAILABLE = "[x]"
MARKERS = (SHOWN, SUPPRESSED, NOT_AVAILABLE)

#: What each marker means, worded once so the CSV, spreadsheet and charts agree.
MARKER_MEANING = {
    SUPPRESSED: "confidential: the number is hidden to protect the people it counts",
    NOT_AVAILABLE: "not available: there is no number for this cell",
}

COUNTS = ("people", "episodes", "events", "value")

#: Column name for the cell value in long formats; no dimension may use it.
VALUE_COLUMN = "value"


@dataclass
class Published:
    """One table as published: what the public sees, never the true values of hidden cells."""

    name: str  # file stem, e.g. "ndtms-people-in-treatment"
    title: str  # e.g. "People in treatment by local authority and primary substance, 2025Q2"
    description: str
    dataset: str  # e.g. "ndtms-episode"
    period: str  # e.g. "2025Q2"
    counts: str  # "people" | "episodes" | "events" | "value" (what a cell counts)
    dims: tuple[Hierarchy, ...]
    keys: list[Key]
    shown: npt.NDArray[np.float64]  # the published number, NaN where hidden or not available
    marker: list[str]  # per cell: "" (shown), "[c]" (suppressed), "[x]" (not available)
    notes: list[str]  # numbered notes (policy, source, method), plain English
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # dim -> code -> label
    #: The policy the table was protected under (threshold, protection level), for checkers.
    disclosure: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dims = tuple(self.dims)
        self.keys = [tuple(k) for k in self.keys]
        self.shown = np.asarray(self.shown, dtype=np.float64)
        self.marker = list(self.marker)
        self.notes = list(self.notes)
        where = f"table {self.name!r}"
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise ValueError(f"{where}: the name must be a non-empty file stem without slashes")
        if self.counts not in COUNTS:
            raise ValueError(f"{where}: counts must be one of {', '.join(COUNTS)}")
        if not self.dims:
            raise ValueError(f"{where}: a table needs at least one dimension")
        names = [d.name for d in self.dims]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: two dimensions share a name")
        if any(not n or n.lower() == VALUE_COLUMN for n in names):
            raise ValueError(f"{where}: a dimension cannot be unnamed or named {VALUE_COLUMN!r}")
        unknown = set(self.labels) - set(names)
        if unknown:
            raise ValueError(f"{where}: labels given for unknown dimension {sorted(unknown)[0]!r}")
        if self.shown.ndim != 1 or not len(self.keys) == len(self.shown) == len(self.marker):
            raise ValueError(
                f"{where}: {len(self.keys)} keys, {self.shown.size} numbers and "
                f"{len(self.marker)} markers; they must match"
            )
        self._check_cube(where)
        self._check_cells(where)

    def _check_cube(self, where: str) -> None:
        for key in self.keys:
            if len(key) != len(self.dims):
                raise ValueError(f"{where}: cell {key} needs {len(self.dims)} codes")
            for dim, code in zip(self.dims, key, strict=True):
                if code != TOTAL and code not in dim.parent:
                    raise ValueError(f"{where}: {code!r} is not a code of {dim.name}")
        size = math.prod(len(d.order) for d in self.dims)
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"{where}: a cell appears twice")
        if len(self.keys) != size:
            raise ValueError(f"{where}: {len(self.keys)} cells, but the full cube has {size}")

    def _check_cells(self, where: str) -> None:
        for i, (mark, value) in enumerate(zip(self.marker, self.shown, strict=True)):
            if mark not in MARKERS:
                raise ValueError(f"{where}: cell {self.keys[i]} has unknown marker {mark[:10]!r}")
            if mark and not math.isnan(value):
                raise ValueError(
                    f"{where}: cell {self.keys[i]} is marked {mark} but still holds a number; "
                    "a published table must never carry a hidden value"
                )
            if not mark and not math.isfinite(value):
                raise ValueError(f"{where}: cell {self.keys[i]} is shown but has no finite number")

    def cube_order(self) -> list[int]:
        """Cell indices in cube order: the product of the dimensions' display orders."""
        index = {k: i for i, k in enumerate(self.keys)}
        return [index[k] for k in itertools.product(*(d.order for d in self.dims))]

    def index(self) -> dict[Key, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def label(self, dim: int, code: str) -> str:
        """The display label of ``code`` in dimension ``dim`` (the code itself if none given)."""
        return self.labels.get(self.dims[dim].name, {}).get(code, code)

    def count(self, mark: str) -> int:
        """How many cells carry ``mark``."""
        return sum(1 for m in self.marker if m == mark)

    @property
    def counts_phrase(self) -> str:
        """What a cell's number is, as a column or axis heading."""
        return "Value" if self.counts == "value" else f"Number of {self.counts}"


def from_table(
    table: Table,
    shown: npt.ArrayLike | None,
    marker: Sequence[str],
    *,
    name: str | None = None,
    title: str,
    description: str = "",
    dataset: str,
    period: str,
    counts: str,
    notes: Iterable[str] = (),
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> Published:
    """Publish ``table`` with ``marker`` per cell; hidden cells lose their numbers here.

    ``shown`` is the number to publish per cell (rounded, perturbed...), or ``None`` for the
    table's own values. Whatever it holds for a marked cell is replaced by NaN, so the true
    value of a suppressed cell cannot travel further.
    """
    values = table.values if shown is None else np.asarray(shown, dtype=np.float64)
    marks = list(marker)
    if len(marks) != len(table.keys) or values.shape != (len(table.keys),):
        raise ValueError(
            f"table {table.name}: {len(table.keys)} cells but {values.size} numbers and "
            f"{len(marks)} markers"
        )
    out = np.where(np.array([m != SHOWN for m in marks], dtype=bool), np.nan, values)
    return Published(
        name=name if name is not None else table.name,
        title=title,
        description=description,
        dataset=dataset,
        period=period,
        counts=counts,
        dims=table.dims,
        keys=list(table.keys),
        shown=out.astype(np.float64),
        marker=marks,
        notes=list(notes),
        labels={d: dict(m) for d, m in (labels or {}).items()},
    )


def format_number(value: float, *, grouping: bool = False) -> str:
    """An integer without ``.0`` when integral, else up to two decimals (trailing zeros go)."""
    rounded = round(value, 2)
    sep = "," if grouping else ""
    if rounded == int(rounded):
        text = format(int(rounded), sep + "d")
    else:
        text = format(rounded, sep + ".2f").rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
