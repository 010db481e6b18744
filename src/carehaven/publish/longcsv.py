"""Long-format CSV of a published table, with a JSON sidecar that keeps its structure.

One row per cell, one column per dimension and then ``value``: the simplest shape for anyone
loading the data elsewhere, and the one a checker needs to re-add the margins. A CSV cannot say
which codes are subtotals of which, so ``<stem>.structure.json`` beside it holds each hierarchy
(name, parent map, display order) and the table's metadata; :func:`read_csv` uses it to rebuild
the additive relations, and without it reads every dimension as flat and says so.

Codes are text that a spreadsheet may run as a formula when the file is opened, so every cell
goes through the haven's one neutraliser (``carehaven.csvsafe``, OWASP's CSV injection advice: a
leading ``'`` on anything that could start a formula). A code that itself starts with ``'``
gets one more, so the reader can strip exactly one and the guard is reversible. Numbers are
never guarded: ``-3`` is a number, in ``value`` or as a code.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from carehaven import csvsafe
from carehaven.collection.masking import shape
from carehaven.disclosure.table import TOTAL, Hierarchy, Key
from carehaven.publish import atomic
from carehaven.publish.model import (
    MARKER_MEANING,
    NOT_AVAILABLE,
    SUPPRESSED,
    VALUE_COLUMN,
    Published,
    format_number,
)

STRUCTURE_FORMAT = "carehaven-published-structure"
STRUCTURE_VERSION = 1

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class ReadBack(NamedTuple):
    """A CSV read back: the cube, and warnings (e.g. no sidecar, so every dimension is flat)."""

    dims: tuple[Hierarchy, ...]
    keys: list[Key]
    shown: npt.NDArray[np.float64]
    markers: list[str]
    warnings: list[str]
    meta: dict[str, Any]


def structure_path(csv_path: str | os.PathLike[str]) -> Path:
    """The sidecar beside a CSV: ``x/name.csv`` -> ``x/name.structure.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".structure.json")


def guard(text: str) -> str:
    """Make ``text`` inert in a spreadsheet (csvsafe) and reversibly so: ``'`` is doubled."""
    return csvsafe.PREFIX + text if text.startswith(csvsafe.PREFIX) else csvsafe.neutralise(text)


def unguard(text: str) -> str:
    """Undo :func:`guard`."""
    return text[1:] if text.startswith("'") else text


def write_csv(pub: Published, path: str | os.PathLike[str]) -> Path:
    """Write ``pub`` as a long CSV at ``path`` and its structure sidecar beside it.

    Rows follow cube order (each dimension's display order, the last dimension varying
    fastest). Returns the sidecar's path.
    """
    # Cells are guarded first (reversibly); format_csv then neutralises every cell again, which
    # leaves guarded cells and numbers as they are and catches anything added here later.
    text = csvsafe.format_csv(
        [*(guard(d.name) for d in pub.dims), VALUE_COLUMN],
        (
            [*(guard(c) for c in pub.keys[i]), pub.marker[i] or format_number(float(pub.shown[i]))]
            for i in pub.cube_order()
        ),
    )
    sidecar = structure_path(path)
    atomic.write_text(sidecar, json.dumps(_structure(pub, Path(path).name), indent=2) + "\n")
    atomic.write_text(path, text)
    return sidecar


def _structure(pub: Published, csv_name: str) -> dict[str, Any]:
    return {
        "format": STRUCTURE_FORMAT,
        "version": STRUCTURE_VERSION,
        "csv": csv_name,
        "name": pub.name,
        "title": pub.title,
        "description": pub.description,
        "dataset": pub.dataset,
        "period": pub.period,
        "counts": pub.counts,
        "notes": pub.notes,
        "disclosure": pub.disclosure,
        "markers": MARKER_MEANING,
        "cells": len(pub.keys),
        "dimensions": [
            {
                "name": d.name,
                "order": list(d.order),
                "parent": dict(d.parent),
                "labels": pub.labels.get(d.name, {}),
            }
            for d in pub.dims
        ],
    }


def read_csv(path: str | os.PathLike[str]) -> ReadBack:
    """Read a long CSV (and its sidecar, if present) back into a cube.

    Keys come in file order. Markers become NaN in ``shown``. Every malformed input raises a
    ``ValueError`` naming the file, the row (the header is row 1) and the column.
    """
    p = Path(path)
    header, rows = _parse(p)
    side = structure_path(p)
    warnings: list[str] = []
    meta: dict[str, Any] = {}
    if side.exists():
        dims, meta = _load_structure(side)
        _check_header(p, header, dims, side)
    else:
        dims = _flat_dims(header, rows)
        warnings.append(
            f"{p.name}: no structure file {side.name}, so each dimension is read as flat "
            "(every code directly under Total); subtotal relations are unknown"
        )
    keys: list[Key] = []
    shown = np.empty(len(rows), dtype=np.float64)
    markers: list[str] = []
    seen: dict[Key, int] = {}
    for j, (rownum, codes, value, mark) in enumerate(rows):
        for col, (dim, code) in enumerate(zip(dims, codes, strict=True), start=1):
            if code != TOTAL and code not in dim.parent:
                raise ValueError(
                    f"{p}: row {rownum}, column {col} ({_heading(dim.name)}): the code, shaped "
                    f"{_short(code)}, is not in that column's hierarchy in {side.name}"
                )
        if codes in seen:
            raise ValueError(
                f"{p}: row {rownum} repeats the cell first given in row {seen[codes]}"
            )
        seen[codes] = rownum
        keys.append(codes)
        shown[j] = value
        markers.append(mark)
    _check_cube(p, dims, seen)
    return ReadBack(dims, keys, shown, markers, warnings, meta)


