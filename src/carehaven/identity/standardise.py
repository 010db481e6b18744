"""Standardisation: identifiers made comparable, and untrustworthy values made missing.

Each rule exists twice on purpose: as a plain Python function (the reference, used for single
values and in tests) and as an Ibis expression (used on whole tables, on DuckDB or Spark).
A test checks that both agree on every value it tries.
"""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir

#: Modulus-11 weights of the first nine digits of an NHS number.
NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
#: Published test numbers and the 999 range NHS England reserves for testing.
NHS_TEST_PREFIX = "999"
#: NINO prefixes HMRC never issues; TN is a temporary number, not a person's own.
NINO_FORBIDDEN_PREFIXES = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")
NINO_PATTERN = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"
#: Outward codes that mean "no fixed abode" or "not known", not a place.
PLACEHOLDER_DISTRICTS = ("ZZ99",)
#: Initials some systems write when a name is unknown.
PLACEHOLDER_INITIALS = ("XX", "ZZ")
#: Dummy dates of birth: anything in 1900 or before, and the 1 January 1901 default.
EARLIEST_TRUSTED_DOB = dt.date(1901, 1, 2)
POSTCODE_PATTERN = r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9])([A-Z]{2})$"
DISTRICT_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]?$"


# -- reference implementations ---------------------------------------------------------------
def nhs_number(value: str | None) -> str | None:
    """A valid, real NHS number (spaces removed), or None."""
    if value is None:
        return None
    digits = value.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isdigit():
        return None
    if len(set(digits)) == 1 or digits.startswith(NHS_TEST_PREFIX):
        return None
    total = sum(int(d) * w for d, w in zip(digits[:9], NHS_WEIGHTS, strict=True))
    check = (11 - total % 11) % 11
    return digits if check != 10 and check == int(digits[9]) else None


def nino(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.replace(" ", "").upper()
    if not re.match(NINO_PATTERN, v) or v[:2] in NINO_FORBIDDEN_PREFIXES:
        return None
    return v


def initials(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", v) or v in PLACEHOLDER_INITIALS:
        return None
    return v


def date_of_birth(value: dt.date | None) -> dt.date | None:
    if value is None or value < EARLIEST_TRUSTED_DOB:
        return None
    return value


def district(value: str | None) -> str | None:
    """The outward code of a postcode district or a full postcode; None for placeholders."""
    if value is None:
        return None
    v = value.replace(" ", "").upper()
    full = re.match(POSTCODE_PATTERN, v)
    if full:
        v = full.group(1)
    if not re.fullmatch(DISTRICT_PATTERN, v) or v in PLACEHOLDER_DISTRICTS:
        return None
    return v


def sector(value: str | None) -> str | None:
    """Outward code and the inward code's first digit (``SW1A 1``) of a full postcode."""
    if value is None:
        return None
    full = re.match(POSTCODE_PATTERN, value.replace(" ", "").upper())
    if not full or full.group(1) in PLACEHOLDER_DISTRICTS:
        return None
    return f"{full.group(1)} {full.group(2)}"


# -- the same rules on whole columns ----------------------------------------------------------
def _clean(col: ir.StringValue) -> ir.StringValue:
    return col.upper().replace(" ", "").replace("-", "")


def nhs_number_expr(col: ir.StringValue) -> ir.StringValue:
    d = _clean(col)
    total: ir.IntegerValue = ibis.literal(0)
    for i, weight in enumerate(NHS_WEIGHTS):
        total = total + d.substr(i, 1).cast("int64") * weight
    check = (11 - total % 11) % 11
    digits_ok = d.re_search(r"^[0-9]{10}$")
    same_digit = d == d.substr(0, 1).repeat(10)
    ok = (
        digits_ok
        & ~same_digit
        & ~d.startswith(NHS_TEST_PREFIX)
        & (check != 10)
        & (check == d.substr(9, 1).cast("int64"))
    )
    # The casts only run where ten digits were found: the guard comes first.
    return ibis.cases((digits_ok, ibis.cases((ok, d), else_=ibis.null("string"))),
                      else_=ibis.null("string"))


def nino_expr(col: ir.StringValue) -> ir.StringValue:
    v = _clean(col)
    ok = v.re_search(NINO_PATTERN) & ~v.substr(0, 2).isin(NINO_FORBIDDEN_PREFIXES)
    return ibis.cases((ok, v), else_=ibis.null("string"))


def initials_expr(col: ir.StringValue) -> ir.StringValue:
    v = col.strip().upper()
    ok = v.re_search(r"^[A-Z]{2}$") & ~v.isin(PLACEHOLDER_INITIALS)
    return ibis.cases((ok, v), else_=ibis.null("string"))


def initials_from_names_expr(given: ir.StringValue, family: ir.StringValue) -> ir.StringValue:
    return initials_expr(given.strip().substr(0, 1).concat(family.strip().substr(0, 1)))


def date_of_birth_expr(col: ir.DateValue) -> ir.DateValue:
    return ibis.cases((col >= EARLIEST_TRUSTED_DOB, col), else_=ibis.null("date"))


def district_expr(col: ir.StringValue) -> ir.StringValue:
    v = _clean(col)
    outward = ibis.cases(
        (v.re_search(POSTCODE_PATTERN), v.substr(0, v.length() - 3)), else_=v
    )
    ok = outward.re_search(DISTRICT_PATTERN) & ~outward.isin(PLACEHOLDER_DISTRICTS)
    return ibis.cases((ok, outward), else_=ibis.null("string"))


def sector_expr(col: ir.StringValue) -> ir.StringValue:
    v = _clean(col)
    outward = v.substr(0, v.length() - 3)
    ok = v.re_search(POSTCODE_PATTERN) & ~outward.isin(PLACEHOLDER_DISTRICTS)
    return ibis.cases(
        (ok, outward.concat(" ", v.substr(v.length() - 3, 1))), else_=ibis.null("string")
    )


def code_expr(col: ir.StringValue, mapping: dict[str, str]) -> ir.StringValue:
    """Recode through ``mapping``; anything not in it (not stated, unknown) becomes missing."""
    return col.substitute(mapping, else_=ibis.null("string"))
