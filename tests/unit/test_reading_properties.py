"""Properties of read_table: CSV round trips, and the file-level rejections with their lines."""

from __future__ import annotations

import codecs
import csv
import io
import string
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from carehaven.collection.reading import (
    ROW_COLUMN,
    FileRejectedError,
    check_size,
    read_table,
)
from carehaven.specs import load_spec

SPEC = load_spec("ndtms-review")
REQUIRED = [f.name for f in SPEC.fields if f.required]
OPTIONAL = [f.name for f in SPEC.fields if not f.required]
ALL = REQUIRED + OPTIONAL


def pad(cells: list[str]) -> list[str]:
    """A row of ``cells`` then empty ones, one per column of ``ALL``."""
    return cells + [""] * (len(ALL) - len(cells))
SECRET = "ZX99SECRET"

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Any text but NUL (and lone surrogates, which UTF-8 cannot hold): commas, quotes, CR, LF, BOMs.
CELL = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=10)
#: Plain cells, one physical line per row, so that a line number is a row number.
PLAIN = st.text(string.ascii_letters + string.digits + " -", min_size=1, max_size=8)


def write_csv(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    ending: str = "\r\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=ending, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@st.composite
def headers(draw: st.DrawFn) -> list[str]:
    """Every declared column, in any order (a return carries them all: issue 13 item 1)."""
    return list(draw(st.permutations(REQUIRED + OPTIONAL)))


@st.composite
def files(
    draw: st.DrawFn, cell: st.SearchStrategy[str] = CELL
) -> tuple[list[str], list[list[str]]]:
    header = draw(headers())
    rows = draw(
        st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), min_size=1, max_size=8)
    )
    return header, rows


def rejection(data: bytes) -> FileRejectedError:
    with pytest.raises(FileRejectedError) as caught:
        read_table(data, SPEC, "return.csv")
    return caught.value


def assert_discreet(err: FileRejectedError) -> None:
    assert SECRET not in err.problem.message
    assert SECRET not in str(err)


# -- round trip -----------------------------------------------------------------------------------


#: How the file is written. Python's writer quotes a cell holding CR only when CR is part of the
#: line ending, so "\n" endings are written with every cell quoted (as some exporters do).
STYLES = st.sampled_from(
    [("\r\n", csv.QUOTE_MINIMAL), ("\r\n", csv.QUOTE_ALL), ("\n", csv.QUOTE_ALL)]
)


@PROPERTY
@given(files(), STYLES, st.booleans())
@example((ALL, [pad(["a,b", '"q"', "x\ny", "\r\n", "é€😀"])]), ("\r\n", csv.QUOTE_MINIMAL), True)
@example(
    (
        ALL,
        [pad([]), pad(["\ufeff", "NULL", "NA", " ", "''"]), pad(["\r", "\n"])],
    ),
    ("\n", csv.QUOTE_ALL),
    False,
)
def test_cells_round_trip(
    file: tuple[list[str], list[list[str]]], style: tuple[str, int], bom: bool
) -> None:
    header, rows = file
    data = write_csv(header, rows, *style)
    table = read_table(codecs.BOM_UTF8 + data if bom else data, SPEC, "return.csv")
    assert table.column_names == [ROW_COLUMN, *SPEC.field_names]
    assert table[ROW_COLUMN].to_pylist() == list(range(2, len(rows) + 2))
    for name in SPEC.field_names:
        at = header.index(name)
        want = [row[at] or None for row in rows]  # an empty cell is null
        assert table[name].to_pylist() == want, name


@PROPERTY
@given(files())
def test_bom_changes_nothing(file: tuple[list[str], list[list[str]]]) -> None:
    data = write_csv(*file)
    assert read_table(codecs.BOM_UTF8 + data, SPEC, "a.csv").equals(read_table(data, SPEC, "a.csv"))


# -- file-level rejections ------------------------------------------------------------------------

