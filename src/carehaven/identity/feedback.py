"""Provider feedback (IDN-2): which other providers are treating a provider's clients now.

A provider's current caseload is the open episodes (no discharge date) in its latest return in
force. For each of the provider's own open clients, the feedback names the other providers with
an open episode for the same person, and nothing else about them: not their client reference,
episode or dates. Episodes without consent (consent_ndtms = N) are never linked, so they neither
receive nor appear in feedback.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from carehaven.data import connect, in_force_rows
from carehaven.haven import Haven
from carehaven.identity.link import in_force
from carehaven.identity.registry_tables import registry
from carehaven.specs import load_spec

EPISODES = "ndtms-episode"
COLUMNS = ("client_ref", "other_provider", "other_provider_name")


@dataclass(frozen=True)
class Feedback:
    org: str
    open_clients: int
    rows: list[dict[str, str]]  # one per (client_ref, other provider)

    @property
    def clients_shared(self) -> int:
        return len({r["client_ref"] for r in self.rows})

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(self.rows)


def feedback(haven: Haven, org: str) -> Feedback:
    provider = haven.organisation(org)  # refuses an unknown code
    con = connect(haven.paths.data_db)
    try:
        with haven.sessions() as session:
            reg = registry(session, con)
            latest: dict[str, tuple[str, str]] = {}
            for s in in_force(session, EPISODES):
                if s.org_code not in latest or s.period > latest[s.org_code][0]:
                    latest[s.org_code] = (s.period, s.id)
            names = {o.code: o.name for o in haven.organisations()}
        current = [sid for _, sid in latest.values()]
        rows = reg.rows_with_person(in_force_rows(con, load_spec(EPISODES), current), EPISODES)
        open_eps = rows.filter(rows.discharge_date.isnull() & rows.linkable)
        mine = open_eps.filter(open_eps.provider_code == provider.code).select(
            "client_ref", "person_id"
        ).distinct()
        others = open_eps.filter(open_eps.provider_code != provider.code).select(
            other_provider=open_eps.provider_code, person_id=open_eps.person_id
        ).distinct()
        joined = mine.join(others, "person_id").select("client_ref", "other_provider").distinct()
        pairs = joined.order_by(["client_ref", "other_provider"]).to_pyarrow().to_pylist()
        open_clients = int(mine.count().execute())
    finally:
        con.disconnect()
    out = [
        {
            "client_ref": p["client_ref"],
            "other_provider": p["other_provider"],
            "other_provider_name": names.get(p["other_provider"], ""),
        }
        for p in pairs
    ]
    return Feedback(provider.code, open_clients, out)
