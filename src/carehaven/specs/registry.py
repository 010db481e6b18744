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
    return Spec.from_descriptor(json.loads(text))
