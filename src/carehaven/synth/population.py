"""The truth: people who never existed, where they live, when they move and when they die."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from carehaven.synth.geography import (
    LA_WEIGHTS,
    LOCAL_AUTHORITIES,
    authority,
    authority_of_district,
    full_postcode,
    neighbouring_districts,
)
from carehaven.synth.identifiers import new_nhs_number, new_nino
from carehaven.synth.names import FEMALE, MALE, SURNAMES
from carehaven.synth.organisations import site

#: Authorities with a young people's service: young people live there.
_YOUNG_PEOPLE_LAS = site("P008").serves


@dataclass(frozen=True)
class Home:
    since: int  # first day living here
    district: str
    postcode: str
    la: str


@dataclass
class Person:
    pid: str
    first: str
    last: str
    sex: str  # "male", "female" or "not stated": a meaning, coded per dataset
    born: int
    ethnicity: str  # an NDTMS ethnicity code
    nhs: str
    nino: str
    homes: list[Home]
    died: int | None
    treatment: bool  # known to drug and alcohol treatment
    social_care: bool  # known to adult social care
    young: bool  # starts in a young people's service
    offending: bool  # likely to meet criminal justice routes
    alcohol: bool  # alcohol is the main problem substance
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def initials(self) -> str:
        return self.first[0] + self.last[0]

    def home_at(self, day: int) -> Home:
        current = self.homes[0]
        for h in self.homes[1:]:
            if h.since > day:
                break
            current = h
        return current

    def alive_on(self, day: int) -> bool:
        return self.died is None or day <= self.died


def _birth_day(rng: random.Random, on: int, low: float, high: float, mode: float) -> int:
    age_days = rng.triangular(low, high, mode) * 365.25
    return on - int(age_days)


def build_population(
    n: int, seed: int, first_day: int, last_day: int, ethnicities: tuple[str, ...]
) -> list[Person]:
    """``n`` people living in the six authorities between ``first_day`` and ``last_day``.

    ``ethnicities`` is the NDTMS code list, most common first (the descriptor's order).
    """
    rng = random.Random(f"{seed}/population")
    la_codes = [la.code for la in LOCAL_AUTHORITIES]
    eth_weights = [40.0 if i == 0 else 2.0 for i in range(len(ethnicities))]
    earliest_home = first_day - 3 * 365
    people: list[Person] = []
    for i in range(n):
        roll = rng.random()
        treatment, social_care = (roll < 0.73), (roll >= 0.62)
        young = treatment and not social_care and rng.random() < 0.04
        sex = "male" if rng.random() < (0.66 if treatment else 0.42) else "female"
        names = MALE if sex == "male" else FEMALE
        if rng.random() < 0.012:
            sex = "not stated"
        if young:
            born = _birth_day(rng, first_day, 13.0, 17.5, 16.0)
        elif treatment and social_care:
            born = _birth_day(rng, first_day, 22.0, 72.0, 45.0)
        elif treatment:
            born = _birth_day(rng, first_day, 18.5, 72.0, 38.0)
        else:
            born = _birth_day(rng, first_day, 18.5, 100.0, 82.0)
        la = rng.choice(_YOUNG_PEOPLE_LAS) if young else rng.choices(la_codes, LA_WEIGHTS)[0]
        district = rng.choice(authority(la).districts)
        homes = [Home(earliest_home, district, full_postcode(district, rng), la)]
        moves = 1 if rng.random() < 0.13 else 0
        if moves and rng.random() < 0.15:
            moves = 2
        when = first_day - 365
        for _ in range(moves):
            if when + 30 > last_day - 20:
                break
            when = rng.randint(when + 30, last_day - 20)
            if rng.random() < 0.78 or young:
                district = rng.choice(neighbouring_districts(district))
            else:
                district = rng.choice(authority(rng.choice(authority(la).neighbours)).districts)
            la = authority_of_district(district)
            homes.append(Home(when, district, full_postcode(district, rng), la))
        death_rate = 0.015 if not social_care else (0.07 if born < first_day - 75 * 365 else 0.03)
        died = rng.randint(first_day, last_day) if rng.random() < death_rate and not young else None
        people.append(
            Person(
                pid=f"T{i + 1:06d}",
                first=rng.choice(names),
                last=rng.choice(SURNAMES),
                sex=sex,
                born=born,
                ethnicity=rng.choices(ethnicities, eth_weights)[0],
                nhs=new_nhs_number(rng),
                nino=new_nino(rng),
                homes=homes,
                died=died,
                treatment=treatment,
                social_care=social_care,
                young=young,
                offending=treatment and not young and rng.random() < 0.2,
                alcohol=treatment and not young and rng.random() < 0.35,
            )
        )
    _unique_identifiers(people, rng)
    return people


def _unique_identifiers(people: list[Person], rng: random.Random) -> None:
    """Draw again the rare NHS number or NINO that two people were given."""
    seen_nhs: set[str] = set()
    seen_nino: set[str] = set()
    for p in people:
        while p.nhs in seen_nhs:
            p.nhs = new_nhs_number(rng)
        while p.nino in seen_nino:
            p.nino = new_nino(rng)
        seen_nhs.add(p.nhs)
        seen_nino.add(p.nino)
