"""Codes taken from the dataset descriptors, never written into the generator.

The generator asks for a code by what it means ("the discharge reason whose label says died")
and the descriptor answers; a descriptor that drops a meaning the generator needs is a clear
error rather than a silently invalid file.
"""

from __future__ import annotations

import random
from functools import cache

from carehaven.errors import CarehavenError
from carehaven.specs import Spec, load_spec


class SynthSpecError(CarehavenError):
    """The descriptor no longer has something the synthetic generator relies on."""


class Codebook:
    """The code lists of one dataset's descriptor, looked up by meaning."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._enums: dict[str, tuple[str, ...]] = {}
        self._labelled: dict[tuple[str, str], str] = {}
        self._text: dict[str, tuple[tuple[str, str], ...]] = {}
        for f in spec.fields:
            values = f.enum if f.enum is not None else (f.list.enum if f.list else None)
            if values is None:
                continue
            self._enums[f.name] = values
            labels = f.codes or {}
            self._text[f.name] = tuple(
                (code, f"{code} {labels.get(code, '')}".lower()) for code in values
            )

    def enum(self, field: str) -> tuple[str, ...]:
        try:
            return self._enums[field]
        except KeyError:
            raise SynthSpecError(
                f"{self.spec.name}: field {field} has no code list in the descriptor."
            ) from None

    def has(self, field: str) -> bool:
        return field in self._enums

    def find(self, field: str, *words: str, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The codes of ``field`` whose code or label holds all ``words``, none of ``exclude``."""
        wanted = [w.lower() for w in words]
        unwanted = [w.lower() for w in exclude]
        return tuple(
            code
            for code, text in self._text.get(field, ())
            if all(w in text for w in wanted) and not any(w in text for w in unwanted)
        )

    def code(self, field: str, *words: str, exclude: tuple[str, ...] = ()) -> str:
        """The one code of ``field`` meaning ``words``; an error when there is none or several."""
        found = self.find(field, *words, exclude=exclude)
        if len(found) != 1:
            raise SynthSpecError(
                f"{self.spec.name}: {len(found)} codes of {field} mean {' '.join(words)!r}"
                f" ({', '.join(found)}); the generator needs exactly one."
            )
        return found[0]

    def label_is(self, field: str, label: str) -> str:
        """The code of ``field`` whose label is exactly ``label`` (case-insensitive)."""
        found = self._labelled.get((field, label))
        if found is not None:
            return found
        f = self.spec.field(field)
        for code in self.enum(field):
            if (f.codes or {}).get(code, code).lower() == label.lower():
                self._labelled[(field, label)] = code
                return code
        raise SynthSpecError(f"{self.spec.name}: no code of {field} is labelled {label!r}.")

    def yes(self, field: str) -> str:
        return self.label_is(field, "yes")

    def no(self, field: str) -> str:
        return self.label_is(field, "no")

    def any(self, field: str, rng: random.Random) -> str:
        """Any code of ``field``, each as likely as the others."""
        values = self._enums.get(field) or self.enum(field)
        return values[int(rng.random() * len(values))]


@cache
def codebook(dataset: str) -> Codebook:
    return Codebook(load_spec(dataset))
