from hypothesis import given
from hypothesis import strategies as st

from carehaven.collection.masking import shape, shown


def test_shape_keeps_format_not_value():
    assert shape("SW1A 1AA") == "AA9A 9AA"
    assert shape("1980-05-01") == "9999-99-99"
    assert shape("AB123456C") == "AA999999A"


@given(st.text(max_size=60))
def test_shape_reveals_no_letter_or_digit(value):
    masked = shape(value)
    assert not any(ch.isalnum() and ch not in "A9" for ch in masked)


def test_shown_only_masks_identifiers():
    assert shown("HER", identifier=False) == "HER"
    assert shown("HER", identifier=True) == "AAA"
    assert shown(None, identifier=True) == ""
    assert shown("x" * 100, identifier=False).endswith("…")

