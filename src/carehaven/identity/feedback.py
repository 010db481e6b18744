"""Provider feedback (IDN-2): which other providers are treating a provider's clients now.

A provider's current caseload is the open episodes (no discharge date) in its latest return in
force. For each of the provider's own clients in treatment, the feedback names the other
providers with an open episode for the same person, and nothing else about them: not their
client reference, episode or dates.

Feedback is a disclosure of personal data to a provider, so it needs a real treatment
relationship and leaves through the one artefact writer (scanned, recorded with its lineage,
audited as ``feedback.disclosed``: which provider, how many clients, never who):

- both episodes are open, consented (consent_ndtms = Y: unconsented episodes are never
  linked) and in treatment (a treatment start date on or before today);
- the provider's client has *history* there: the same client reference was already in one of
  the provider's returns for an earlier period, received before its latest one. A match about a
  client who has none (a new client, or a row the provider just invented carrying someone
  else's initials, date of birth, sex and district) is *held* for the data team, who release or
  refuse it (``feedback holds``). Holds are made by every ``link`` run as well as by
  ``feedback``, so a made-up row cannot wait for history to build up unseen, and a held match
  stays held until a person decides, whatever history it gains later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import FeedbackDisclosed, FeedbackHeld, FeedbackHoldDecided
from carehaven.control.models import Artefact, FeedbackHold, Submission
from carehaven.csvsafe import write_csv
from carehaven.data import connect, in_force_rows
from carehaven.errors import NotFoundError, UsageError
from carehaven.governance.artefact import Outgoing, Part, write
from carehaven.haven import Haven
from carehaven.identity.link import current_run, in_force
from carehaven.identity.registry_tables import registry
from carehaven.specs import load_spec

if TYPE_CHECKING:
    from carehaven.pseudonymise.scan import ScanResult

EPISODES = "ndtms-episode"
COLUMNS = ("client_ref", "other_provider", "other_provider_name")
NEW_CLIENT = "new-client"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Match:
    """One of a provider's clients open at another provider too."""

    client_ref: str
    person_id: str
    other_provider: str
    history: bool


@dataclass
class Feedback:
    org: str
    open_clients: int
    rows: list[dict[str, str]]  # one per (client_ref, other provider) disclosed
    held: int = 0  # matches withheld, waiting for (or refused by) the data team
    artefact: str | None = None
    file: Path | None = None

    @property
    def clients_shared(self) -> int:
        return len({r["client_ref"] for r in self.rows})

    def as_json(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "file": str(self.file) if self.file else None,
            "artefact": self.artefact,
            "open_clients": self.open_clients,
            "clients_with_other_providers": self.clients_shared,
            "rows": len(self.rows),
            "held_for_review": self.held,
        }


def _latest(session: Session) -> dict[str, Submission]:
    """Each provider's latest return in force."""
    latest: dict[str, Submission] = {}
    for s in in_force(session, EPISODES):
        if s.org_code not in latest or s.period > latest[s.org_code].period:
            latest[s.org_code] = s
    return latest


#: Each provider's count of open clients, and every (provider, match).
Found = tuple[dict[str, int], list[tuple[str, Match]]]


def _matches(session: Session, con: DuckDBBackend, org: str | None) -> Found:
    """Open clients per provider, and every match (provider, Match) for ``org`` or for all."""
    spec = load_spec(EPISODES)
    reg = registry(session, con)
    latest = _latest(session)
    if not latest:
        return {}, []
    rows = reg.rows_with_person(
        in_force_rows(con, spec, [s.id for s in latest.values()]), EPISODES
    )
    today = ibis.literal(clock.today())
    open_eps = rows.filter(
        rows.discharge_date.isnull()
        & rows.linkable
        & rows.treatment_start_date.notnull()
        & (rows.treatment_start_date.cast("date") <= today)
    )
    clients = open_eps.select(org=open_eps.provider_code, client_ref=open_eps.client_ref,
                              person_id=open_eps.person_id).distinct()
    if org is not None:
        clients = clients.filter(clients.org == org)
    others = open_eps.select(other_provider=open_eps.provider_code,
                             person_id=open_eps.person_id).distinct()
    joined = clients.join(others, "person_id")
    joined = joined.filter(joined.other_provider != joined.org).select(
        "org", "client_ref", "person_id", "other_provider"
    ).distinct()
    pairs = joined.order_by(["org", "client_ref", "other_provider"]).to_pyarrow().to_pylist()
    counts = clients.group_by("org").aggregate(n=clients.client_ref.nunique()).to_pyarrow()
    open_clients = {str(r["org"]): int(r["n"]) for r in counts.to_pylist()}
    known = _history(session, con, latest, {str(p["org"]) for p in pairs})
    return open_clients, [
        (
            str(p["org"]),
            Match(str(p["client_ref"]), str(p["person_id"]), str(p["other_provider"]),
                  (str(p["org"]), str(p["client_ref"])) in known),
        )
        for p in pairs
    ]


