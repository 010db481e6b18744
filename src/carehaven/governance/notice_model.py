"""The sections of a privacy notice as data (CON-3): what ``notice.content`` builds, what
``notice.publish`` stores and what the change notes compare."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField

from carehaven.specs import FieldClass

#: How each field class is described to the people the data is about (DATASETS.md "Class").
CLASS_LABELS: dict[str, tuple[str, str]] = {
    FieldClass.DIRECT: (
        "Direct identifiers",
        "These identify you. We keep them apart from the rest of your record and remove them "
        "from every category of data below personal data.",
    ),
    FieldClass.QUASI: (
        "Details that could identify you when combined",
        "In anonymised data these are generalised (for example, age bands instead of dates) "
        "or left out, until every combination describes several people.",
    ),
    FieldClass.SPECIAL: (
        "Special category information",
        "Health, ethnicity, religion, sexual orientation and similar information, which the "
        "law (UK GDPR Article 9) protects more strictly.",
    ),
    FieldClass.OPERATIONAL: (
        "Other information about your care",
        "Dates, codes and references about the care you receive and how it was recorded.",
    ),
}
_CLASS_ORDER = (FieldClass.DIRECT, FieldClass.QUASI, FieldClass.SPECIAL, FieldClass.OPERATIONAL)


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


class RuleEntry(_Model):
    id: str
    requirement: str
    text: str
    effect: str


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


class Statement(_Model):
    requirement: str
    text: str


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
