"""Retention: the schedule of how long each kind of record is kept (RET-1 to RET-5).

Disposal runs, legal holds and certificates build on ``schedule``. Until a command acts on a
rule (its ``kind`` is ``pending``), notices do not state it.
"""

from carehaven.retention.schedule import (
    Event,
    FieldTest,
    RetentionRule,
    Schedule,
    rules,
    rules_for,
    schedule,
)

__all__ = ["Event", "FieldTest", "RetentionRule", "Schedule", "rules", "rules_for", "schedule"]
