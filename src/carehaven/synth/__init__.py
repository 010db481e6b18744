"""Synthetic providers, people and submissions with known truth.

``synthesise`` writes return files for every dataset (valid by construction against the
descriptors, except for errors planted on purpose), a ``manifest.json`` and a ``truth/`` folder
that says which person is behind every row and which rows carry which planted error.
"""

from carehaven.synth.generate import DEFAULT_PERIODS, synthesise
from carehaven.synth.model import SynthFile, SynthOrganisation, SynthResult
from carehaven.synth.organisations import organisations

__all__ = [
    "DEFAULT_PERIODS",
    "SynthFile",
    "SynthOrganisation",
    "SynthResult",
    "organisations",
    "synthesise",
]
