"""One return file being built: its rows and, for the truth, the person behind each row."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from carehaven.specs import Condition, Field, Spec
from carehaven.synth.codebook import SynthSpecError
from carehaven.synth.periods import Period
from carehaven.synth.rowcheck import condition_value


@dataclass
class Table:
    dataset: str
    org: str
    period: Period
    header: tuple[str, ...]
    rows: list[list[str]] = field(default_factory=list)
    people: list[str] = field(default_factory=list)  # truth id per row
    events: list[str] = field(default_factory=list)  # true event id per row ("" if none)

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.org}_{self.period.label}.csv"

    def add(self, row: list[str], person: str, event: str = "") -> None:
        self.rows.append(row)
        self.people.append(person)
        self.events.append(event)


def bounded(f: Field, value: int) -> int:
    """``value`` kept inside the field's minimum and maximum."""
    lo, hi = f.constraints.minimum, f.constraints.maximum
    if isinstance(lo, int | float) and value < lo:
        value = int(lo)
    if isinstance(hi, int | float) and value > hi:
        value = int(hi)
    return value


def generic_value(spec: Spec, f: Field, rng: random.Random) -> str:
    """A valid value for a field the generator does not know (a descriptor added it)."""
    if not f.required and rng.random() < 0.7:
        return ""
    if f.enum:
        return f.enum[rng.randrange(len(f.enum))]
    if f.list:
        return f.list.enum[rng.randrange(len(f.list.enum))]
    if f.type in ("integer", "number") and f.constraints.pattern is None:
        lo = f.constraints.minimum if isinstance(f.constraints.minimum, int | float) else 0
        hi = f.constraints.maximum if isinstance(f.constraints.maximum, int | float) else lo + 10
        return str(rng.randint(int(lo), int(hi)))
    if not f.required:
        return ""
    raise SynthSpecError(
        f"{spec.name}: the generator does not know how to fill the required field {f.name}."
    )


@dataclass(frozen=True)
class BlankRule:
    """An ``empty-if`` rule by column index: when the condition holds, the targets are emptied."""

    spec: Spec
    when: Condition
    index: dict[str, int]
    targets: tuple[int, ...]

    def holds(self, row: list[str]) -> bool:
        return condition_value(self.spec, self.when, row, self.index) is True

    def apply(self, row: list[str]) -> None:
        if self.holds(row):
            for t in self.targets:
                row[t] = ""


def blank_rules(spec: Spec) -> tuple[BlankRule, ...]:
    """The descriptor's ``empty-if`` rules, ready to apply to rows."""
    index = {name: i for i, name in enumerate(spec.field_names)}
    return tuple(
        BlankRule(spec, rule.when, index, tuple(index[f] for f in rule.fields))
        for rule in spec.rules
        if rule.kind == "empty-if" and rule.when is not None
    )