def read_published(path: str | os.PathLike[str]) -> Published:
    """Read a CSV and its sidecar back into a :class:`Published` (the sidecar is required)."""
    p = Path(path)
    back = read_csv(p)
    if not back.meta:
        raise ValueError(f"{p}: no structure file {structure_path(p).name}; cannot restore it")
    m = back.meta
    return Published(
        name=m["name"],
        title=m["title"],
        description=m["description"],
        dataset=m["dataset"],
        period=m["period"],
        counts=m["counts"],
        dims=back.dims,
        keys=back.keys,
        shown=back.shown,
        marker=back.markers,
        notes=m["notes"],
        labels=m["labels"],
    )


_Row = tuple[int, Key, float, str]


def _parse(p: Path) -> tuple[list[str], list[_Row]]:
    """The header's dimension names and each data row as (row number, codes, number, marker)."""
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise ValueError(f"{p}: cannot be read ({e.strerror})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as e:
        raise ValueError(f"{p}: row {len(records) + 1}: not valid CSV ({e})") from None
    while records and not records[-1]:
        records.pop()
    if not records:
        raise ValueError(f"{p}: row 1: the file is empty; expected a header row")
    header = [unguard(h) for h in records[0]]
    dim_names = _check_value_column(p, header)
    rows: list[_Row] = []
    for rownum, record in enumerate(records[1:], start=2):
        if not record:
            raise ValueError(f"{p}: row {rownum} is empty")
        if len(record) != len(header):
            raise ValueError(
                f"{p}: row {rownum} has {len(record)} fields but the header has {len(header)}"
            )
        codes: list[str] = []
        for col, (name, raw) in enumerate(zip(dim_names, record, strict=False), start=1):
            code = unguard(raw)
            if not code:
                raise ValueError(
                    f"{p}: row {rownum}, column {col} ({_heading(name)}): the code is empty"
                )
            codes.append(code)
        number, mark = _value(p, rownum, len(header), record[-1])
        rows.append((rownum, tuple(codes), number, mark))
    return dim_names, rows


def _check_value_column(p: Path, header: list[str]) -> list[str]:
    if VALUE_COLUMN not in header:
        raise ValueError(
            f"{p}: row 1: no {VALUE_COLUMN!r} column; the last column must be named "
            f"{VALUE_COLUMN!r}"
        )
    col = header.index(VALUE_COLUMN) + 1
    if col != len(header) or header.count(VALUE_COLUMN) > 1:
        raise ValueError(
            f"{p}: row 1, column {col}: {VALUE_COLUMN!r} must be the last column, and only once"
        )
    names = header[:-1]
    if not names:
        raise ValueError(f"{p}: row 1: no dimension columns before {VALUE_COLUMN!r}")
    for col, name in enumerate(names, start=1):
        if not name:
            raise ValueError(f"{p}: row 1, column {col}: the column has no name")
        if names.index(name) != col - 1:
            raise ValueError(
                f"{p}: row 1, column {col}: the heading ({_heading(name)}) is repeated"
            )
    return names


def _value(p: Path, rownum: int, col: int, raw: str) -> tuple[float, str]:
    if raw in (SUPPRESSED, NOT_AVAILABLE):
        return float("nan"), raw
    if _NUMBER.fullmatch(raw):
        number = float(raw)
        if np.isfinite(number):
            return number, ""
    what = "is empty" if not raw else f"holds text shaped {_short(raw)}"
    also = "" if not raw else ", which is"
    raise ValueError(
        f"{p}: row {rownum}, column {col} ({VALUE_COLUMN!r}) {what}{also} neither a number "
        f"nor a marker ({SUPPRESSED} or {NOT_AVAILABLE})"
    )


def _short(text: str, limit: int = 30) -> str:
    """A cell as a message may show it: only its shape (``A`` a letter, ``9`` a digit), cut
    short. A file given to ``disclosure check`` can hold anything, even a person's details, so
    no message quotes a cell (docs/security.md)."""
    return repr(shape(text, limit))


def _heading(text: str) -> str:
    """A column heading as a message may show it: quoted when it is a dimension name some
    publication table uses (or ``value``), else only by its shape, like a cell."""
    from carehaven.publish.definitions import definitions

    known = {d.name for t in definitions().values() for d in t.dimensions}
    known |= {VALUE_COLUMN, "period", "local_authority"}
    return repr(text) if text in known else f"a heading shaped {_short(text)}"


def _flat_dims(names: list[str], rows: list[_Row]) -> tuple[Hierarchy, ...]:
    dims = []
    for d, name in enumerate(names):
        codes = dict.fromkeys(r[1][d] for r in rows if r[1][d] != TOTAL)
        dims.append(Hierarchy.flat(name, codes))
    return tuple(dims)


def _check_header(p: Path, header: list[str], dims: tuple[Hierarchy, ...], side: Path) -> None:
    if len(header) != len(dims):
        raise ValueError(
            f"{p}: row 1: {len(header)} dimension columns but {side.name} describes {len(dims)}"
        )
    for col, (name, dim) in enumerate(zip(header, dims, strict=True), start=1):
        if name != dim.name:
            raise ValueError(
                f"{p}: row 1, column {col}: the heading ({_heading(name)}) is not the one "
                f"{side.name} names ({_heading(dim.name)})"
            )


def _check_cube(p: Path, dims: tuple[Hierarchy, ...], seen: dict[Key, int]) -> None:
    size = 1
    for d in dims:
        size *= len(d.order)
    if len(seen) == size:
        return
    missing = next(k for k in itertools.product(*(d.order for d in dims)) if k not in seen)
    cell = "; ".join(f"{_heading(d.name)}: a code shaped {_short(c)}"
                     for d, c in zip(dims, missing, strict=True))
    raise ValueError(
        f"{p}: a cell ({cell}) is missing from the cube: no row has it "
        f"({size - len(seen)} of {size} cells missing)"
    )


def _load_structure(side: Path) -> tuple[tuple[Hierarchy, ...], dict[str, Any]]:
    """The hierarchies and metadata in a sidecar, with errors that name the sidecar."""
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{side}: not valid JSON (line {e.lineno}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{side}: cannot be read ({type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != STRUCTURE_FORMAT:
        raise ValueError(f"{side}: not a {STRUCTURE_FORMAT} file")
    if doc.get("version") != STRUCTURE_VERSION:
        raise ValueError(f"{side}: its version is not {STRUCTURE_VERSION}")
    raw_dims = doc.get("dimensions")
    if not isinstance(raw_dims, list) or not raw_dims:
        raise ValueError(f"{side}: 'dimensions' must be a non-empty list")
    dims: list[Hierarchy] = []
    labels: dict[str, dict[str, str]] = {}
    for n, raw in enumerate(raw_dims, start=1):
        dim, lab = _load_dim(side, n, raw)
        dims.append(dim)
        if lab:
            labels[dim.name] = lab
    meta: dict[str, Any] = {"labels": labels}
    for field_name in ("name", "title", "description", "dataset", "period", "counts"):
        value = doc.get(field_name, "")
        if not isinstance(value, str):
            raise ValueError(f"{side}: {field_name!r} must be text")
        meta[field_name] = value
    notes = doc.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(x, str) for x in notes):
        raise ValueError(f"{side}: 'notes' must be a list of text")
    meta["notes"] = notes
    disclosure = doc.get("disclosure", {})
    if not isinstance(disclosure, dict):
        raise ValueError(f"{side}: 'disclosure' must be an object")
    meta["disclosure"] = disclosure
    return tuple(dims), meta


def _load_dim(side: Path, n: int, raw: object) -> tuple[Hierarchy, dict[str, str]]:
    where = f"{side}: dimension {n}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object with name, order and parent")
    name, order, parent = raw.get("name"), raw.get("order"), raw.get("parent")
    lab = raw.get("labels", {})
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' must be non-empty text")
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise ValueError(f"{where} ({_heading(name)}): 'order' must be a list of codes")
    if not isinstance(parent, dict) or not all(isinstance(v, str) for v in parent.values()):
        raise ValueError(f"{where} ({_heading(name)}): 'parent' must map codes to codes")
    if not isinstance(lab, dict) or not all(isinstance(v, str) for v in lab.values()):
        raise ValueError(f"{where} ({_heading(name)}): 'labels' must map codes to text")
    try:
        dim = Hierarchy(name, dict(parent), tuple(order))
    except ValueError:  # its text quotes codes
        raise ValueError(
            f"{where} ({_heading(name)}): 'parent' and 'order' do not describe one hierarchy "
            f"(every code once in 'order', every parent a code, {TOTAL} without a parent)"
        ) from None
    for code in parent:
        steps, up = 0, code
        while up != TOTAL:
            up, steps = parent[up], steps + 1
            if steps > len(parent):
                raise ValueError(
                    f"{where} ({_heading(name)}): a code shaped {_short(code)} never reaches "
                    f"{TOTAL}"
                )
    return dim, dict(lab)
