"""Provider feedback (IDN-2): which other providers are treating a provider's clients now.

A provider's current caseload is the open episodes (no discharge date) in its latest return in
force. For each of the provider's own clients in treatment, the feedback names the other
providers with an open episode for the same person, and nothing else about them: not their
client reference, episode or dates.

Feedback is a disclosure of personal data to a provider, so it needs a real treatment
relationship and leaves through the one artefact writer (scanned, recorded with its lineage,
audited as ``feedback.disclosed``: which provider, how many clients, never who). A *match* is
(provider told, person, other provider), where both episodes are open, consented
(consent_ndtms = Y: unconsented episodes are never linked) and in treatment (a treatment start
on or before today). A match is told only when it is *established*: it was already a match at
the previous link run, so it rests on rows the haven held before the latest returns. A match
that appears at a run (a new client, a new episode elsewhere, or a row a provider just invented
carrying someone else's initials, date of birth, sex and district, whatever client reference
or period it claims) is *held* for the data team at that run, for the provider on each side,
and stays held until a person releases or refuses it (``feedback holds``). The provider is
never told that anything is held: that count would answer the very question a made-up row asks.
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
from carehaven.control.models import Artefact, FeedbackHold, HavenMeta, Submission
from carehaven.csvsafe import write_csv
from carehaven.data import connect, in_force_rows
from carehaven.errors import NotFoundError, UsageError
from carehaven.governance.artefact import Outgoing, Part, write
from carehaven.haven import Haven, OrgRecord
from carehaven.identity.link import current_run, in_force, table_name
from carehaven.identity.registry_tables import Registry
from carehaven.specs import load_spec

if TYPE_CHECKING:
    from carehaven.pseudonymise.scan import ScanResult

EPISODES = "ndtms-episode"
COLUMNS = ("client_ref", "other_provider", "other_provider_name")
NEW_MATCH = "new-match"
#: haven_meta: the link run whose new matches have been held (by ``refresh_holds``).
HOLDS_RUN = "feedback_holds_run"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Match:
    """One of a provider's clients open at another provider too."""

    client_ref: str
    person_id: str
    other_provider: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.person_id, self.other_provider)


@dataclass
class Feedback:
    org: str
    open_clients: int
    rows: list[dict[str, str]]  # one per (client_ref, other provider) disclosed
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


def _registry_of(con: DuckDBBackend, run: int) -> Registry:
    return Registry(run, con.table(table_name("identity_records", run)),
                    con.table(table_name("identity_profiles", run)))


def _matches(session: Session, con: DuckDBBackend, org: str | None, reg: Registry) -> Found:
    """Open clients per provider, and every match (provider, Match) for ``org`` or for all,
    as the registry ``reg`` links the providers' latest returns in force."""
    spec = load_spec(EPISODES)
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
    return open_clients, [
        (str(p["org"]),
         Match(str(p["client_ref"]), str(p["person_id"]), str(p["other_provider"])))
        for p in pairs
    ]


def _holds(session: Session, org: str | None) -> dict[tuple[str, str, str], FeedbackHold]:
    query = select(FeedbackHold)
    if org is not None:
        query = query.where(FeedbackHold.org_code == org)
    return {(h.org_code, h.person_id, h.other_org): h for h in session.scalars(query)}


