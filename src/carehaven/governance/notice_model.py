"""The sections of a privacy notice as data (CON-3): what ``notice.content`` builds, what
``notice.publish`` stores and what the change notes compare.

Every statement in them is information or a promise (docs/design/0008, "Promises"): a promise
carries ``enforced_by``, the mechanisms that make it true, which ``notice_promises`` checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField

from carehaven.specs import FieldClass

#: What a statement is. ``information``: true whatever the haven does (who the controller is,
#: contacts, the law, what is collected). ``promise``: something the haven does, with the
#: mechanisms that do it. ``pending``: a promise whose mechanism does not exist yet; it waits in
#: the data and is never rendered.
StatementKind = Literal["information", "promise", "pending"]
#: A mechanism: ``policy:<id>`` (sharing.cedar), ``rule:<dataset>/<rule id>`` (a dataset spec's
#: validation rule), ``retention:<id>`` (a retention rule that is acted on), ``command:<path>``
#: (a registered command, such as ``command:audit verify``).
MECHANISM = re.compile(
    r"^(policy:[a-z0-9-]+|rule:[a-z0-9-]+/[a-z0-9-]+|retention:[a-z0-9-]+"
    r"|command:[a-z-]+( [a-z-]+)*)$"
)


def check_claim(kind: str, enforced_by: tuple[str, ...], what: str) -> None:
    """A statement in the data holds together: information names no mechanism, a promise or a
    pending statement names at least one, each written as a mechanism."""
    if kind == "information" and enforced_by:
        raise ValueError(f"{what}: information names no mechanism (enforced_by)")
    if kind != "information" and not enforced_by:
        raise ValueError(f"{what}: a {kind} statement names the mechanisms that enforce it")
    bad = [m for m in enforced_by if not MECHANISM.match(m)]
    if bad:
        raise ValueError(
            f"{what}: {bad[0]!r} is not a mechanism (policy:ID, rule:DATASET/ID, retention:ID, "
            "command:PATH)"
        )


#: How each field class is named to the people the data is about (DATASETS.md "Class"); what a
#: class's heading says about it is wording in collections.json (``class-D`` ...).
CLASS_LABELS: dict[str, str] = {
    FieldClass.DIRECT: "Direct identifiers",
    FieldClass.QUASI: "Details that could identify you when combined",
    FieldClass.SPECIAL: "Special category information",
    FieldClass.OPERATIONAL: "Other information about your care",
}
_CLASS_ORDER = (FieldClass.DIRECT, FieldClass.QUASI, FieldClass.SPECIAL, FieldClass.OPERATIONAL)

#: A promise stored before promises named their mechanisms has none, and is reported as such.
PROMISE: Literal["promise"] = "promise"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


# ---- the sections, as data ---------------------------------------------------------------------


class FieldEntry(_Model):
    name: str
    description: str
    #: What takes the field's place in data without direct identifiers (spec ``derive``).
    replaced_by: tuple[str, ...] = ()


class ClassGroup(_Model):
    field_class: str
    label: str
    explanation: str
    fields: tuple[FieldEntry, ...]
    #: What the explanation is (a promise for D and Q: they are removed or generalised).
    kind: Literal["information", "promise"] = PROMISE
    enforced_by: tuple[str, ...] = ()


class DatasetEntry(_Model):
    name: str
    title: str
    version: str
    description: str
    classes: tuple[ClassGroup, ...]

    def fields(self) -> dict[str, tuple[str, FieldEntry]]:
        return {f.name: (g.field_class, f) for g in self.classes for f in g.fields}


class Processor(_Model):
    name: str
    role: str


class WhoWeAre(_Model):
    summary: str
    controller: str
    controller_statement: str
    processors: tuple[Processor, ...] = ()


class Purpose(_Model):
    code: str
    text: str


class Basis(_Model):
    code: str
    article: str
    text: str


class TierDefinition(_Model):
    tier: str
    label: str
    text: str
    kind: Literal["information", "promise"] = PROMISE
    enforced_by: tuple[str, ...] = ()


class RuleEntry(_Model):
    id: str
    requirement: str
    text: str
    effect: str

    @property
    def enforced_by(self) -> tuple[str, ...]:
        """A sharing rule is enforced by itself: the policy rule with its id."""
        return (f"policy:{self.id}",)


class RuleGroup(_Model):
    """The policy rules that decide shares of exactly these tiers of the collection's data."""

    tiers: tuple[str, ...]
    label: str
    rules: tuple[RuleEntry, ...]


class RecipientEntry(_Model):
    code: str
    name: str
    kind: str
    tier: str
    datasets: tuple[str, ...]
    purposes: tuple[str, ...]
    #: The policy's permits that allow the shares listed (``policy:<id>``).
    enforced_by: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.tier)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind}, {self.tier})"


class RetentionEntry(_Model):
    id: str
    requirement: str
    record_type: str
    period_years: int | None
    from_event: str
    text: str
    #: ``retention:<id>``: only a rule that is acted on is stated (see ``notice.sections``).
    enforced_by: tuple[str, ...] = ()


class Statement(_Model):
    requirement: str
    text: str
    kind: Literal["information", "promise"] = PROMISE
    enforced_by: tuple[str, ...] = ()


class ContactEntry(_Model):
    role: str
    name: str
    for_: str = PydField(alias="for")
    email: str | None = None
    web: str | None = None
    address: tuple[str, ...] = ()


class Sections(_Model):
    """What a notice says. Two versions' sections are compared to write the change note."""

    who_we_are: WhoWeAre
    data_subjects: tuple[str, ...]
    sources: tuple[str, ...]
    datasets: tuple[DatasetEntry, ...]
    purposes: tuple[Purpose, ...]
    lawful_bases: tuple[Basis, ...]
    tiers: tuple[TierDefinition, ...]
    sharing: tuple[RuleGroup, ...]
    recipients: tuple[RecipientEntry, ...]
    retention: tuple[RetentionEntry, ...]
    consent: tuple[Statement, ...]
    rights: tuple[Statement, ...]
    contacts: tuple[ContactEntry, ...]

    def rule_texts(self) -> list[str]:
        return [r.text for g in self.sharing for r in g.rules]


class VersionNote(_Model):
    version: str
    published_on: date
    change_note: tuple[str, ...]
    rendered: bool  # False: written by hand before carehaven rendered notices


class NoticeContent(_Model):
    collection: str
    title: str
    #: The day the content describes: agreements in force, versions published by then.
    on: date
    #: The published version these sections are, or None for a draft that no version matches.
    version: str | None
    published_on: date | None
    sections: Sections
    #: Versions published on or before ``on`` (or up to ``version``), newest first.
    history: tuple[VersionNote, ...] = ()
    #: For the data team, never rendered: agreements in force that the policy would refuse.
    warnings: tuple[str, ...] = ()

    @property
    def draft(self) -> bool:
        return self.version is None


@dataclass(frozen=True)
class PublishedVersion:
    collection: str
    version: str
    published_on: date
    change_note: tuple[str, ...]
    rendered: bool
    sha256: str | None
    created_by: str | None
    created_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "collection": self.collection,
            "version": self.version,
            "published_on": self.published_on.isoformat(),
            "change_note": list(self.change_note),
            "rendered": self.rendered,
            "sha256": self.sha256,
            "created_by": self.created_by,
        }
