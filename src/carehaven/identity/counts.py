"""Unique people (IDN-1): by dataset, and by period, provider or authority."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir

from carehaven.data import connect, in_force_rows
from carehaven.errors import UsageError
from carehaven.haven import Haven
from carehaven.identity.link import in_force
from carehaven.identity.registry_tables import registry, submissions_table
from carehaven.specs import load_spec

GROUPINGS = ("period", "provider", "authority")
#: The column that names an authority, per dataset (the authority of residence for NDTMS, the
#: responsible authority for social care). Reviews take theirs from the episode.
AUTHORITY = {"ndtms-episode": "la_of_residence", "cld-event": "LA_Code"}
COUNTABLE = ("ndtms-episode", "ndtms-review", "ips-episode", "cld-event")


@dataclass(frozen=True)
class PersonCounts:
    dataset: str
    by: tuple[str, ...]
    rows: list[dict[str, Any]]
    unlinked_rows: int  # in-force rows accepted since the last link run



def parse_by(value: str | None) -> tuple[str, ...]:
    """The groupings of ``--by``, in the order given; a repeated one counts once."""
    if not value:
        return ()
    parts = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    unknown = [p for p in parts if p not in GROUPINGS]
    if unknown:
        raise UsageError(
            f"Cannot count by {', '.join(unknown)}; choose from {', '.join(GROUPINGS)}."
        )
    return parts


def count_people(haven: Haven, dataset: str, by: Sequence[str] = ()) -> PersonCounts:
    if dataset not in COUNTABLE:
        raise UsageError(
            f"{dataset} does not identify people; count one of {', '.join(COUNTABLE)}."
        )
    if "authority" in by and dataset not in (*AUTHORITY, "ndtms-review"):
        raise UsageError(f"{dataset} does not record a local authority to count by.")
    con = connect(haven.paths.data_db)
    try:
        with haven.sessions() as session:
            reg = registry(session, con)
            subs = in_force(session, dataset)
            episodes = in_force(session, "ndtms-episode") if dataset == "ndtms-review" else []
        meta = submissions_table([(s.id, s.org_code, s.period) for s in subs])
        rows = in_force_rows(con, load_spec(dataset), [s.id for s in subs])
        total = int(rows.count().execute())
        if dataset == "ndtms-review":
            people = reviews_with_person(con, reg, rows, [e.id for e in episodes])
        else:
            people = reg.rows_with_person(rows, dataset)
            if "authority" in by:
                people = people.mutate(_authority=people[AUTHORITY[dataset]])
        linked = int(people.count().execute())
        people = people.join(meta, "_submission_id")
        keys = {"period": "_period", "provider": "_org", "authority": "_authority"}
        group = [keys[b] for b in by]
        if group:
            out = people.group_by(group).aggregate(people=people.person_id.nunique())
            out = out.order_by(group)
            rows_out = [
                {"dataset": dataset}
                | {b: r[keys[b]] for b in by}
                | {"people": int(r["people"])}
                for r in out.to_pyarrow().to_pylist()
            ]
        else:
            n = int(people.person_id.nunique().execute())
            rows_out = [{"dataset": dataset, "people": n}]
    finally:
        con.disconnect()
    return PersonCounts(dataset, tuple(by), rows_out, unlinked_rows=total - linked)


def reviews_with_person(
    con: Any, reg: Any, reviews: ir.Table, episode_subs: list[str]
) -> ir.Table:
    """Reviews take their person from the episode they belong to (same provider, episode_id);
    reviews of an episode not yet linked drop out."""
    eps = reg.rows_with_person(
        in_force_rows(con, load_spec("ndtms-episode"), episode_subs), "ndtms-episode"
    )
    eps = eps.select(
        provider_code=eps.provider_code,
        episode_id=eps.episode_id,
        person_id=eps.person_id,
        linkable=eps.linkable,
        _authority=eps.la_of_residence,
    ).distinct(on=["provider_code", "episode_id"], keep="first")
    return reviews.join(eps, ["provider_code", "episode_id"])
