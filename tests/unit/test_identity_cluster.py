"""Guarded clustering: strong keys join, and model matches that would put contradictions into
one person are refused (issue 3, part 3)."""

from __future__ import annotations

import numpy as np

from carehaven.identity.cluster import MAX_REFS_PER_PERSON, cluster


def _edges(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([a for a, _ in pairs], np.int64), np.array([b for _, b in pairs], np.int64))


def _run(n, *, strong=(), model=(), same=(), different=(), nhs=None, nino=None, client=None,
         ref=None):  # type: ignore[no-untyped-def]
    return cluster(
        n,
        strong=_edges(list(strong)),
        same=list(same),
        different=list(different),
        model=_edges(list(model)),
        nhs=nhs or [None] * n,
        nino=nino or [None] * n,
        client=client or [f"ndtms|P{i}" for i in range(n)],
        ref=ref or [f"R{i}" for i in range(n)],
    )


def _groups(labels: np.ndarray) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, c in enumerate(labels.tolist()):
        out.setdefault(c, set()).add(i)
    return {frozenset(g) for g in out.values()}


def test_strong_and_model_edges_join() -> None:
    c = _run(4, strong=[(0, 1)], model=[(1, 2)])
    assert _groups(c.labels) == {frozenset({0, 1, 2}), frozenset({3})}
    assert (c.merged_by_rule, c.merged_by_model) == (1, 1)


def test_model_cannot_join_two_nhs_numbers_even_through_a_chain() -> None:
    nhs = ["4000000004", None, "4000000012"]
    c = _run(3, model=[(0, 1), (1, 2)], nhs=nhs)
    assert _groups(c.labels) == {frozenset({0, 1}), frozenset({2})}
    assert c.refused == {"different NHS numbers": 1}


def test_model_cannot_join_two_clients_of_one_provider() -> None:
    c = _run(2, model=[(0, 1)], client=["ndtms|P1", "ndtms|P1"], ref=["A", "B"])
    assert c.merged_by_model == 0
    assert c.refused == {"two client references of one organisation": 1}


def test_a_person_decision_beats_the_model_both_ways() -> None:
    c = _run(3, model=[(0, 1)], same=[(1, 2)], different=[(0, 2)])
    assert _groups(c.labels) == {frozenset({0}), frozenset({1, 2})}
    assert c.merged_by_decision == 1
    assert c.refused == {"decided by a person to be different": 1}


def test_chains_stop_at_the_size_guard() -> None:
    n = MAX_REFS_PER_PERSON + 5
    c = _run(n, model=[(i, i + 1) for i in range(n - 1)])
    assert max(len(g) for g in _groups(c.labels)) == MAX_REFS_PER_PERSON
    assert c.refused.get("too many local references for one person", 0) >= 1
