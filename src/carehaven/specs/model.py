"""Typed view of a dataset descriptor; the descriptor JSON itself stays the source of truth."""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator
from pydantic import Field as PydField

from carehaven.control.kinds import OrgKind

FieldType = Literal["string", "integer", "number", "date"]
RuleKind = Literal[
    "required-if", "empty-if", "date-order", "within-period", "submitter", "notice-version",
    "notice-current",
]


class FieldClass(StrEnum):
    """How a field is protected (DATASETS.md): the tier of every derived table follows from it."""

    DIRECT = "D"
    QUASI = "Q"
    SPECIAL = "S"
    OPERATIONAL = "O"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Constraints(_Strict):
    required: bool = False
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    minimum: int | float | str | None = None
    maximum: int | float | str | None = None
    max_length: int | None = PydField(default=None, alias="maxLength")


class ListSpec(_Strict):
    separator: str = ";"
    max_items: int = PydField(alias="maxItems")
    enum: tuple[str, ...]


Hierarchy = Literal["age", "postcode-district", "local-authority", "date", "category"]
Tier = Literal["de-personalised", "anonymised"]


class Derivation(_Strict):
    """A value derived from a direct identifier for the tiers below personal (PSE-2, PSE-3):
    age at an event date, year-month of birth, or the postcode's district."""

    kind: Literal["age", "year-month", "postcode-district"]
    name: str
    at: str | None = None  # the event date an age is measured at
    hierarchy: Hierarchy | None = None  # how the anonymised tier generalises it
    tiers: tuple[Tier, ...] = ("de-personalised", "anonymised")

    @model_validator(mode="after")
    def _age_needs_date(self) -> Derivation:
        if (self.kind == "age") != (self.at is not None):
            raise ValueError(f"derivation {self.name}: 'at' is required for an age, only then")
        return self