def _evidence(
    session: Session, con: DuckDBBackend, reg: Registry, new: list[tuple[str, Match]]
) -> dict[tuple[str, str, str], dict[str, object]]:
    """What the data team decides each new match by: when and in which returns each side's
    episodes arrived, since when in treatment, whether by a resubmission. Dates and counts
    only, worked out for every new match in one query."""
    if not new:
        return {}
    subs = {s.id: s for s in in_force(session, EPISODES)}
    replaced = set(session.scalars(
        select(Submission.superseded_by).where(Submission.superseded_by.is_not(None))))
    people = sorted({m.person_id for _, m in new})
    rows = reg.rows_with_person(in_force_rows(con, load_spec(EPISODES), list(subs)), EPISODES)
    got = rows.filter(rows.person_id.isin(people)).select(
        "person_id", "provider_code", "_submission_id", "treatment_start_date"
    ).to_pyarrow().to_pylist()
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in got:
        by.setdefault((str(r["person_id"]), str(r["provider_code"])), []).append(r)

    def side(person: str, code: str) -> dict[str, object]:
        own = by.get((person, code), [])
        used = [subs[r["_submission_id"]] for r in own if r["_submission_id"] in subs]
        received = [x.received_at for x in used]
        starts = sorted(str(r["treatment_start_date"]) for r in own if r["treatment_start_date"])
        return {
            "episodes": len(own),
            "periods": sorted({x.period for x in used}),
            "first_received": min(received).date().isoformat() if received else None,
            "treatment_since": starts[0] if starts else None,
            "by_resubmission": any(x.id in replaced for x in used),
        }

    return {
        (org, *m.key): {"here": side(m.person_id, org),
                        "other": side(m.person_id, m.other_provider)}
        for org, m in new
    }


def _hold_new(
    session: Session,
    con: DuckDBBackend,
    reg: Registry,
    matches: list[tuple[str, Match]],
    established: set[tuple[str, str, str]],
    run: int,
    actor: str,
) -> dict[tuple[str, str, str], FeedbackHold]:
    """Hold every match that is not established and that no person has decided yet."""
    holds = _holds(session, None)
    # One hold per (provider, person, other provider), however many client references.
    new = list({(o, *m.key): (o, m) for o, m in matches
                if (o, *m.key) not in established and (o, *m.key) not in holds}.values())
    evidence = _evidence(session, con, reg, new)
    for org, m in new:
        key = (org, *m.key)
        hold = FeedbackHold(
            org_code=org, person_id=m.person_id, other_org=m.other_provider,
            evidence=evidence[key], status="waiting", reason=NEW_MATCH, link_run=run,
            created_at=clock.now(),
        )
        session.add(hold)
        session.flush()
        holds[key] = hold
        record(session, FeedbackHeld(hold.label, org, NEW_MATCH), actor=actor)
    return holds


def _told(org: str, m: Match, holds: dict[tuple[str, str, str], FeedbackHold]) -> bool:
    """Told when a person released it, or when it is established and was never held."""
    hold = holds.get((org, *m.key))
    return hold is None or hold.status == "released"


def refresh_holds(haven: Haven, con: DuckDBBackend, *, actor: str, previous: int | None) -> int:
    """Called by ``link`` (under its writer lock, before the previous run's tables go): hold
    every match of the new run that was not a match at ``previous``; returns how many holds
    are waiting. Matches of a haven's first run are all new."""
    with haven.transaction() as session:
        run = current_run(session)
        if run is None:
            return 0
        reg = _registry_of(con, run)
        _, now = _matches(session, con, None, reg)
        before: set[tuple[str, str, str]] = set()
        if previous is not None:
            _, then = _matches(session, con, None, _registry_of(con, previous))
            before = {(o, *m.key) for o, m in then}
        holds = _hold_new(session, con, reg, now, before, run, actor)
        meta = session.get(HavenMeta, HOLDS_RUN)
        if meta is None:
            session.add(HavenMeta(name=HOLDS_RUN, value=str(run)))
        else:
            meta.value = str(run)
        return sum(h.status == "waiting" for h in holds.values())


#: The kinds of organisation that treat people and so are told of each other (IDN-2).
PROVIDER_KINDS = frozenset({"treatment-service", "young-peoples-service", "prison",
                            "secure-setting", "criminal-justice-team"})


