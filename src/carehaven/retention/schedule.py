"""The retention schedule (RET-1 to RET-5) as data: schedule.json and its typed loader.

Each rule names the records it covers (datasets, and field tests where a dataset's rows differ,
such as CLD mental health records), how long they are kept (``period_years``, or ``None`` where
the notices give a condition rather than a period) and from which event. Disposal reads this;
privacy notices and the register of processing quote each rule's ``text``, but only once the rule
is acted on: ``kind`` is ``promise`` when the commands in ``enforced_by`` dispose of records by
it, ``pending`` while they do not exist yet (docs/design/0008, "Promises").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from carehaven.specs import FieldClass, load_spec
from carehaven.specs.registry import available

#: What starts the clock: the day the haven received a submission, the case's closure, the
#: person's death, the end of the data's use, the expiry of the agreement it was shared under,
#: or the end of the purposes (with the period the law requires, whichever is longer).
Event = Literal["receipt", "case-closure", "death", "use", "agreement-expiry", "purpose-end"]
EVENT_FIELD_NEEDED: frozenset[str] = frozenset({"case-closure", "death"})
#: A rule is acted on by commands (``command:retention run``); governance checks they exist.
_COMMAND = re.compile(r"^command:[a-z-]+( [a-z-]+)*$")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldTest(_Data):
    """A record's field equals a code, or is given (``given: true``) or empty (``false``)."""

    field: str
    equals: str | None = None
    given: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> FieldTest:
        if (self.equals is None) == (self.given is None):
            raise ValueError(f"a test of {self.field} needs exactly one of equals, given")
        return self

    def describe(self) -> str:
        if self.equals is not None:
            return f"{self.field} is {self.equals}"
        return f"{self.field} is {'given' if self.given else 'empty'}"


class RetentionRule(_Data):
    id: str
    requirement: str
    record_type: str
    datasets: tuple[str, ...]
    when: tuple[FieldTest, ...] = ()
    period_years: int | None
    from_event: Event
    #: The dataset field holding the date the clock starts from (case closure, death).
    from_field: str | None = None
    #: The period may be extended after an appraisal (RET-5).
    extendable: bool = False
    text: str
    #: ``promise``: the commands in ``enforced_by`` dispose of records by this rule; ``pending``:
    #: they are the commands it waits for, and no notice states it yet.
    kind: Literal["promise", "pending"]
    enforced_by: tuple[str, ...]
    source: str

    @model_validator(mode="after")
    def _consistent(self) -> RetentionRule:
        if not re.fullmatch(r"RET-\d+", self.requirement):
            raise ValueError(f"{self.id}: {self.requirement!r} is not a RET requirement")
        if self.period_years is not None:
            if self.period_years < 0:
                raise ValueError(f"{self.id}: a period is not negative")
            if self.period_years > 0 and f"{self.period_years} years" not in self.text:
                raise ValueError(f"{self.id}: the text must state the period it keeps")
        if not self.enforced_by or not all(_COMMAND.match(m) for m in self.enforced_by):
            raise ValueError(f"{self.id}: enforced_by names the commands that act on it")
        if (self.from_event in EVENT_FIELD_NEEDED) != (self.from_field is not None):
            raise ValueError(f"{self.id}: from_field names the date of a {self.from_event}")
        unknown = [d for d in self.datasets if d not in available()]
        if not self.datasets or unknown:
            raise ValueError(f"{self.id}: unknown dataset {unknown[0] if unknown else '(none)'}")
        for name in self.datasets:
            fields = {f.name: f for f in load_spec(name).fields}
            for test in self.when:
                if test.field not in fields:
                    raise ValueError(f"{self.id}: {name} has no field {test.field}")
            if self.from_field is not None:
                f = fields.get(self.from_field)
                if f is None or f.type != "date":
                    raise ValueError(f"{self.id}: {name}.{self.from_field} is not a date field")
                if f.field_class == FieldClass.DIRECT:
                    raise ValueError(f"{self.id}: the clock does not start from an identifier")
        return self

    @property
    def condition(self) -> str | None:
        """The record tests in words, or None when the rule covers every record."""
        return " and ".join(t.describe() for t in self.when) or None


class Schedule(_Data):
    note: str
    rules: tuple[RetentionRule, ...]

    @model_validator(mode="after")
    def _unique(self) -> Schedule:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("a retention rule id is repeated")
        return self


@cache
def schedule() -> Schedule:
    """The schedule shipped with carehaven."""
    text = (resources.files("carehaven.retention") / "schedule.json").read_text("utf-8")
    return Schedule.model_validate(json.loads(text))


def rules() -> tuple[RetentionRule, ...]:
    return schedule().rules


def rules_for(datasets: Iterable[str]) -> tuple[RetentionRule, ...]:
    """The rules that cover any of ``datasets``, in schedule order."""
    wanted = set(datasets)
    return tuple(r for r in rules() if wanted.intersection(r.datasets))