BAD_BYTES = st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xc3("])


@PROPERTY
@given(files(PLAIN), st.data(), BAD_BYTES, st.booleans())
def test_bad_byte_names_its_line(
    file: tuple[list[str], list[list[str]]], data: st.DataObject, bad: bytes, bom: bool
) -> None:
    header, rows = file
    rows[0][0] = SECRET
    lines = write_csv(header, rows).split(b"\r\n")
    k = data.draw(st.integers(1, len(rows) + 1), label="line")
    at = data.draw(st.integers(0, len(lines[k - 1])), label="column")
    lines[k - 1] = lines[k - 1][:at] + bad + lines[k - 1][at:]
    body = b"\r\n".join(lines)
    err = rejection(codecs.BOM_UTF8 + body if bom else body)
    assert err.problem.rule == "encoding"
    assert err.problem.line == k
    assert_discreet(err)


@PROPERTY
@given(files(PLAIN), st.data())
def test_extra_field_names_its_line(
    file: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    header, rows = file
    rows[0][-1] = SECRET
    ragged = data.draw(st.integers(0, len(rows) - 1), label="ragged row")
    rows[ragged] = [*rows[ragged], *data.draw(st.lists(PLAIN, min_size=1, max_size=3))]
    err = rejection(write_csv(header, rows))
    assert err.problem.rule == "ragged-row"
    # No cell holds a line break, so the row's line is its row number.
    assert err.problem.line == ragged + 2
    assert_discreet(err)


@PROPERTY
@given(files(PLAIN), st.data())
def test_short_row_is_ragged(file: tuple[list[str], list[list[str]]], data: st.DataObject) -> None:
    header, rows = file
    rows[-1][0] = SECRET
    short = data.draw(st.integers(0, len(rows) - 1), label="short row")
    rows[short] = rows[short][: data.draw(st.integers(1, len(header) - 1), label="kept")]
    err = rejection(write_csv(header, rows))
    assert err.problem.rule == "ragged-row"
    assert_discreet(err)


def test_short_row_names_its_line() -> None:
    data = write_csv(ALL, [pad(["P001", "E1", "2025-05-01", "start", "3"]), ["P001"]])
    err = rejection(data)
    assert err.problem.rule == "ragged-row"
    assert err.problem.line == 3  # reported: line 2, where "P001" first occurs


def test_unclosed_quote_is_named_where_it_opens_and_discreet() -> None:
    """Issue 13 item 13: the line the quote opens on, not the file's last line."""
    data = write_csv(ALL, [pad(["P001", "E1", "2025-05-01", "start", "3"])])
    rest = "," * (len(ALL) - 5)
    tail = "".join(f"P001,E{i},2025-05-01,start,3{rest}\r\n" for i in range(2, 9))
    err = rejection(data + f'P001,"{SECRET},2025-05-01,start,3{rest}\r\n{tail}'.encode())
    assert err.problem.rule == "unclosed-quote"
    assert err.problem.line == 3
    assert "line 3 opens a quoted field" in err.problem.message
    assert_discreet(err)


def test_text_after_a_closing_quote_is_a_stray_quote() -> None:
    data = write_csv(ALL, [pad(["P001", "E1", "2025-05-01", "start", "3"])])
    rest = "," * (len(ALL) - 5)
    # Old Mac line ends (CR only) send the file to the exact reader, which is strict about
    # quotes; pyarrow's reader takes "E2"x as E2x.
    text = data.replace(b"\r\n", b"\r") + (
        f'P001,"E2"{SECRET},2025-05-01,start,3{rest}\r'.encode())
    err = rejection(text)
    assert (err.problem.rule, err.problem.line) == ("stray-quote", 3)
    assert_discreet(err)


def test_a_field_over_the_limit_is_named_as_too_long() -> None:
    """Issue 13 item 13: not "a stray quote"; the sentence names the limit and the row."""
    data = write_csv(ALL, [pad(["P001", "E1", "2025-05-01", "start", "3"])])
    rest = "," * (len(ALL) - 5)
    huge = SECRET + "x" * 200_000
    # CR-only line ends: the exact reader, whose limit this is.
    text = data.replace(b"\r\n", b"\r") + (
        f'P001,"{huge}",2025-05-01,start,3{rest}\r'.encode())
    # The csv module's limit is process-wide; another library (frictionless) may raise it.
    was = csv.field_size_limit(131_072)
    try:
        err = rejection(text)
    finally:
        csv.field_size_limit(was)
    assert (err.problem.rule, err.problem.line) == ("field-too-long", 3)
    assert "131,072 characters" in err.problem.message
    assert "stray" not in err.problem.message
    assert_discreet(err)


@pytest.mark.parametrize(("encoding", "named"), [
    ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-32", "UTF-32"),
])
def test_a_wide_encoding_is_named(encoding: str, named: str) -> None:
    """Issue 13 item 13: UTF-16 (as Excel's "Unicode text" saves) is named, not a bad byte."""
    text = write_csv(ALL, [pad(["P001", "E1", "2025-05-01", "start", "3"])]).decode()
    err = rejection(text.encode(encoding))
    assert err.problem.rule == "encoding"
    assert f"is {named}" in err.problem.message


@PROPERTY
@given(files(PLAIN), st.data())
def test_duplicate_header(file: tuple[list[str], list[list[str]]], data: st.DataObject) -> None:
    header, rows = file
    repeated = data.draw(st.sampled_from(header), label="repeated")
    header = [*header, repeated]
    rows = [[*row, SECRET] for row in rows]
    err = rejection(write_csv(header, rows))
    assert err.problem.rule == "duplicate-header"
    assert err.problem.line == 1
    assert repeated in err.problem.message
    assert_discreet(err)


@PROPERTY
@given(files(PLAIN), st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True))
def test_unknown_column(file: tuple[list[str], list[list[str]]], extra: str) -> None:
    header, rows = file
    if extra in SPEC.field_names:
        extra += "_x"
    err = rejection(write_csv([*header, extra], [[*row, SECRET] for row in rows]))
    assert err.problem.rule == "unknown-column"
    assert err.problem.line == 1
    assert_discreet(err)


@PROPERTY
@given(files(PLAIN), st.data())
def test_missing_declared_column(
    file: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    """Any declared column, required or optional, missing rejects the file (issue 13 item 1)."""
    header, rows = file
    dropped = data.draw(st.sampled_from(ALL), label="dropped")
    at = header.index(dropped)
    rows = [[*r[:at], *r[at + 1 :]] for r in rows]
    rows[0][0] = SECRET
    del header[at]
    err = rejection(write_csv(header, rows))
    assert err.problem.rule == "missing-column"
    assert err.problem.line == 1
    assert dropped in err.problem.message
    assert_discreet(err)


def test_missing_optional_columns_reject_the_file_and_are_listed() -> None:
    """Issue 13 item 1: an optional column left out is structural, not an empty cell per row;
    the sentence lists five of the missing columns and counts the rest."""
    err = rejection(write_csv(REQUIRED, [["P001", "E1", "2025-05-01", "start", "3"]]))
    assert err.problem.rule == "missing-column" and err.problem.line == 1
    assert err.problem.message == (
        "return.csv lacks the columns days_injected, psychological_health, physical_health, "
        "quality_of_life, housing_problem and 1 more of ndtms-review "
        f"{SPEC.version}; every column the spec declares must be in the header, even when "
        "its cells are empty."
    )


@PROPERTY
@given(headers(), st.sampled_from(["\r\n", "\n", "\r\n\r\n", "\n\n\n"]), st.booleans())
def test_header_only_is_empty(header: list[str], tail: str, bom: bool) -> None:
    data = ",".join(header).encode() + tail.encode()
    err = rejection(codecs.BOM_UTF8 + data if bom else data)
    assert err.problem.rule == "empty-file"


def test_header_only_without_line_break_is_empty() -> None:
    assert rejection(",".join(ALL).encode()).problem.rule == "empty-file"


@pytest.mark.parametrize(
    "data", [b"", b"\n", b"\r\n", b"   \n\t", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n"]
)
def test_empty_file(data: bytes) -> None:
    assert rejection(data).problem.rule == "empty-file"


@PROPERTY
@given(st.lists(st.lists(PLAIN, min_size=3, max_size=6), min_size=1, max_size=4))
def test_no_header(rows: list[list[str]]) -> None:
    rows[0][0] = SECRET
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    err = rejection(out.getvalue().encode())
    assert err.problem.rule == "no-header"
    assert err.problem.line == 1
    assert_discreet(err)


def test_too_large() -> None:
    check_size(1024 * 1024, 1, "a.csv")
    with pytest.raises(FileRejectedError) as caught:
        check_size(1024 * 1024 + 1, 1, "a.csv")
    assert caught.value.problem.rule == "too-large"


def test_blank_line_is_a_row() -> None:
    data = b"\r\n".join(
        [
            ",".join(ALL).encode(),
            b"P001,E1,2025-05-01,start,3" + b"," * len(OPTIONAL),
            b"",
            b"P001,E2,2025-05-01,start,4" + b"," * len(OPTIONAL),
        ]
    )
    table = read_table(data, SPEC, "a.csv")
    assert table["episode_id"].to_pylist()[-1] == "E2"
    assert table[ROW_COLUMN].to_pylist()[-1] == 4


def test_cr_line_ends_are_read_or_rejected() -> None:
    rows = [pad(["P001", "E1", "2025-05-01", "start", "3"]),
            pad(["P001", "E2", "2025-05-01", "exit", "4"])]
    data = write_csv(ALL, rows, "\r", csv.QUOTE_ALL)
    try:
        table = read_table(data, SPEC, "mac.csv")
    except FileRejectedError:
        return  # a clear rejection would do
    assert table["episode_id"].to_pylist() == ["E1", "E2"]


@pytest.mark.parametrize(("data", "said"), [
    (b"PK\x03\x04rest of a workbook", "is a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n....", "is a PNG image"),
    (b"\x1f\x8b\x08\x00", "is a gzip-compressed file"),
    (b"a,b\nc\x00d,e\n", "holds a NUL byte on line 2"),
])
def test_a_binary_file_is_not_called_utf16(data: bytes, said: str) -> None:
    """Issue 13 item 13 (an outside test): a workbook or a NUL byte is named, not UTF-16."""
    err = rejection(data)
    assert err.problem.rule == "not-text"
    assert said in err.problem.message and "UTF-16" not in err.problem.message
