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
    "required-if",
    "empty-if",
    "date-order",
    "within-period",
    "period-date",
    "submitter",
    "notice-version",
    "notice-current",
    "reference",
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
    """When a rule applies: a test of one field, or ``and``, ``or``, ``not`` of conditions.

    A field test on an empty cell is false; on a cell that is given but not valid for its field
    (not of its type, or not one of its codes) it is unknown, and so is ``not`` of it. ``and`` is
    false when any part is false, ``or`` true when any part is true (SQL's three-valued logic);
    a rule whose condition is unknown is not judged, so a bad cell gets its own finding only.

    Two tests read more than one cell: ``submitterKind`` tests the submitting organisation's
    kind (a value of the submission, like its period; unknown when it is not known), and
    ``ageAt`` with ``between`` the age in whole years from ``field`` (a date of birth) to the
    date in ``ageAt`` (false when either cell is empty, else unknown when either is invalid).
    """

    field: str | None = None
    equals: str | None = None
    in_: tuple[str, ...] | None = PydField(default=None, alias="in")
    not_empty: bool | None = PydField(default=None, alias="notEmpty")
    greater_than: float | None = PydField(default=None, alias="greaterThan")
    #: The age in whole years from ``field`` to the date field ``age_at`` is within ``between``.
    age_at: str | None = PydField(default=None, alias="ageAt")
    between: tuple[int, int] | None = None
    #: The submitting organisation is of one of these kinds (COL-9; issue 13 item 6).
    submitter_kind: tuple[OrgKind, ...] | None = PydField(default=None, alias="submitterKind")
    all_of: tuple[Condition, ...] | None = PydField(default=None, alias="and")
    any_of: tuple[Condition, ...] | None = PydField(default=None, alias="or")
    negated: Condition | None = PydField(default=None, alias="not")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [self.equals, self.in_, self.not_empty, self.greater_than, self.between]
        joins = [self.all_of, self.any_of, self.negated]
        if (self.age_at is None) != (self.between is None):
            raise ValueError("ageAt and between go together: the age at a date, within bounds")
        if self.between is not None and not 0 <= self.between[0] <= self.between[1]:
            raise ValueError("between is [low, high] in whole years, 0 <= low <= high")
        if self.submitter_kind is not None:
            kinds = self.submitter_kind
            if (self.field is not None or any(t is not None for t in tests)
                    or any(j is not None for j in joins)):
                raise ValueError("submitterKind is a test on its own, without a field")
            if not kinds or len(set(kinds)) != len(kinds):
                raise ValueError("submitterKind names each kind once, at least one")
            return self
        if self.field is not None:
            if sum(t is not None for t in tests) != 1 or any(j is not None for j in joins):
                raise ValueError(
                    "a condition on a field needs exactly one of equals, in, notEmpty, "
                    "greaterThan, ageAt with between"
                )
            return self
        if any(t is not None for t in tests) or sum(j is not None for j in joins) != 1:
            raise ValueError(
                "a condition needs a field and one test, submitterKind, or exactly one of "
                "and, or, not"
            )
        for parts in (self.all_of, self.any_of):
            if parts is not None and len(parts) < 2:
                raise ValueError("and / or join at least two conditions")
        return self

    @property
    def is_leaf(self) -> bool:
        """A test (of a field, or of the submitter's kind), not a join of conditions."""
        return self.field is not None or self.submitter_kind is not None

    @property
    def parts(self) -> tuple[Condition, ...]:
        if self.all_of is not None:
            return self.all_of
        if self.any_of is not None:
            return self.any_of
        return (self.negated,) if self.negated is not None else ()

    def fields(self) -> tuple[str, ...]:
        """Every field the condition tests, in order, once each."""
        if self.is_leaf:
            return tuple(n for n in (self.field, self.age_at) if n is not None)
        return tuple(dict.fromkeys(n for p in self.parts for n in p.fields()))

    def leaves(self) -> tuple[Condition, ...]:
        """The tests the condition is made of."""
        if self.is_leaf:
            return (self,)
        return tuple(leaf for p in self.parts for leaf in p.leaves())

    def describe(self, negate: bool = False) -> str:
        """The condition in words (``not`` pushed down to the field tests, De Morgan)."""
        if self.negated is not None:
            return self.negated.describe(not negate)
        if not self.is_leaf:
            parts = self.all_of if self.all_of is not None else self.any_of
            assert parts is not None
            conjunction = (self.all_of is not None) != negate  # not(a and b) = not a or not b
            joined = [_clause(p, negate, conjunction) for p in parts]
            word = " and " if conjunction else " or "
            return ", ".join(joined[:-1]) + word + joined[-1]
        if self.submitter_kind is not None:
            kinds = [k.value for k in self.submitter_kind]
            if len(kinds) == 1:
                said = f"{'not ' if negate else ''}of kind {kinds[0]}"
            elif len(kinds) == 2:
                said = (f"of neither kind {kinds[0]} nor {kinds[1]}" if negate
                        else f"of kind {kinds[0]} or {kinds[1]}")
            else:
                said = f"of {'none' if negate else 'one'} of the kinds {', '.join(kinds)}"
            return f"the submitting organisation is {said}"
        f = self.field
        if self.between is not None:
            low, high = self.between
            return (f"the age at {self.age_at} (from {f}) is {'not ' if negate else ''}"
                    f"{low} to {high}")
        if self.equals is not None:
            return f"{f} is {'not ' if negate else ''}{self.equals}"
        if self.in_ is not None:
            return f"{f} is {'none' if negate else 'one'} of {', '.join(self.in_)}"
        if self.not_empty is not None:
            return f"{f} is {'given' if self.not_empty != negate else 'empty'}"
        return f"{f} is {'not ' if negate else ''}more than {self.greater_than:g}"


