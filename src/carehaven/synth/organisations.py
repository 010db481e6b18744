"""The fixed set of organisations a synthetic haven knows, and where each one sits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from carehaven.synth.geography import LOCAL_AUTHORITIES
from carehaven.synth.model import SynthOrganisation

HMRC = "HMRC"


@dataclass(frozen=True)
class Site:
    """A submitter of NDTMS returns: where it is and what sort of service it runs."""

    code: str
    la: str  # ONS code of the authority it sits in
    service: str  # "adult", "alcohol", "young-people", "prison", "criminal-justice"
    client_prefix: str  # how its case management system writes client references
    serves: tuple[str, ...]  # authorities whose residents it takes


SITES: tuple[Site, ...] = (
    Site("P001", "E08000025", "adult", "RR", ("E08000025",)),
    Site("P002", "E08000003", "adult", "NG", ("E08000003",)),
    Site("P003", "E08000035", "adult", "AV", ("E08000035",)),
    Site("P004", "E08000012", "adult", "MW", ("E08000012",)),
    Site("P005", "E06000023", "adult", "HT", ("E06000023",)),
    Site("P006", "E08000019", "adult", "SC", ("E08000019",)),
    Site("P007", "E08000025", "alcohol", "MA", ("E08000025",)),
    Site("P008", "E08000003", "young-people", "YP", ("E08000003", "E08000012")),
    Site("PR01", "E08000025", "prison", "PB", ("E08000025", "E06000023", "E08000019")),
    Site("PR02", "E08000003", "prison", "PM", ("E08000003", "E08000012", "E08000035")),
    Site("CJ01", "E08000035", "criminal-justice", "LJ", ("E08000035", "E08000019")),
    Site("CJ02", "E08000012", "criminal-justice", "LC", ("E08000012", "E08000003")),
)

_TREATMENT_NAMES = {
    "P001": "Riverside Recovery",
    "P002": "Northgate Drug and Alcohol Service",
    "P003": "Aire Valley Recovery Partnership",
    "P004": "Mersey Wellbeing and Recovery",
    "P005": "Harbourside Treatment Service",
    "P006": "Steel City Recovery",
    "P007": "Moseley Alcohol Service",
    "P008": "Irwell Young People's Substance Misuse Service",
}
#: A young people's service is its own kind: only it returns young_person_vulnerability.
_KIND = {"young-people": "young-peoples-service"}
_OTHER = (
    SynthOrganisation("PR01", "prison", "HMP Birmingham Healthcare Substance Misuse Team"),
    SynthOrganisation("PR02", "prison", "HMP Manchester Substance Misuse Service"),
    SynthOrganisation("CJ01", "criminal-justice-team", "Leeds Criminal Justice Drug Team"),
    SynthOrganisation(
        "CJ02", "criminal-justice-team", "Liverpool Criminal Justice Intervention Team"
    ),
)


def organisations() -> tuple[SynthOrganisation, ...]:
    """The fixed, realistic set of organisations used by :func:`synthesise`."""
    return (
        *(
            SynthOrganisation(code, _KIND.get(site(code).service, "treatment-service"), name)
            for code, name in _TREATMENT_NAMES.items()
        ),
        *_OTHER,
        *(SynthOrganisation(la.code, "local-authority", la.council) for la in LOCAL_AUTHORITIES),
        SynthOrganisation(HMRC, "partner", "HM Revenue and Customs"),
    )


def site(code: str) -> Site:
    for s in SITES:
        if s.code == code:
            return s
    raise KeyError(code)


def sites_of(service: str) -> tuple[Site, ...]:
    return tuple(s for s in SITES if s.service == service)


@cache
def _kinds() -> dict[str, str]:
    return {o.code: o.kind for o in organisations()}


def kind_of(code: str) -> str | None:
    """The kind of the synthetic organisation ``code`` (None for one synth does not make)."""
    return _kinds().get(code)