def _history(
    session: Session, con: DuckDBBackend, latest: dict[str, Submission], orgs: set[str]
) -> set[tuple[str, str]]:
    """(provider, client_ref) pairs already in one of the provider's returns for an earlier
    period, received before its latest return."""
    earlier = [
        s.id
        for s in in_force(session, EPISODES)
        if s.org_code in orgs
        and s.period < latest[s.org_code].period
        and s.received_at < latest[s.org_code].received_at
    ]
    if not earlier:
        return set()
    rows = in_force_rows(con, load_spec(EPISODES), earlier)
    seen = rows.select("provider_code", "client_ref").distinct().to_pyarrow().to_pylist()
    return {(str(r["provider_code"]), str(r["client_ref"])) for r in seen}


def _holds(session: Session, org: str | None) -> dict[tuple[str, str], FeedbackHold]:
    query = select(FeedbackHold)
    if org is not None:
        query = query.where(FeedbackHold.org_code == org)
    return {(h.org_code, h.person_id): h for h in session.scalars(query)}


def _hold_new(
    session: Session, matches: list[tuple[str, Match]], run: int, actor: str
) -> dict[tuple[str, str], FeedbackHold]:
    """Hold every match about a client without history that no person has decided yet."""
    holds = _holds(session, None)
    for org, m in matches:
        if m.history or (org, m.person_id) in holds:
            continue
        hold = FeedbackHold(
            org_code=org, person_id=m.person_id, status="waiting", reason=NEW_CLIENT,
            link_run=run, created_at=clock.now(),
        )
        session.add(hold)
        session.flush()
        holds[(org, m.person_id)] = hold
        record(session, FeedbackHeld(hold.label, org, NEW_CLIENT), actor=actor)
    return holds


def _disclosable(m: Match, hold: FeedbackHold | None) -> bool:
    """A match is told when a person released it, or when it has history and was never held."""
    if hold is not None:
        return hold.status == "released"
    return m.history


def refresh_holds(haven: Haven, con: DuckDBBackend, *, actor: str) -> int:
    """Called by ``link`` (under its writer lock): hold the new-client matches of every
    provider; returns how many holds are waiting."""
    with haven.transaction() as session:
        run = current_run(session)
        if run is None:
            return 0
        _, matches = _matches(session, con, None)
        holds = _hold_new(session, matches, run, actor)
        return sum(h.status == "waiting" for h in holds.values())


def feedback(
    haven: Haven,
    org: str,
    out: Path,
    *,
    actor: str,
    progress: Progress | None = None,
) -> Feedback:
    """Work out and write ``org``'s feedback to ``out`` (a CSV) through the artefact writer."""
    provider = haven.organisation(org)  # refuses an unknown code
    if provider.kind not in {"treatment-service", "prison", "secure-setting",
                             "criminal-justice-team"}:
        raise UsageError(
            f"{provider.code} is a {provider.kind}; feedback goes to treatment providers only."
        )
    if out.suffix.lower() != ".csv":
        raise UsageError(f"{out} should name a .csv file.")
    names = {o.code: o.name for o in haven.organisations()}
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            with haven.transaction() as session:
                run = current_run(session)
                if run is None:
                    raise UsageError("Nothing has been linked yet; run 'carehaven link' first.")
                open_clients, matches = _matches(session, con, provider.code)
                holds = _hold_new(session, matches, run, actor)
            told = [m for o, m in matches if _disclosable(m, holds.get((o, m.person_id)))]
            held = len({m.person_id for _, m in matches} - {m.person_id for m in told})
            rows = [
                {"client_ref": m.client_ref, "other_provider": m.other_provider,
                 "other_provider_name": names.get(m.other_provider, "")}
                for m in told
            ]
            result = Feedback(provider.code, open_clients.get(provider.code, 0), rows, held)
            scan = _scan(haven, con, rows, progress)
            result.artefact = _write(haven, result, told, scan, out, actor)
            result.file = out
        finally:
            con.disconnect()
    return result


