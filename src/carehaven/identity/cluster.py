"""Clusters: connected components over accepted matches, grown carefully.

Strong keys and a person's "same" decisions join profiles outright. Model matches are then
added best first, and each is refused when it would put into one person two different valid
NHS numbers, two different NI numbers, two of one provider's own client references, a pair a
person decided were different, or more local references than one person plausibly has. That
guard is what stops a chain of individually likely matches from joining many distinct people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: A person with more local references than this is far likelier to be a chain of errors.
MAX_REFS_PER_PERSON = 20


@dataclass
class _Facts:
    """What a component holds that another may contradict."""

    nhs: set[str] = field(default_factory=set)
    nino: set[str] = field(default_factory=set)
    refs: dict[str, set[str]] = field(default_factory=dict)  # source|org -> local refs
    cannot: set[int] = field(default_factory=set)  # profiles decided to be someone else

    def merge(self, other: _Facts) -> None:
        self.nhs |= other.nhs
        self.nino |= other.nino
        for k, v in other.refs.items():
            self.refs.setdefault(k, set()).update(v)
        self.cannot |= other.cannot

    def ref_count(self) -> int:
        return sum(len(v) for v in self.refs.values())


@dataclass(frozen=True)
class Clusters:
    labels: npt.NDArray[np.int64]  # final component of each profile
    joined: npt.NDArray[np.int64]  # component after strong keys and "same" decisions only
    merged_by_rule: int
    merged_by_model: int
    merged_by_decision: int
    refused: dict[str, int]  # reason -> model matches refused


def _conflict(a: _Facts, b: _Facts) -> str | None:
    if a.nhs and b.nhs and not (a.nhs & b.nhs):
        return "different NHS numbers"
    if a.nino and b.nino and not (a.nino & b.nino):
        return "different NI numbers"
    for k, refs in a.refs.items():
        other = b.refs.get(k)
        if other and not (refs & other):
            return "two client references of one organisation"
    if a.ref_count() + b.ref_count() > MAX_REFS_PER_PERSON:
        return "too many local references for one person"
    return None


def cluster(
    n: int,
    *,
    strong: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    same: Sequence[tuple[int, int]],
    different: Sequence[tuple[int, int]],
    model: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    nhs: Sequence[str | None],
    nino: Sequence[str | None],
    client: Sequence[str],
    ref: Sequence[str],
) -> Clusters:
    """Components of ``n`` profiles. ``model`` edges must be sorted best first.

    ``client[i]`` is ``source|org`` of profile i and ``ref[i]`` its local reference; profiles that
    may not be linked are never given model or decision edges by the caller.
    """
    left = np.concatenate([strong[0], np.array([a for a, _ in same], dtype=np.int64)])
    right = np.concatenate([strong[1], np.array([b for _, b in same], dtype=np.int64)])
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    comp = comp.astype(np.int64)
    base_components = int(comp.max()) + 1 if n else 0
    strong_only = connected_components(
        coo_matrix((np.ones(len(strong[0]), np.int8), strong), shape=(n, n)), directed=False
    )[0]
    merged_by_rule = n - strong_only
    merged_by_decision = strong_only - base_components

    # Union-find over components; facts are built only for components a model edge touches.
    parent = np.arange(base_components, dtype=np.int64)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    touched = set(comp[model[0]].tolist()) | set(comp[model[1]].tolist())
    for a, b in different:
        touched.add(int(comp[a]))
        touched.add(int(comp[b]))
    facts: dict[int, _Facts] = {c: _Facts() for c in touched}
    if touched:
        members = np.flatnonzero(np.isin(comp, np.fromiter(touched, dtype=np.int64)))
        for i in members.tolist():
            f = facts[int(comp[i])]
            if nhs[i]:
                f.nhs.add(nhs[i])  # type: ignore[arg-type]
            if nino[i]:
                f.nino.add(nino[i])  # type: ignore[arg-type]
            f.refs.setdefault(client[i], set()).add(ref[i])
    for a, b in different:
        facts[int(comp[a])].cannot.add(b)
        facts[int(comp[b])].cannot.add(a)

    refused: dict[str, int] = {}
    merged_by_model = 0
    for a, b in zip(model[0].tolist(), model[1].tolist(), strict=True):
        ra, rb = find(int(comp[a])), find(int(comp[b]))
        if ra == rb:
            continue
        fa, fb = facts[ra], facts[rb]
        reason = _conflict(fa, fb)
        if reason is None and (
            any(find(int(comp[p])) == rb for p in fa.cannot)
            or any(find(int(comp[p])) == ra for p in fb.cannot)
        ):
            reason = "decided by a person to be different"
        if reason is not None:
            refused[reason] = refused.get(reason, 0) + 1
            continue
        if fa.ref_count() < fb.ref_count():
            ra, rb, fa, fb = rb, ra, fb, fa
        parent[rb] = ra
        fa.merge(fb)
        del facts[rb]
        merged_by_model += 1

    roots = np.array([find(c) for c in range(base_components)], dtype=np.int64)
    labels = roots[comp]
    return Clusters(labels, comp, merged_by_rule, merged_by_model, merged_by_decision, refused)
