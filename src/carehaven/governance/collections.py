"""The collections a haven runs, as the privacy notices describe them (collections.json).

A collection groups the datasets one privacy notice covers, with what only the notices can say:
who the controller is, the purposes and lawful bases (SHR-11), whose data it is, the consent
statements (CON-1, CON-2, CON-4), the rights and the contacts (SEC-3). Every statement carries
the seed notice and section it comes from in ``source`` (keys of ``seeds``). Notices and the
register of processing read this; what the system enforces (fields, sharing rules, recipients,
retention) comes from the specs, the policy, the control plane and the retention schedule.

The consent and rights statements, the descriptions of the tiers and the notice's own wording
each say what they are (``kind``): information, a promise with the mechanisms that enforce it
(``enforced_by``), or a promise still pending its mechanism, which the notice leaves out until
it lands (docs/design/0008, "Promises"). The controller, processors, data subjects, sources,
purposes, lawful bases and contacts are information by their nature.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carehaven.errors import NotFoundError
from carehaven.governance.notice_model import StatementKind, check_claim
from carehaven.governance.policy.model import TIERS
from carehaven.specs.registry import available

TierName = Literal["personal", "de-personalised", "anonymised", "aggregate"]
#: The four categories of data, most identifying first (PSE-1), as the sharing policy has them.
TIER_ORDER: tuple[str, ...] = TIERS
_REQUIREMENT = re.compile(r"^[A-Z]{3}-\d+$")
_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_BASIS = re.compile(r"^(6\.1\.[a-f]|9\.2\.[a-j])$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}$")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Statement(_Data):
    text: str
    source: str


class Claimed(_Data):
    """A statement that says whether it is information or a promise, and what enforces it."""

    text: str
    kind: StatementKind
    enforced_by: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _claim(self) -> Claimed:
        check_claim(self.kind, self.enforced_by, self.text[:40])
        return self


class Required(Claimed):
    """A statement that keeps a requirement of REQUIREMENTS.md."""

    requirement: str
    source: str


class Controller(_Data):
    name: str
    statement: str
    source: str


class Processor(_Data):
    name: str
    role: str
    source: str


class Purpose(_Data):
    code: str
    text: str
    source: str


class LawfulBasis(_Data):
    code: str  # as agreements write it: 6.1.e, 9.2.j
    article: str
    text: str
    source: str


class Contact(_Data):
    role: str
    name: str
    for_: str = Field(alias="for")
    email: str | None = None
    web: str | None = None
    address: tuple[str, ...] = ()
    source: str

    @model_validator(mode="after")
    def _plain(self) -> Contact:
        if self.email is not None and not _EMAIL.match(self.email):
            raise ValueError(f"{self.name}: {self.email!r} is not an e-mail address")
        if self.web is not None and not self.web.startswith("https://"):
            raise ValueError(f"{self.name}: a web address starts with https://")
        return self


class Collection(_Data):
    code: str = ""
    title: str
    summary: Statement
    datasets: tuple[str, ...]
    controller: Controller
    processors: tuple[Processor, ...] = ()
    data_subjects: tuple[Statement, ...]
    sources: tuple[Statement, ...] = ()
    purposes: tuple[Purpose, ...]
    lawful_bases: tuple[LawfulBasis, ...]
    consent: tuple[Required, ...] = ()
    rights: tuple[Required, ...]
    contacts: tuple[Contact, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Collection:
        unknown = [d for d in self.datasets if d not in available()]
        if unknown:
            raise ValueError(f"{self.code}: unknown dataset {unknown[0]}")
        codes = [p.code for p in self.purposes]
        if len(set(codes)) != len(codes) or not all(_CODE.match(c) for c in codes):
            raise ValueError(f"{self.code}: purpose codes are unique short codes")
        bad = [b.code for b in self.lawful_bases if not _BASIS.match(b.code)]
        if bad or not self.lawful_bases:
            raise ValueError(f"{self.code}: lawful bases are written like 6.1.e (SHR-11)")
        if not any(c.email or c.address for c in self.contacts):
            raise ValueError(f"{self.code}: a notice gives a way to contact the controller (SEC-3)")
        for s in (*self.consent, *self.rights):
            if not _REQUIREMENT.match(s.requirement):
                raise ValueError(f"{self.code}: {s.requirement!r} is not a requirement id")
        return self


class TierText(Claimed):
    """How a notice describes one of the four categories of data (000 §5; PSE-1)."""

    label: str
    source: str


class Wording(Claimed):
    """A sentence of the notice's own, around the data (the templates place it)."""

    kind: Literal["information", "promise"]  # the templates always show it


#: The wording the templates use: the explanation of each field class, the sentence before a
#: derived field's replacement, the sentences of the sharing and the changes sections.
WORDING_KEYS = frozenset(
    {"class-D", "class-Q", "class-S", "class-O", "derived", "sharing-rules", "no-recipients",
     "changes"}
)


class Catalogue(_Data):
    seeds: dict[str, str]
    tiers: dict[TierName, TierText]
    wording: dict[str, Wording]
    collections: dict[str, Collection]

    @model_validator(mode="after")
    def _every_tier(self) -> Catalogue:
        if tuple(self.tiers) != TIER_ORDER:
            raise ValueError(f"tiers are described in this order: {', '.join(TIER_ORDER)}")
        if set(self.wording) != WORDING_KEYS:
            raise ValueError(f"wording has exactly these keys: {', '.join(sorted(WORDING_KEYS))}")
        return self


@cache
def catalogue() -> Catalogue:
    raw = json.loads(
        (resources.files("carehaven.governance") / "collections.json").read_text("utf-8")
    )
    for code, body in raw["collections"].items():
        body["code"] = code
    return Catalogue.model_validate(raw)


def codes() -> tuple[str, ...]:
    """The collections' codes, in the order collections.json lists them."""
    return tuple(catalogue().collections)


def load_collection(code: str) -> Collection:
    """One collection; a clear sentence names the ones that exist."""
    found = catalogue().collections.get(code)
    if found is None:
        raise NotFoundError(
            f"There is no collection called {code!r}. Known collections: {', '.join(codes())}."
        )
    return found


__all__ = [
    "TIER_ORDER",
    "Catalogue",
    "Claimed",
    "Collection",
    "Contact",
    "LawfulBasis",
    "Purpose",
    "Required",
    "Statement",
    "TierName",
    "TierText",
    "Wording",
    "catalogue",
    "codes",
    "load_collection",
]