def _scan(
    haven: Haven, con: DuckDBBackend, rows: list[dict[str, str]], progress: Progress | None
) -> ScanResult:
    """The leak scan: the provider's own client references are what feedback is about;
    anything else identifying (another provider's reference, a person id) is a leak."""
    from carehaven.pseudonymise.personal import ensure_personal
    from carehaven.pseudonymise.scan import scan_table

    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in COLUMNS})
    with haven.sessions() as session:
        tier = ensure_personal(session, con, haven.master_key, progress)
        return scan_table(table, tier, session, haven.master_key, allowed=None,
                          progress=progress, carries=frozenset({"client_ref"}))


def _write(
    haven: Haven, result: Feedback, told: list[Match], scan: ScanResult, out: Path, actor: str
) -> str:
    others = len({m.other_provider for m in told})

    def disclosed(session: Session, artefact: Artefact, _sha: str) -> None:
        record(
            session,
            FeedbackDisclosed(artefact.label, result.org, result.clients_shared, others,
                              result.held),
            actor=actor,
        )

    written = write(
        haven,
        Outgoing(
            kind="feedback",
            tier="personal",
            recipient=result.org,
            folder=out.parent,
            stem=out.stem,
            parts=[Part(out.name, lambda p: write_csv(
                p, COLUMNS, [[r[c] for c in COLUMNS] for r in result.rows]))],
            rows=len(result.rows),
            scan=scan,
            manifest={"about": "Concurrent-provider feedback (IDN-2)",
                      "org": result.org, "held_for_review": result.held},
            people=[m.person_id for m in told],
        ),
        actor=actor,
        on_commit=disclosed,
    )
    return written.label


# ---- the data team's decisions on held matches -------------------------------------------------


@dataclass(frozen=True)
class HoldView:
    label: str
    org: str
    status: str
    reason: str
    link_run: int
    created_at: str
    decided_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "hold": self.label,
            "org": self.org,
            "status": self.status,
            "reason": self.reason,
            "link_run": self.link_run,
            "created_at": self.created_at,
            "decided_by": self.decided_by,
        }


def holds(haven: Haven, *, status: str | None = "waiting") -> list[HoldView]:
    """Held matches (no person's data: the provider, why, when); ``status`` None lists all."""
    with haven.sessions() as session:
        query = select(FeedbackHold).order_by(FeedbackHold.id)
        if status is not None:
            query = query.where(FeedbackHold.status == status)
        return [
            HoldView(h.label, h.org_code, h.status, h.reason, h.link_run,
                     h.created_at.isoformat(timespec="seconds"), h.decided_by)
            for h in session.scalars(query)
        ]


def decide(haven: Haven, label: str, *, release: bool, actor: str) -> HoldView:
    """Release a held match to its provider's next feedback, or refuse it for good."""
    text = label.strip().upper().removeprefix("FH-")
    if not text.isdigit():
        raise UsageError(f"{label!r} is not a hold such as FH-7.")
    with haven.transaction() as session:
        hold = session.get(FeedbackHold, int(text))
        if hold is None:
            raise NotFoundError(f"Hold {label} does not exist.")
        decision = "released" if release else "refused"
        hold.status = decision
        hold.decided_by = actor
        hold.decided_at = clock.now()
        record(session, FeedbackHoldDecided(hold.label, hold.org_code, decision), actor=actor)
        return HoldView(hold.label, hold.org_code, hold.status, hold.reason, hold.link_run,
                        hold.created_at.isoformat(timespec="seconds"), hold.decided_by)