def _clause(part: Condition, negate: bool, conjunction: bool) -> str:
    """One part of an and / or in words; a part that joins differently says so first."""
    text = part.describe(negate)
    inner = part
    flip = negate
    while inner.negated is not None:
        inner, flip = inner.negated, not flip
    if inner.is_leaf:
        return text
    inner_conjunction = (inner.all_of is not None) != flip
    if inner_conjunction == conjunction:
        return text
    return f"{'both' if inner_conjunction else 'either'} {text}"


class Within(_Strict):
    """A ``reference`` rule's date test: this row's date ``field`` lies from the referenced
    row's date ``from`` to its date ``to`` (inclusive; an empty ``to`` there: no end yet)."""

    field: str
    from_: str = PydField(alias="from")
    to: str | None = None


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
    #: period-date, bound start: the file covers this many months ending on the period's end.
    months: int | None = PydField(default=None, ge=1, le=120)
    date_field: str | None = PydField(default=None, alias="dateField")
    notice: str | None = None
    #: reference: the dataset whose rows, in force, of the same submitter ``field`` names by
    #: their ``key``; ``within`` a date test against the row it names.
    dataset: str | None = None
    key: str | None = None
    within: Within | None = None

    @model_validator(mode="after")
    def _keys_for_kind(self) -> Rule:
        need: dict[str, tuple[str, ...]] = {
            "required-if": ("fields", "when"),
            "empty-if": ("fields", "when"),
            "date-order": ("field", "not_before"),
            "within-period": ("field", "bound"),
            "period-date": ("field", "bound"),
            "submitter": ("field",),
            "notice-version": ("field", "date_field", "notice"),
            "notice-current": ("field", "date_field", "notice"),
            "reference": ("field", "dataset", "key"),
        }
        missing = [k for k in need[self.kind] if not getattr(self, k)]
        if missing:
            raise ValueError(f"rule {self.id} ({self.kind}) needs {', '.join(missing)}")
        if self.kind != "reference" and (self.dataset or self.key or self.within):
            raise ValueError(f"rule {self.id}: dataset, key and within are for a reference")
        if self.months is not None and (self.kind, self.bound) != ("period-date", "start"):
            raise ValueError(f"rule {self.id}: months is for a period-date rule on the start")
        return self

    def applies(self) -> str:
        """When the rule is judged, in words: its condition, or what a reference names."""
        if self.when is not None:
            return self.when.describe()
        if self.kind == "reference":
            names = f"{self.field} names a row of the submitter's {self.dataset} returns in force"
            return names if self.within is not None else f"{self.field} is given"
        return ""

    @property
    def targets(self) -> tuple[str, ...]:
        """The fields a finding of this rule is reported against."""
        if self.within is not None:
            return (self.within.field,)
        return self.fields if self.fields else (self.field,) if self.field else ()

    def sentence(self, target: str | None = None) -> str:
        """What the rule asks of a row, in words, derived from its structure (not its message);
        about ``target`` when given, else about all its fields."""
        names = (target,) if target else self.targets
        subject = _listed(names)
        many = len(names) > 1
        when = self.when.describe() if self.when is not None else ""
        if self.kind == "required-if":
            return f"{subject} {'are' if many else 'is'} required when {when}."
        if self.kind == "empty-if":
            return f"{subject} must be empty when {when}."
        if self.kind == "date-order":
            return f"{subject} must not be before {self.not_before}."
        if self.kind == "within-period":
            side = "after the end" if self.bound == "end" else "before the start"
            return f"{subject} must not be {side} of the return period."
        if self.kind == "period-date":
            if self.bound == "end":
                return f"{subject} must be the last day of the return period."
            if self.months:
                return (
                    f"{subject} must be the first day of the {self.months} months that end on "
                    "the last day of the return period."
                )
            return f"{subject} must be the first day of the return period."
        if self.kind == "submitter":
            return f"{subject} must be the submitting organisation's own code."
        if self.kind == "reference":
            if self.within is not None:
                end = f" to its {self.within.to}" if self.within.to else ""
                return (f"{subject} must lie within the {self.dataset} row {self.field} names: "
                        f"from its {self.within.from_}{end}.")
            return (f"{subject}, when given, must name by its {self.key} a row of the same "
                    f"submitter's {self.dataset} returns in force in the haven.")
        return (
            f"{subject} must be a version of the {self.notice} notice published on or before "
            f"{self.date_field}."
        )


