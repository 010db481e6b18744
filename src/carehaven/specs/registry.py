"""Finds and loads the dataset descriptors shipped with carehaven."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from carehaven.errors import CarehavenError, ExitCode
from carehaven.specs.model import Spec


class UnknownDatasetError(CarehavenError):
    exit_code = ExitCode.UNKNOWN_DATASET


def available() -> list[str]:
    """Names of every dataset this version of carehaven knows, sorted."""
    folder = resources.files("carehaven.specs") / "descriptors"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


@cache
def load_spec(name: str) -> Spec:
    """The descriptor for dataset ``name``; a clear error names the datasets that exist."""
    if name not in available():
        raise UnknownDatasetError(
            f"There is no dataset called {name!r}. Known datasets: {', '.join(available())}."
        )
    text = (resources.files("carehaven.specs") / "descriptors" / f"{name}.json").read_text("utf-8")
    spec = Spec.from_descriptor(json.loads(text))
    for field, (dataset, key, dates) in spec.referenced().items():
        _check_reference(spec, field, dataset, key, dates)
    return spec


def _check_reference(
    spec: Spec, field: str, dataset: str, key: str, dates: tuple[str, ...]
) -> None:
    """A reference to a dataset, key or date that does not exist could never be met: a load
    error, like a test of a code the field does not have."""
    if dataset == spec.name or dataset not in available():
        raise ValueError(f"{spec.name}: {field} references {dataset}, not another dataset")
    target = load_spec(dataset)
    types = {f.name: f.type for f in target.fields}
    if key not in types or target.submitter_field is None:
        raise ValueError(
            f"{spec.name}: {field} references {dataset} by {key}, which is not a field of a "
            "dataset its submitters return"
        )
    for name in dates:
        if types.get(name) != "date":
            raise ValueError(f"{spec.name}: {field} reads {dataset}'s {name}, not a date")


def loading_order(dataset: str) -> int:
    """How many returns deep ``dataset``'s references go: 0 for one that names no other, so
    loading in this order puts every referenced return before those that name it."""
    if dataset not in available():
        return 0  # an unknown name is refused when it is submitted
    targets = {d for d, _, _ in load_spec(dataset).referenced().values()}
    return max((1 + loading_order(t) for t in targets), default=0)
