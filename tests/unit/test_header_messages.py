"""File-rule messages name headings by position and shape, never by their text (issue 12 item 16).

A heading that is not a declared column may be a person's data (a data row joined to the header
line), so a message quotes only declared column names, and shows anything else as its shape, no
longer than the spec's longest column name.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehaven.collection.masking import shape
from carehaven.collection.reading import (
    FileRejectedError,
    column_letter,
    duplicate_message,
    heading,
    no_header_message,
    read_table,
    unknown_message,
)
from carehaven.specs import load_spec

CLD = load_spec("cld-event")
LONGEST = max(len(n) for n in CLD.field_names)
PERSON = {
    "LA_Code": "E09000001", "Reporting_Period_Start_Date": "2024-07-01",
    "Reporting_Period_End_Date": "2025-06-30", "LA_Person_Unique_Identifier": "QV77341",
    "NHS_Number": "9434765919", "Given_Name": "Zebulon", "Family_Name": "Quixwort",
    "Date_of_Birth": "1937-08-31", "Gender": "Female", "Ethnicity": "White: British",
    "Postcode": "ZE2 9QX", "Client_Type": "Service User", "Event_Type": "Request",
    "Event_Start_Date": "2025-04-03", "Event_End_Date": "2025-04-20",
}
SECRETS = ("9434765919", "Zebulon", "Quixwort", "1937-08-31", "ZE2 9QX", "QV77341")


def leaked(text: str, secrets: tuple[str, ...] = SECRETS, at_least: int = 5) -> list[str]:
    """Every piece of a secret, ``at_least`` characters or longer, that ``text`` holds."""
    return [
        s[i : i + n]
        for s in secrets
        for n in range(at_least, len(s) + 1)
        for i in range(len(s) - n + 1)
        if s[i : i + n] in text
    ]


def glued() -> bytes:
    """A CLD file whose first data row is joined to the header line with ';'."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(PERSON.values())
    row = out.getvalue()
    return (",".join(PERSON) + ";" + row + row).encode()


def rejection(data: bytes) -> FileRejectedError:
    with pytest.raises(FileRejectedError) as caught:
        read_table(data, CLD, "cld.csv")
    return caught.value


def shapes_shown(message: str) -> list[str]:
    return re.findall(r"shaped (\S+)", message)


def test_a_row_joined_to_the_header_is_named_by_position_and_shape():
    err = rejection(glued())
    message = err.problem.message
    assert err.problem.rule == "unknown-column" and err.problem.line == 1
    assert leaked(message) == [] and leaked(str(err)) == []
    # Which positions are wrong, and what they look like: the NHS number's shape at column 19.
    assert "column 15 (O) shaped AAAAA*AAA*AAAA;A99999999" in message
    assert "column 19 (S) shaped 9999999999" in message
    assert "and 10 more" in message and "joined to the header line" in message


def test_a_long_heading_is_cut_to_the_longest_column_name():
    cell = "Zebulon Quixwort " * 20
    text = heading(3, cell, CLD)
    assert text == f"column 3 (C) shaped {shape(cell[:LONGEST])}…"
    assert all(len(s) <= LONGEST + 1 for s in shapes_shown(text))


def test_declared_names_are_quoted_and_nothing_else():
    assert heading(5, "NHS_Number", CLD) == "column 5 (E) NHS_Number"
    assert heading(2, "", CLD) == "column 2 (B) empty"
    assert heading(5, "nhs_number", CLD) == "column 5 (E) shaped AAA*AAAAAA (is it NHS_Number?)"


def test_unknown_message_lists_five_then_counts():
    header = ["LA_Code", *(f"Zq{i}" for i in range(8))]
    message = unknown_message(header, CLD, "f.csv", ["NHS_Number"])
    assert "Zq" not in message
    assert "has 8 headings" in message and "column 2 (B) shaped AA9" in message
    assert "column 6 (F)" in message and "column 7 (G)" not in message and "and 3 more" in message
    assert message.endswith("It also lacks the column NHS_Number.")


def test_a_repeated_declared_name_is_quoted():
    header = ["LA_Code", "NHS_Number", "Gender", "NHS_Number"]
    assert duplicate_message(header, CLD, "f.csv") == (
        "f.csv names column NHS_Number more than once (columns 2 (B) and 4 (D))."
    )
    err = rejection(b"LA_Code,NHS_Number,NHS_Number\nE09000001,9434765919,9434765919\n")
    assert err.problem.rule == "duplicate-header" and "NHS_Number" in err.problem.message


def test_a_repeated_undeclared_heading_is_named_by_position_and_shape():
    header = ["LA_Code", "Quixwort", "Gender", "Quixwort"]
    message = duplicate_message(header, CLD, "f.csv")
    assert leaked(message) == []
    assert "columns 2 (B) and 4 (D)" in message and "shaped AAAAAAAA" in message
    with pytest.raises(ValueError, match="no heading is repeated"):
        duplicate_message(["LA_Code"], CLD, "f.csv")


def test_a_repeated_data_value_in_the_header_is_not_quoted():
    """Two equal values glued on (N, N) are reported as undeclared headings, not by text."""
    data = b"LA_Code,NHS_Number;Quixwort,Quixwort\nE09000001,9434765919,x\n"
    err = rejection(data)
    assert err.problem.rule == "unknown-column" and leaked(err.problem.message) == []


def test_no_header_quotes_nothing_and_spots_another_separator():
    header = ["Zebulon;Quixwort;9434765919"]
    message = no_header_message(header, CLD, "f.csv")
    assert leaked(message) == []
    assert message == (
        "f.csv has no header row: line 1 names none of the cld-event columns (it seems to be "
        "separated by ';', not commas)."
    )
    assert "tab" in no_header_message(["a\tb"], CLD, "f.csv")
    err = rejection(b"9434765919,Zebulon,Quixwort\n9434765919,Zebulon,Quixwort\n")
    assert err.problem.rule == "no-header" and leaked(err.problem.message) == []


def test_column_letters():
    assert [column_letter(n) for n in (1, 2, 26, 27, 52, 53, 702, 703)] == [
        "A", "B", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


#: Undeclared headings: any text, marked with "Zq" (no column name or message word holds it).
FOREIGN = st.text(max_size=60).map(lambda s: "Zq" + s.replace("\x00", ""))


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(CLD.field_names), min_size=1, max_size=6, unique=True),
    st.lists(FOREIGN, min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_no_undeclared_heading_reaches_a_message(declared, foreign, rnd):
    header = [*declared, *foreign]
    rnd.shuffle(header)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, ["x"] * len(header)])
    err = rejection(out.getvalue().encode())
    assert "Zq" not in err.problem.message
    # Never more of a heading's shape than the longest column name is long.
    for cell in foreign:
        longer = cell.strip()[: LONGEST + 1]
        assert len(longer) <= LONGEST or shape(longer, LONGEST + 1) not in err.problem.message
