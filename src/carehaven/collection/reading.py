"""File-level rules: a file that fails one is rejected whole, with one sentence, nothing accepted.

Reading happens from the bytes already in memory (the same bytes that were hashed and landed),
with pyarrow's multi-threaded CSV reader; every column is read as text so that the validator,
not the reader, judges types.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from carehaven.errors import CarehavenError, ExitCode
from carehaven.specs import Spec

ROW_COLUMN = "_row"


@dataclass(frozen=True)
class FileProblem:
    rule: str
    message: str
    line: int | None = None


class FileRejectedError(CarehavenError):
    exit_code = ExitCode.FILE_REJECTED

    def __init__(self, problem: FileProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def check_size(size: int, limit_mb: int, name: str) -> None:
    if size > limit_mb * 1024 * 1024:
        raise FileRejectedError(
            FileProblem(
                "too-large",
                f"{name} is {size / 1024 / 1024:,.0f} MiB, over the limit of {limit_mb:,} MiB "
                "(CAREHAVEN_MAX_FILE_MB); split it or ask the data team to raise the limit.",
            )
        )


def read_table(data: bytes, spec: Spec, name: str) -> pa.Table:
    """The file's rows as text columns named by the spec, plus ``_row`` (header = row 1)."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    if not body.strip():
        raise FileRejectedError(FileProblem("empty-file", f"{name} is empty."))
    _check_encoding(body, name)
    # Line breaks at the very end are not rows; blank lines anywhere else keep their row number.
    end = len(body)
    while end and body[end - 1] in b"\r\n":
        end -= 1
    header = _header(body, spec, name)
    if body.find(b"\n", 0, end) < 0 and body.find(b"\r", 0, end) < 0:
        raise FileRejectedError(FileProblem("empty-file", f"{name} has a header but no rows.", 2))
    content = memoryview(body)[:end]  # no copy of a large file
    cr_only = body.find(b"\n", 0, end) < 0
    rows = _parse_exact(content, header, name) if cr_only else _parse(content, header, name)
    if rows.num_rows == 0:
        raise FileRejectedError(FileProblem("empty-file", f"{name} has a header but no rows.", 2))
    columns = {n: rows.column(n) for n in header}
    nulls = pa.nulls(rows.num_rows, pa.string())
    return pa.Table.from_arrays(
        [
            pa.array(range(2, rows.num_rows + 2), pa.int64()),
            *(columns.get(f.name, nulls) for f in spec.fields),
        ],
        names=[ROW_COLUMN, *spec.field_names],
    )


def _check_encoding(body: bytes, name: str) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise FileRejectedError(
            FileProblem(
                "encoding",
                f"{name} is not UTF-8 text: line {line} holds a byte that UTF-8 does not allow "
                "(save the file as UTF-8 CSV and submit it again).",
                line,
            )
        ) from None


def _header(body: bytes, spec: Spec, name: str) -> list[str]:
    start = body[: 1 << 16].decode("utf-8", errors="ignore")
    header = next(csv.reader(io.StringIO(start, newline="")), [])
    header = [h.strip() for h in header]
    known = set(spec.field_names)
    if not any(h in known for h in header):
        raise FileRejectedError(
            FileProblem(
                "no-header",
                f"{name} has no header row: line 1 names none of the {spec.name} columns.",
                1,
            )
        )
    seen: set[str] = set()
    repeated = [h for h in header if h in seen or seen.add(h)]  # type: ignore[func-returns-value]
    if repeated:
        raise FileRejectedError(
            FileProblem("duplicate-header", f"{name} names column {repeated[0]} more than once.", 1)
        )
    missing = [f.name for f in spec.fields if f.required and f.name not in seen]
    if missing:
        raise FileRejectedError(
            FileProblem(
                "missing-column",
                f"{name} lacks the required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} of {spec.name} {spec.version}.",
                1,
            )
        )
    unknown = [h for h in header if h not in known]
    if unknown:
        raise FileRejectedError(
            FileProblem(
                "unknown-column",
                f"{name} has column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} that "
                f"{spec.name} {spec.version} does not define.",
                1,
            )
        )
    return header


def _parse(body: memoryview, header: list[str], name: str) -> pa.Table:
    """The fast path: pyarrow's multi-threaded reader.

    Blank lines are not skipped: pyarrow hands them to the invalid-row handler like ragged
    rows, and either sends the file down the exact path, which numbers rows as a spreadsheet does.
    """
    ragged = False

    def on_invalid(_row: pacsv.InvalidRow) -> str:
        nonlocal ragged
        ragged = True
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        ragged = True  # pyarrow's message quotes row content, so it is never passed on
    if ragged:
        # The exact reader names the line; pyarrow cannot when it reads in parallel.
        return _parse_exact(body, header, name)
    return table


def _parse_exact(body: memoryview, header: list[str], name: str) -> pa.Table:
    """The exact path: Python's csv module, for blank lines, CR-only files and broken rows.

    A blank line inside the data becomes a row of empty cells, so every later row keeps the
    number a spreadsheet shows for it (and the blank row's required fields are reported).
    """
    reader = csv.reader(io.StringIO(str(body, "utf-8"), newline=""), strict=True)
    columns: list[list[str | None]] = [[] for _ in header]
    width = len(header)
    try:
        next(reader)
        for record in reader:
            if not record:
                for column in columns:
                    column.append(None)
                continue
            if len(record) != width:
                raise FileRejectedError(
                    FileProblem(
                        "ragged-row",
                        f"{name}: line {reader.line_num} has {len(record)} fields where the "
                        f"header has {width}; every row must have one field per column.",
                        reader.line_num,
                    )
                )
            for column, value in zip(columns, record, strict=True):
                column.append(value if value != "" else None)
    except csv.Error:
        # The csv module's message can quote the offending text, so it is not passed on.
        raise FileRejectedError(
            FileProblem(
                "ragged-row",
                f"{name}: line {reader.line_num} is not well-formed CSV (a stray or unclosed "
                "quote).",
                reader.line_num,
            )
        ) from None
    return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], names=header)
