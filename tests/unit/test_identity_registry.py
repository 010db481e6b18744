"""Stable person ids across runs: keep, merge, split, retire (issue 3, part 3)."""

from __future__ import annotations

import itertools

from carehaven.identity.registry import assign


def _assign(overlap, clusters, active):  # type: ignore[no-untyped-def]
    ids = (f"NEW{i}" for i in itertools.count())
    return assign(overlap, clusters, active, merge_reason=lambda c, a, b: "model match",
                  split_reason=lambda p, a, b: "withdrawn", new_id=lambda: next(ids))


def test_unchanged_clusters_keep_their_ids() -> None:
    a = _assign([(0, "PA", 3), (1, "PB", 1)], [0, 1, 2], ["PA", "PB"])
    assert a.person_of_cluster == {0: "PA", 1: "PB", 2: "NEW0"}
    assert (a.merges, a.splits, a.retired, a.kept, a.created) == ([], [], [], 2, 1)


def test_a_merge_keeps_the_larger_and_points_the_smaller_to_it() -> None:
    a = _assign([(0, "PA", 3), (0, "PB", 1)], [0], ["PA", "PB"])
    assert a.person_of_cluster == {0: "PA"}
    assert [(m.person_id, m.into, m.reason) for m in a.merges] == [("PB", "PA", "model match")]


def test_a_split_keeps_the_larger_part_and_gives_the_other_a_new_id() -> None:
    a = _assign([(0, "PA", 1), (1, "PA", 4)], [0, 1], ["PA"])
    assert a.person_of_cluster == {1: "PA", 0: "NEW0"}
    assert [(s.person_id, s.new_person_id) for s in a.splits] == [("PA", "NEW0")]


def test_a_person_whose_records_are_all_withdrawn_is_retired() -> None:
    a = _assign([(0, "PA", 2)], [0], ["PA", "PGONE"])
    assert a.retired == ["PGONE"]