def _listed(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
            if rule.kind in (
                "date-order", "within-period", "period-date", "notice-version", "notice-current"
            ):
                dated = [rule.not_before, rule.date_field] + (
                    [rule.field] if rule.kind not in ("notice-version", "notice-current") else []
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
        named: dict[str, tuple[str | None, str | None]] = {}
        for rule in self.rules:
            if rule.kind != "reference":
                continue
            assert rule.field is not None
            if named.setdefault(rule.field, (rule.dataset, rule.key)) != (rule.dataset, rule.key):
                raise ValueError(
                    f"{self.name}: rule {rule.id}: the references on {rule.field} name one "
                    "dataset and key"
                )
            if rule.within is not None and types.get(rule.within.field) != "date":
                raise ValueError(
                    f"{self.name}: rule {rule.id} needs {rule.within.field} to be a date"
                )
        for rule in self.rules:
            used = [*rule.targets, rule.field, rule.not_before, rule.date_field]
            if rule.when:
                used.extend(rule.when.fields())
            for name in used:
                if name is not None and name not in known:
                    raise ValueError(f"{self.name}: rule {rule.id} names unknown field {name}")
            for leaf in rule.when.leaves() if rule.when else ():
                self._check_test(rule.id, leaf)
        return self

    @property
    def references(self) -> tuple[Rule, ...]:
        """The rules that name rows of another return (``reference``)."""
        return tuple(r for r in self.rules if r.kind == "reference")

    def referenced(self) -> dict[str, tuple[str, str, tuple[str, ...]]]:
        """Per referencing field: the dataset and key it names, and the dates of that row the
        rules on it read (the columns its lookup table holds, in order)."""
        out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        for r in self.references:
            assert r.field is not None and r.dataset is not None and r.key is not None
            dates = out.get(r.field, (r.dataset, r.key, ()))[2]
            if r.within is not None:
                dates = tuple(dict.fromkeys((*dates, r.within.from_, *filter(None, [r.within.to]))))
            out[r.field] = (r.dataset, r.key, dates)
        return out

    def _check_test(self, rule: str, leaf: Condition) -> None:
        """A field test that could never hold is a typo in the descriptor, refused on load."""
        if leaf.submitter_kind is not None:
            never = [k.value for k in leaf.submitter_kind if k not in self.submitter_kinds]
            if never:
                raise ValueError(
                    f"{self.name}: rule {rule} tests the submitter's kind for {never[0]!r}, "
                    "which does not submit this dataset"
                )
            return
        assert leaf.field is not None
        f = self.field(leaf.field)
        if leaf.age_at is not None and (f.type, self.field(leaf.age_at).type) != ("date", "date"):
            raise ValueError(
                f"{self.name}: rule {rule} takes an age from {f.name} at {leaf.age_at}; "
                "both must be dates"
            )
        codes = f.constraints.enum
        wanted = (leaf.equals,) if leaf.equals is not None else leaf.in_ or ()
        unknown = [v for v in wanted if codes is not None and v not in codes]
        if unknown:
            raise ValueError(
                f"{self.name}: rule {rule} tests {f.name} for {unknown[0]!r}, not one of its codes"
            )
        if leaf.greater_than is not None and f.type not in ("integer", "number"):
            raise ValueError(f"{self.name}: rule {rule} compares {f.name}, which is not a number")

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
