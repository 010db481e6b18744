"""Dataset specifications as data: Frictionless Table Schema descriptors with carehaven keys.

See docs/design/0001-dataset-specs.md for the descriptor format.
"""

from carehaven.specs.model import Condition, Field, FieldClass, ListSpec, Rule, Spec
from carehaven.specs.registry import UnknownDatasetError, available, load_spec

__all__ = [
    "Condition",
    "Field",
    "FieldClass",
    "ListSpec",
    "Rule",
    "Spec",
    "UnknownDatasetError",
    "available",
    "load_spec",
]
