"""NHS numbers and National Insurance numbers that pass (or, on purpose, fail) their checks."""

from __future__ import annotations

import random

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
#: Letters allowed in either place of a NINO prefix (the descriptor's pattern).
NINO_LETTERS = "ABCEGHJKLMNPRSTWXYZ"
#: Prefixes HMRC never issues, although both letters are allowed on their own.
NINO_FORBIDDEN_PREFIXES = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")
_NINO_SECOND = NINO_LETTERS.replace("O", "")  # O is never the second letter
_NINO_SUFFIX = "ABCD"


def nhs_check_digit(nine: str) -> int | None:
    """The modulus-11 check digit for nine digits; None when the number cannot be issued."""
    total = sum(int(d) * w for d, w in zip(nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(value: str) -> bool:
    if len(value) != 10 or not value.isdigit():
        return False
    return nhs_check_digit(value[:9]) == int(value[9])


def new_nhs_number(rng: random.Random) -> str:
    """A valid NHS number in the range issued in England (400 000 0000 to 499 999 9999)."""
    while True:
        nine = f"4{rng.randrange(100_000_000):08d}"
        check = nhs_check_digit(nine)
        if check is not None:
            return f"{nine}{check}"


def wrong_check_digit(value: str) -> str:
    """The same number with a check digit that fails the modulus-11 test."""
    nine = value[:9]
    right = nhs_check_digit(nine)
    for d in "0123456789":
        if right is None or int(d) != right:
            return nine + d
    raise AssertionError("unreachable")


def new_nino(rng: random.Random) -> str:
    """A National Insurance number with an allowed prefix."""
    while True:
        prefix = rng.choice(NINO_LETTERS) + rng.choice(_NINO_SECOND)
        if prefix not in NINO_FORBIDDEN_PREFIXES:
            return f"{prefix}{rng.randrange(1_000_000):06d}{rng.choice(_NINO_SUFFIX)}"


def is_valid_nino(value: str) -> bool:
    return (
        len(value) == 9
        and value[0] in NINO_LETTERS
        and value[1] in NINO_LETTERS
        and value[:2] not in NINO_FORBIDDEN_PREFIXES
        and value[2:8].isdigit()
        and value[8] in _NINO_SUFFIX
    )
