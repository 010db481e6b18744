"""One neutraliser for every CSV the haven writes (issue 12 item 17: CSV formula injection).

A spreadsheet that opens a CSV runs a cell that looks like a formula: ``=HYPERLINK(...)`` can send
what the sheet holds to a web address, and ``@SUM(1+1)*cmd|' /C calc'!A0`` (DDE) can start a
program. Following OWASP's advice on CSV injection
(https://owasp.org/www-community/attacks/CSV_Injection), a cell that could start a formula gets a
leading apostrophe, which spreadsheets read as "this cell is text" and show rather than run.

A cell is dangerous when

* its first character is ``=``, ``+``, ``-`` or ``@`` (a formula), or ``|`` or ``%`` (defence
  in depth: DDE and some locales' macro syntax), once any leading whitespace is skipped (space,
  tab, CR, LF and the other Unicode spaces, and the invisible zero-width and direction marks,
  which a spreadsheet may drop before parsing);
* the same holds after NFKC normalisation, so the full-width forms (U+FF1D, U+FF0B, U+FF0D,
  U+FF20) and the small and superscript ones count (the raw test stays too: NFKC can compose
  ``=`` with a combining mark into another character);
* or it starts with a tab, CR or LF at all (some spreadsheets strip them and parse the rest).

A plain number (``-5``, ``+3.2``, ``-0.5e3``) is left alone: it cannot run, and numeric columns
must not turn into text. An empty cell stays empty, and a null in an Arrow column stays null.

Every writer here applies the neutraliser itself, so a caller cannot forget: :func:`format_csv`
and :func:`write_csv` for rows of Python values, :func:`write_arrow_csv` for an Arrow table
(:func:`neutralise_table` is vectorised with ``pyarrow.compute``: a regex match, then ``if_else``
with a prefixed copy). Neutralised output is stable: neutralising it again changes nothing, and a
reader recovers the original by dropping the one leading apostrophe from the cells that gained
it. A writer that must be reversible for *every* cell (``publish/longcsv.py``) also prefixes
cells that already start with an apostrophe, and strips exactly one on reading.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

PREFIX = "'"

# Characters skipped before the first character is judged: Unicode whitespace (exactly what
# str.isspace knows, listed because RE2's \s is ASCII only) and the invisible format characters
# (soft hyphen, zero-width, joiner, direction and isolate marks, byte order mark).
_SKIP = (
    "\t\n\v\f\r \x1c-\x1f\x85\xa0\xad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f"
    "\u205f-\u206f\u3000\ufeff"
)
_DANGER = "=+@|%-"  # "-" last, so that it is not a range in the class
# The same text serves Python's re (with .match) and Arrow's RE2 (anchored with ^): literal
# characters and ASCII classes only, since the two engines differ on \s, \d and $.
_RISKY = f"(?:[\t\r\n]|[{_SKIP}]*[{_DANGER}])"
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_RISKY_RE = re.compile(_RISKY)
_NUMBER_RE = re.compile(_NUMBER)
_RISKY_RE2 = "^" + _RISKY
_NUMBER_RE2 = f"^{_NUMBER}$"  # RE2's $ is the end of the text, not before a final newline


def neutralise(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet could run it as a formula."""
    if not cell or _NUMBER_RE.fullmatch(cell):
        return cell
    if _RISKY_RE.match(cell) or _RISKY_RE.match(unicodedata.normalize("NFKC", cell)):
        return PREFIX + cell
    return cell


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _neutralise_text(values: pa.Array) -> pa.Array:
    """A string or large_string array, neutralised; nulls stay null."""
    risky = pc.or_(
        pc.match_substring_regex(values, _RISKY_RE2),
        pc.match_substring_regex(pc.utf8_normalize(values, form="NFKC"), _RISKY_RE2),
    )
    flagged = pc.and_not(risky, pc.match_substring_regex(values, _NUMBER_RE2))
    prefixed = pc.utf8_replace_slice(values, start=0, stop=0, replacement=PREFIX)
    return pc.if_else(flagged, prefixed, values)


def _neutralise_chunk(chunk: pa.Array) -> pa.Array:
    t = chunk.type
    if pa.types.is_string_view(t):  # not every kernel takes views
        return _neutralise_text(chunk.cast(pa.string())).cast(t)
    if _is_text(t):
        return _neutralise_text(chunk)
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        # Only the distinct values are judged; the indices are kept as they are.
        return pa.DictionaryArray.from_arrays(
            chunk.indices, _neutralise_chunk(chunk.dictionary), ordered=t.ordered
        )
    return chunk


def neutralise_column(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column with every text cell neutralised; a column of any other type as it is."""
    if isinstance(column, pa.ChunkedArray):
        chunks = [_neutralise_chunk(c) for c in column.chunks]
        return pa.chunked_array(chunks, type=chunks[0].type if chunks else column.type)
    return _neutralise_chunk(column)


def neutralise_table(table: pa.Table) -> pa.Table:
    """``table`` with every string, large_string and dictionary-of-string column neutralised.

    Column names are neutralised too, since they become the header row.
    """
    columns = [neutralise_column(c) for c in table.columns]
    names = [neutralise(n) for n in table.column_names]
    return pa.Table.from_arrays(columns, names=names)


def _cell(value: object) -> object:
    """What the csv module writes for ``value``: text neutralised, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value  # a Python number cannot be a formula (str(-5.0) is "-5.0")
    return neutralise(str(value))


def _field(value: object) -> str:
    text = str(_cell(value))
    # Quoted when it holds a separator, a quote or any line break. The csv module would leave a
    # lone CR unquoted under "\n" line ends, and a reader then splits the row there.
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _line(cells: Iterable[object]) -> str:
    fields = [_field(c) for c in cells]
    # One empty field is written "" so that the row is not read as a blank line.
    return ('""' if fields == [""] else ",".join(fields)) + "\n"


def _lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterable[str]:
    yield _line(header)
    for row in rows:
        yield _line(row)


def format_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text (LF line ends) of ``header`` and ``rows``, every cell neutralised."""
    return "".join(_lines(header, rows))


def write_csv(
    path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Write ``header`` and ``rows`` as UTF-8 CSV at ``path``, every cell neutralised."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(_lines(header, rows))


def write_arrow_csv(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write ``table`` as CSV at ``path`` with pyarrow's writer, every text cell neutralised."""
    pacsv.write_csv(neutralise_table(table), path)
