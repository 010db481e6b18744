"""File-level rules: a file that fails one is rejected whole, with one sentence, nothing accepted.

Reading happens from the bytes already in memory (the same bytes that were hashed and landed),
with pyarrow's multi-threaded CSV reader; every column is read as text so that the validator,
not the reader, judges types.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv

from carehaven.collection.masking import shape
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


#: Byte-order marks of the encodings a spreadsheet may save "Unicode text" in.
_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16",
}


#: The opening bytes of files people send by mistake for a CSV file.
_NOT_CSV = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one)",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Office file",
    b"\x1f\x8b": "a gzip-compressed file",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


def _two_byte(sample: bytes) -> bool:
    """Whether ``sample`` reads as UTF-16 text without a mark: ASCII text in it has a zero in
    every other byte (one side nearly all zero, the other nearly none)."""
    even, odd = sample[0::2], sample[1::2]
    if not even or not odd:
        return False
    zeros = sorted((even.count(0) / len(even), odd.count(0) / len(odd)))
    return zeros[1] > 0.6 and zeros[0] < 0.1


def _check_encoding(body: bytes, name: str) -> None:
    kind = next((what for magic, what in _NOT_CSV.items() if body.startswith(magic)), None)
    if kind is not None:
        raise FileRejectedError(FileProblem(
            "not-text", f"{name} is {kind}, not a CSV text file; save the data as \"CSV UTF-8\" "
            "and submit that.", 1))
    wide = next((enc for bom, enc in _WIDE_BOMS.items() if body.startswith(bom)), None)
    nul = body.find(b"\x00")
    if wide is None and nul >= 0:
        if not _two_byte(body[:4096]):
            line = body.count(b"\n", 0, nul) + 1
            raise FileRejectedError(FileProblem(
                "not-text", f"{name} holds a NUL byte on line {line}, so it is not a text file; "
                "save the data as \"CSV UTF-8\" and submit it again.", line))
        wide = "UTF-16 (or another two-byte encoding)"
    if wide is not None:
        raise FileRejectedError(
            FileProblem(
                "encoding",
                f"{name} is {wide} text, not UTF-8; save it as \"CSV UTF-8\" and submit it "
                "again.",
                1,
            )
        )
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
    """Line 1's headings, checked against the spec.

    A heading that is not a declared column may be anything, even a data row joined to the
    header line, so the messages here name it by position and shape only (issue 12 item 16).
    """
    start = body[: 1 << 16].decode("utf-8", errors="ignore")
    header = next(csv.reader(io.StringIO(start, newline="")), [])
    header = [h.strip() for h in header]
    known = set(spec.field_names)
    if not any(h in known for h in header):
        raise FileRejectedError(FileProblem("no-header", no_header_message(header, spec, name), 1))
    # Every declared column must be present, even one whose values are optional: a return
    # without it would be judged row by row as though each row had left it empty (issue 13
    # item 1), and could then supersede a complete return.
    missing = [f.name for f in spec.fields if f.name not in header]
    if any(h not in known for h in header):
        message = unknown_message(header, spec, name, missing)
        raise FileRejectedError(FileProblem("unknown-column", message, 1))
    if len(set(header)) < len(header):
        raise FileRejectedError(
            FileProblem("duplicate-header", duplicate_message(header, spec, name), 1)
        )
    if missing:
        raise FileRejectedError(
            FileProblem(
                "missing-column",
                f"{name} lacks {missing_columns(missing)} of {spec.name} {spec.version}; "
                "every column the spec declares must be in the header, even when its cells "
                "are empty.",
                1,
            )
        )
    return header


#: Undeclared headings listed one by one in a message; the rest are counted.
LISTED = 5
SHAPE_KEY = "A a letter, 9 a digit, * any other character"


def missing_columns(missing: Sequence[str]) -> str:
    """``the column X`` or ``the columns X, Y and N more``: declared names, so shown as they are."""
    listed = ", ".join(missing[:LISTED])
    more = f" and {len(missing) - LISTED:,} more" if len(missing) > LISTED else ""
    return f"the column{'s' if len(missing) > 1 else ''} {listed}{more}"


def column_letter(position: int) -> str:
    """The spreadsheet's name for a 1-based column: 1 -> A, 27 -> AA."""
    letters = ""
    while position > 0:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def looks(cell: str, spec: Spec) -> str:
    """A heading as a message may show it: a declared column name as it is, anything else only
    as its shape, no longer than the spec's longest column name (it could be a person's data)."""
    if cell in spec.field_names:
        return cell
    if not cell:
        return "empty"
    longest = max(len(n) for n in spec.field_names)
    near = next((n for n in spec.field_names if n.casefold() == cell.casefold()), None)
    return f"shaped {shape(cell, longest)}" + (f" (is it {near}?)" if near else "")


