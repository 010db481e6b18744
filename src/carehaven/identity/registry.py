"""Stable person ids: the registry Splink does not have.

Each run clusters profiles afresh; this module carries person ids over from the previous run.
A cluster keeps the id that most of its profiles had. When two earlier persons land in one
cluster, the smaller is merged into the larger and points to it; when an earlier person's
profiles land in several clusters, the largest part keeps the id and the others are split off
with new ids. Every merge and split is returned with its reason, for the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def new_person_id() -> str:
    """A random surrogate: it says nothing about the person and cannot be recomputed."""
    return "PN" + secrets.token_hex(8)


@dataclass(frozen=True)
class Merge:
    person_id: str
    into: str
    reason: str


@dataclass(frozen=True)
class Split:
    person_id: str
    new_person_id: str
    reason: str


@dataclass(frozen=True)
class Assignment:
    person_of_cluster: dict[int, str]
    merges: list[Merge]
    splits: list[Split]
    retired: list[str]  # earlier persons none of whose records remain
    kept: int
    created: int


def assign(
    overlap: Sequence[tuple[int, str, int]],
    clusters: Sequence[int],
    previous_active: Sequence[str],
    *,
    merge_reason: Callable[[int, str, str], str],
    split_reason: Callable[[str, int, int], str],
    new_id: Callable[[], str] = new_person_id,
) -> Assignment:
    """Give every cluster a person id.

    ``overlap`` holds ``(cluster, earlier person_id, profiles in common)``; ``clusters`` every
    cluster of this run; ``previous_active`` the earlier persons still in force.
    ``merge_reason(cluster, merged, into)`` and ``split_reason(person, kept_cluster, new_cluster)``
    explain each change.
    """
    ranked = sorted(overlap, key=lambda o: (-o[2], o[1], o[0]))
    person_of: dict[int, str] = {}
    taken: set[str] = set()
    for c, pid, _ in ranked:
        if c not in person_of and pid not in taken:
            person_of[c] = pid
            taken.add(pid)
    kept = len(person_of)

    best_prev: dict[int, tuple[str, int]] = {}  # cluster -> earlier person it shares most with
    home: dict[str, tuple[int, int]] = {}  # earlier person -> cluster holding most of it
    for c, pid, n in ranked:
        best_prev.setdefault(c, (pid, n))
        home.setdefault(pid, (c, n))

    cluster_of = {pid: c for c, pid in person_of.items()}
    splits: list[Split] = []
    created = 0
    for c in clusters:
        if c in person_of:
            continue
        person_of[c] = new_id()
        created += 1
        if c in best_prev:
            earlier = best_prev[c][0]
            kept_cluster = cluster_of.get(earlier, -1)
            splits.append(Split(earlier, person_of[c], split_reason(earlier, kept_cluster, c)))

    merges: list[Merge] = []
    retired: list[str] = []
    for pid in previous_active:
        if pid in taken:
            continue
        if pid in home:
            c = home[pid][0]
            merges.append(Merge(pid, person_of[c], merge_reason(c, pid, person_of[c])))
        else:
            retired.append(pid)
    return Assignment(person_of, merges, splits, retired, kept, created)
