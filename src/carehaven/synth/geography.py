"""Six English local authorities with their real ONS codes and postcode districts.

District lists are real outward codes in (or mostly in) each authority. "Neighbouring" districts
are the ones next to each other in number within the same postcode area, which is close enough
for moves and for choosing a provider near home.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

#: Letters used in the inward code of a postcode (Royal Mail leaves out C, I, K, M, O, V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
#: The outward code NDTMS uses for "no fixed abode".
NO_FIXED_ABODE = "ZZ99"


@dataclass(frozen=True)
class LocalAuthority:
    code: str
    name: str
    council: str
    districts: tuple[str, ...]
    neighbours: tuple[str, ...]  # ONS codes of authorities people move to or travel to


def _numbered(area: str, numbers: list[int]) -> tuple[str, ...]:
    return tuple(f"{area}{n}" for n in numbers)


BIRMINGHAM = LocalAuthority(
    "E08000025",
    "Birmingham",
    "Birmingham City Council",
    _numbered("B", [*range(1, 22), *range(23, 37), 38, 42, 44]),
    ("E06000023", "E08000019"),
)
MANCHESTER = LocalAuthority(
    "E08000003",
    "Manchester",
    "Manchester City Council",
    _numbered("M", [1, 2, 4, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 40]),
    ("E08000012", "E08000035", "E08000019"),
)
LEEDS = LocalAuthority(
    "E08000035",
    "Leeds",
    "Leeds City Council",
    _numbered("LS", [*range(1, 18), 25, 26, 27, 28]),
    ("E08000019", "E08000003"),
)
LIVERPOOL = LocalAuthority(
    "E08000012",
    "Liverpool",
    "Liverpool City Council",
    _numbered("L", [*range(1, 20), 24, 25, 27]),
    ("E08000003",),
)
BRISTOL = LocalAuthority(
    "E06000023",
    "Bristol",
    "Bristol City Council",
    _numbered("BS", [*range(1, 12), 13, 14]),
    ("E08000025",),
)
SHEFFIELD = LocalAuthority(
    "E08000019",
    "Sheffield",
    "Sheffield City Council",
    _numbered("S", [*range(1, 15), 17, 20, 35]),
    ("E08000035", "E08000003", "E08000025"),
)

LOCAL_AUTHORITIES: tuple[LocalAuthority, ...] = (
    BIRMINGHAM,
    MANCHESTER,
    LEEDS,
    LIVERPOOL,
    BRISTOL,
    SHEFFIELD,
)
#: Relative population weights, roughly in proportion to the real authorities.
LA_WEIGHTS: tuple[int, ...] = (11, 6, 8, 5, 5, 6)


@cache
def authority(code: str) -> LocalAuthority:
    for la in LOCAL_AUTHORITIES:
        if la.code == code:
            return la
    raise KeyError(code)


@cache
def _district_index() -> dict[str, str]:
    return {d: la.code for la in LOCAL_AUTHORITIES for d in la.districts}


def authority_of_district(district: str) -> str:
    """The ONS code of the authority a district belongs to."""
    return _district_index()[district]


@cache
def neighbouring_districts(district: str) -> tuple[str, ...]:
    """Districts up to two places away in number, in the same authority (never the district)."""
    la = authority(authority_of_district(district))
    i = la.districts.index(district)
    lo, hi = max(0, i - 2), min(len(la.districts), i + 3)
    return tuple(d for d in la.districts[lo:hi] if d != district)


def full_postcode(district: str, rng: random.Random) -> str:
    """A full postcode in ``district``: the outward code, a space, a digit and two letters."""
    return (
        f"{district} {rng.randrange(10)}"
        f"{INWARD_LETTERS[rng.randrange(20)]}{INWARD_LETTERS[rng.randrange(20)]}"
    )