def check_recipient(haven: Haven, org: str) -> OrgRecord:
    """The organisation ``org``, if feedback may go to it: a treatment provider."""
    provider = haven.organisation(org)  # refuses an unknown code
    if provider.kind not in PROVIDER_KINDS:
        raise UsageError(
            f"{provider.code} is a {provider.kind}; feedback goes to treatment providers only."
        )
    return provider


def feedback(
    haven: Haven,
    org: str,
    out: Path,
    *,
    actor: str,
    progress: Progress | None = None,
) -> Feedback:
    """Work out and write ``org``'s feedback to ``out`` (a CSV) through the artefact writer."""
    provider = check_recipient(haven, org)
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
                reg = _registry_of(con, run)
                open_clients, matches = _matches(session, con, provider.code, reg)
                done = session.get(HavenMeta, HOLDS_RUN)
                if done is None or done.value != str(run):
                    # A run linked before holds existed: nothing shows a match was there
                    # before, so every match not yet decided is new.
                    _hold_new(session, con, reg, matches, set(), run, actor)
                holds = _holds(session, provider.code)
            told = [m for o, m in matches if _told(o, m, holds)]
            rows = [
                {"client_ref": m.client_ref, "other_provider": m.other_provider,
                 "other_provider_name": names.get(m.other_provider, "")}
                for m in told
            ]
            result = Feedback(provider.code, open_clients.get(provider.code, 0), rows)
            held = len(matches) - len(told)
            scan = _scan(haven, con, rows, progress)
            result.artefact = _write(haven, result, told, held, scan, out, actor)
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
    haven: Haven,
    result: Feedback,
    told: list[Match],
    held: int,
    scan: ScanResult,
    out: Path,
    actor: str,
) -> str:
    others = len({m.other_provider for m in told})

    def disclosed(session: Session, artefact: Artefact, _sha: str) -> None:
        record(
            session,
            FeedbackDisclosed(artefact.label, result.org, result.clients_shared, others, held),
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
            manifest={"about": "Concurrent-provider feedback (IDN-2)", "org": result.org},
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
    other_org: str
    status: str
    reason: str
    link_run: int
    created_at: str
    decided_by: str | None
    evidence: dict[str, Any]

    @classmethod
    def of(cls, h: FeedbackHold) -> HoldView:
        return cls(h.label, h.org_code, h.other_org, h.status, h.reason, h.link_run,
                   h.created_at.isoformat(timespec="seconds"), h.decided_by, dict(h.evidence))

    def as_json(self) -> dict[str, Any]:
        return {
            "hold": self.label,
            "org": self.org,
            "other_org": self.other_org,
            "status": self.status,
            "reason": self.reason,
            "link_run": self.link_run,
            "created_at": self.created_at,
            "decided_by": self.decided_by,
            "evidence": self.evidence,
        }


def holds(haven: Haven, *, status: str | None = "waiting") -> list[HoldView]:
    """Held matches with their evidence (providers, periods, dates, counts; no person's data);
    ``status`` None lists all."""
    with haven.sessions() as session:
        query = select(FeedbackHold).order_by(FeedbackHold.id)
        if status is not None:
            query = query.where(FeedbackHold.status == status)
        return [HoldView.of(h) for h in session.scalars(query)]


def decide(haven: Haven, label: str, *, release: bool, actor: str) -> HoldView:
    """Release a held match to its provider's next feedback, or refuse it for good."""
    text = label.strip().upper().removeprefix("FH-")
    if not (text.isascii() and text.isdigit() and len(text) <= 9):  # fits an integer id
        raise UsageError(f"{label!r} is not a hold such as FH-7 (at most nine digits).")
    with haven.transaction() as session:
        hold = session.get(FeedbackHold, int(text))
        if hold is None:
            raise NotFoundError(f"Hold {label} does not exist.")
        decision = "released" if release else "refused"
        hold.status = decision
        hold.decided_by = actor
        hold.decided_at = clock.now()
        record(session, FeedbackHoldDecided(hold.label, hold.org_code, decision), actor=actor)
        return HoldView.of(hold)