def heading(position: int, cell: str, spec: Spec) -> str:
    """The heading at ``position`` (1-based), by place and :func:`looks`, never its text."""
    return f"column {position} ({column_letter(position)}) {looks(cell, spec)}"


def no_header_message(header: Sequence[str], spec: Spec, name: str) -> str:
    message = f"{name} has no header row: line 1 names none of the {spec.name} columns"
    if len(header) == 1:
        sep = next((s for s in (";", "\t", "|") if s in header[0]), None)
        if sep is not None:
            shown = "a tab" if sep == "\t" else f"'{sep}'"
            return f"{message} (it seems to be separated by {shown}, not commas)."
    return message + "."


def unknown_message(
    header: Sequence[str], spec: Spec, name: str, missing: Sequence[str] = ()
) -> str:
    known = set(spec.field_names)
    unknown = [(i, h) for i, h in enumerate(header, start=1) if h not in known]
    listed = "; ".join(heading(i, h, spec) for i, h in unknown[:LISTED])
    more = f"; and {len(unknown) - LISTED:,} more" if len(unknown) > LISTED else ""
    several = len(unknown) > 1
    message = (
        f"{name} has {len(unknown):,} heading{'s' if several else ''} that {spec.name} "
        f"{spec.version} does not define: {listed}{more} (shown by position and shape: "
        f"{SHAPE_KEY})."
    )
    if any(";" in h for _, h in unknown):
        message += " A heading holding ';' often means a data row is joined to the header line."
    if missing:
        message += f" It also lacks {missing_columns(missing)}."
    return message


def duplicate_message(header: Sequence[str], spec: Spec, name: str) -> str:
    """The first repeated heading: by name if it is a declared column, else by shape."""
    first: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if h not in first:
            first[h] = i
            continue
        where = f"columns {first[h]} ({column_letter(first[h])}) and {i} ({column_letter(i)})"
        if h in spec.field_names:
            return f"{name} names column {h} more than once ({where})."
        return (
            f"{name} repeats a heading in {where}, which is not a {spec.name} column "
            f"({looks(h, spec)}; {SHAPE_KEY})."
        )
    raise ValueError("no heading is repeated")


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
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 20),
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
    starts = 1  # the line the record being read starts on
    try:
        next(reader)
        while True:
            starts = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
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
    except csv.Error as exc:
        # The csv module's message can quote the offending text, so only its kind is used.
        raise FileRejectedError(_malformed(name, str(exc), starts, reader.line_num)) from None
    return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], names=header)


def _malformed(name: str, why: str, starts: int, reached: int) -> FileProblem:
    """A sentence for the csv module's complaint, at the line a user should look at: where the
    record began (an unclosed quote runs on to the end of the file, or to the reader's limit)."""
    if "field larger than field limit" in why:
        return FileProblem(
            "field-too-long",
            f"{name}: the row starting at line {starts} has a field longer than "
            f"{csv.field_size_limit():,} characters, the most a field may hold. Often a quote "
            f"opened on line {starts} is never closed, so the rest of the file runs into it.",
            starts,
        )
    if "unexpected end of data" in why or "EOF" in why or reached > starts:
        return FileProblem(
            "unclosed-quote",
            f"{name}: line {starts} opens a quoted field that is not closed before "
            + ("the end of the file" if "end of data" in why or "EOF" in why
               else f"line {reached}")
            + "; close the quote (a quote inside a field is written twice: \"\").",
            starts,
        )
    return FileProblem(
        "stray-quote",
        f"{name}: line {starts} has a stray quote: a quote inside an unquoted field, or text "
        "after a closing quote (a quote inside a field is written twice, in a quoted field).",
        starts,
    )