class Field(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str
    type: FieldType = "string"
    description: str = ""
    constraints: Constraints = Constraints()
    field_class: FieldClass = PydField(alias="carehaven:class")
    codes: dict[str, str] | None = PydField(default=None, alias="carehaven:codes")
    list: ListSpec | None = PydField(default=None, alias="carehaven:list")
    check: Literal["nhs-number", "nino"] | None = PydField(default=None, alias="carehaven:check")
    derive: tuple[Derivation, ...] = PydField(default=(), alias="carehaven:derive")
    hierarchy: Hierarchy | None = PydField(default=None, alias="carehaven:hierarchy")

    @property
    def required(self) -> bool:
        return self.constraints.required

    @property
    def enum(self) -> tuple[str, ...] | None:
        return self.constraints.enum

    @property
    def is_identifier(self) -> bool:
        """Direct and quasi-identifiers: values never shown in reports or logs."""
        return self.field_class in (FieldClass.DIRECT, FieldClass.QUASI)


class Condition(_Strict):
    field: str
    equals: str | None = None
    in_: tuple[str, ...] | None = PydField(default=None, alias="in")
    not_empty: bool | None = PydField(default=None, alias="notEmpty")
    greater_than: float | None = PydField(default=None, alias="greaterThan")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [self.equals, self.in_, self.not_empty, self.greater_than]
        if sum(t is not None for t in tests) != 1:
            raise ValueError("a condition needs exactly one of equals, in, notEmpty, greaterThan")
        return self

    def describe(self) -> str:
        if self.equals is not None:
            return f"{self.field} is {self.equals}"
        if self.in_ is not None:
            return f"{self.field} is one of {', '.join(self.in_)}"
        if self.not_empty:
            return f"{self.field} is given"
        return f"{self.field} is more than {self.greater_than:g}"


class Rule(_Strict):
    id: str
    kind: RuleKind
    message: str | None = None
    description: str | None = None
    fields: tuple[str, ...] = ()
    field: str | None = None
    when: Condition | None = None
    not_before: str | None = PydField(default=None, alias="notBefore")
    bound: Literal["start", "end"] | None = None
    date_field: str | None = PydField(default=None, alias="dateField")
    notice: str | None = None

    @model_validator(mode="after")
    def _keys_for_kind(self) -> Rule:
        need: dict[str, tuple[str, ...]] = {
            "required-if": ("fields", "when"),
            "empty-if": ("fields", "when"),
            "date-order": ("field", "not_before"),
            "within-period": ("field", "bound"),
            "submitter": ("field",),
            "notice-version": ("field", "date_field", "notice"),
            "notice-current": ("field", "date_field", "notice"),
        }
        missing = [k for k in need[self.kind] if not getattr(self, k)]
        if missing:
            raise ValueError(f"rule {self.id} ({self.kind}) needs {', '.join(missing)}")
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        """The fields a finding of this rule is reported against."""
        return self.fields if self.fields else (self.field,) if self.field else ()


class Schema(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = PydField(default=(), alias="primaryKey")
    missing_values: tuple[str, ...] = PydField(default=("",), alias="missingValues")


class Spec(BaseModel):
    """One version of one dataset's return format."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str
    version: str
    title: str
    description: str = ""
    periods: tuple[Literal["quarter", "month"], ...] = PydField(
        default=("quarter",), alias="carehaven:periods"
    )
    submitter_field: str | None = PydField(default=None, alias="carehaven:submitterField")
    #: The organisation kinds that return this dataset (COL-9); no default, so every descriptor
    #: decides, and a kind that is not an ``OrgKind`` fails the load.
    submitter_kinds: tuple[OrgKind, ...] = PydField(alias="carehaven:submitterKinds")
    table_schema: Schema = PydField(alias="schema")
    rules: tuple[Rule, ...] = PydField(default=(), alias="carehaven:rules")
    #: The field whose values each anonymised class must hold l distinct values of (PSE-4).
    sensitive: str | None = PydField(default=None, alias="carehaven:sensitive")
    _source: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        names = [f.name for f in self.table_schema.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a field name is repeated")
        kinds = self.submitter_kinds
        if not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"{self.name}: submitterKinds names each kind once, at least one")
        known = set(names)
        if self.submitter_field is not None and self.submitter_field not in known:
            raise ValueError(f"{self.name}: submitterField {self.submitter_field} is not a field")
        types = {f.name: f.type for f in self.table_schema.fields}
        for f in self.table_schema.fields:
            if f.list is not None and f.constraints.enum is not None:
                raise ValueError(f"{self.name}: {f.name} has both a list and an enum")
        for rule in self.rules:
            if rule.kind in ("date-order", "within-period", "notice-version", "notice-current"):
                dated = [rule.not_before, rule.date_field] + (
                    [rule.field] if rule.kind in ("date-order", "within-period") else []
                )
                for name in dated:
                    if name is not None and types.get(name) != "date":
                        raise ValueError(f"{self.name}: rule {rule.id} needs {name} to be a date")
        if self.sensitive is not None and self.sensitive not in known:
            raise ValueError(f"{self.name}: sensitive field {self.sensitive} is not a field")
        for f in self.table_schema.fields:
            for d in f.derive:
                if f.field_class != FieldClass.DIRECT:
                    raise ValueError(f"{self.name}: only a D field is derived from ({f.name})")
                if d.at is not None and types.get(d.at) != "date":
                    raise ValueError(f"{self.name}: {d.name} is an age at {d.at}, not a date")
                if d.name in known:
                    raise ValueError(f"{self.name}: derived {d.name} repeats a field name")
            if f.hierarchy is not None and f.field_class == FieldClass.DIRECT:
                raise ValueError(f"{self.name}: {f.name} is D; derive from it instead")
        for key in self.table_schema.primary_key:
            if key not in known:
                raise ValueError(f"{self.name}: primary key field {key} is not a field")
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: a rule id is repeated")
        for rule in self.rules:
            used = [*rule.targets, rule.not_before, rule.date_field]
            if rule.when:
                used.append(rule.when.field)
            for name in used:
                if name is not None and name not in known:
                    raise ValueError(f"{self.name}: rule {rule.id} names unknown field {name}")
        return self

    @property
    def fields(self) -> tuple[Field, ...]:
        return self.table_schema.fields

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.table_schema.fields)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return self.table_schema.primary_key

    def field(self, name: str) -> Field:
        for f in self.table_schema.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def refusal(self, org: str, kind: str) -> str | None:
        """Why organisation ``org`` of ``kind`` may not submit this dataset, or None (COL-9)."""
        if kind in self.submitter_kinds:
            return None
        allowed = [k.value for k in self.submitter_kinds]
        kinds = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        return (
            f"Organisation {org}, of kind {kind}, may not submit {self.name}: only organisations "
            f"of kind {kinds} return it (COL-9). Nothing was landed."
        )

    @property
    def table_name(self) -> str:
        """The data-plane table holding accepted rows of this dataset."""
        return self.name.replace("-", "_")

    def descriptor(self) -> dict[str, Any]:
        """The descriptor exactly as published (the JSON file), including carehaven keys."""
        if self._source is not None:
            return copy.deepcopy(self._source)
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_descriptor(cls, data: dict[str, Any]) -> Spec:
        spec = cls.model_validate(data)
        spec._source = copy.deepcopy(data)
        return spec
