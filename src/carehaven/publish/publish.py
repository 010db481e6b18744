"""Publish a statistical table: true values, primary rule, secondary suppression, intruder check,
then the files (PSE-5, OUT-4).

The order is the safety argument. Primary cells come from the table's policy; HiGHS chooses
the complementary cells; the intruder's linear programmes are then solved for every hidden
primary cell against everything published, including every earlier publication linked with
this one (:mod:`carehaven.publish.linked`: for a flow table every month, quarter and year to
date of the financial year, in whatever order; for any table the earlier publications of the
same period, whose figures a revision may have changed), and a table that fails is not
written. Files are written to a
private temporary folder and moved into place only when the publication record and its audit
entry commit, so a failure leaves nothing half published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import TablePublished
from carehaven.collection.period import Period, parse_period, require_begun
from carehaven.control.kinds import Tier
from carehaven.control.models import Artefact, Publication
from carehaven.data import connect
from carehaven.disclosure.audit import check, primary_vars
from carehaven.disclosure.policy import Policy, Primary, known_interval_of_rounded, primary
from carehaven.disclosure.policy import rounded as round_to
from carehaven.disclosure.secondary import Suppression, protect
from carehaven.disclosure.table import Key, Problem, Table
from carehaven.errors import CarehavenError, ExitCode
from carehaven.governance.artefact import Outgoing, Part, check_folder
from carehaven.governance.artefact import write as artefact_write
from carehaven.haven import Haven
from carehaven.pseudonymise.personal import ensure_personal
from carehaven.publish.build import labels, with_received
from carehaven.publish.chart import write_chart
from carehaven.publish.cld import received
from carehaven.publish.definitions import TableDef, definition
from carehaven.publish.linked import (
    Layout,
    Snapshot,
    build_linked,
    layout,
    parts_of,
    same_year,
    seal,
    snapshot,
    stable_keys,
)
from carehaven.publish.linked import statuses as linked_statuses
from carehaven.publish.longcsv import write_csv
from carehaven.publish.model import SUPPRESSED, Published, from_table
from carehaven.publish.spreadsheet import write_xlsx

Progress = Callable[[str], None]
BoolArray = npt.NDArray[np.bool_]


class UnsafeTableError(CarehavenError):
    exit_code = ExitCode.DISCLOSURE_UNSAFE


@dataclass
class PublishResult:
    name: str
    period: str
    files: list[Path]
    cells: int
    suppressed_primary: int
    suppressed_secondary: int
    safe: bool
    method: str
    proven_optimal: bool
    seconds: float
    publication: str
    notes: list[str] = field(default_factory=list)
    revision: Revision | None = None



def _notes(defn: TableDef, policy: Policy, lay: Layout | None,
           revision: Revision | None) -> list[str]:
    notes = [
        defn.description,
        policy.describe(),
        "Further cells are suppressed ([c]) so that no suppressed count can be worked out from "
        "the totals and the other published figures; carehaven checks every table against that "
        "before it is published.",
    ]
    if lay is not None:
        notes.append(
            f"Months add up to quarters and quarters to the {lay.year} year to date. Every "
            f"table of this kind published for {lay.year} (months, quarters and years to "
            "date, in whatever order) was protected together with this one, and checked "
            "together against an intruder holding them all."
        )
    if revision is not None:
        notes.append(revision.note())
    return notes


def _slice(table: Table, code: str | None) -> list[int]:
    if code is None:
        return list(range(len(table)))
    return [i for i, k in enumerate(table.keys) if k[-1] == code]


def _published(
    defn: TableDef,
    table: Table,
    cells: list[int],
    sliced: bool,
    hidden: BoolArray,
    shown_values: npt.NDArray[np.float64],
    *,
    name: str,
    title: str,
    period: str,
    notes: list[str],
    disclosure: dict[str, Any],
) -> Published:
    dims = table.dims[:-1] if sliced else table.dims
    keys = [table.keys[i][:-1] if sliced else table.keys[i] for i in cells]
    part = Table(name, dims, keys, table.values[cells], measure=table.measure)
    marker = [SUPPRESSED if hidden[i] else "" for i in cells]
    pub = from_table(
        part,
        shown_values[cells],
        marker,
        name=name,
        title=title,
        description=defn.description,
        dataset=defn.dataset,
        period=period,
        counts=defn.counts,
        notes=notes,
        labels=labels(defn, dims),
    )
    pub.disclosure = disclosure
    return pub


@dataclass
class Revision:
    """A publication of a period published before, with different figures (issue 13 item 9)."""

    replaces: list[str]
    changed: int
    now_suppressed: int
    small: int

    def note(self) -> str:
        return (
            f"Revised: this table replaces publication {', '.join(self.replaces)} of the same "
            f"period. Corrected returns changed {self.changed} figures shown there; "
            f"{self.now_suppressed} of them are now suppressed ([c]), {self.small} because "
            "they fell below the threshold. The earlier figures stay public, so this table was "
            "protected and checked together with them."
        )



@dataclass
class System:
    """The new cube joined to every earlier publication linked with it, over variables."""

    problem: Problem
    primaries: list[Primary]
    mask: BoolArray
    lpl: npt.NDArray[np.float64]
    upl: npt.NDArray[np.float64]
    published: BoolArray  # shown by an earlier publication: known, stays shown
    hidden: BoolArray  # not shown and not part of this publication: stays unknown
    exposed: int  # small cells an earlier publication showed (under an earlier policy)

    def current(self) -> npt.NDArray[np.int64]:
        """The variable of each cell of the new cube."""
        return np.array([self.problem.var(0, j) for j in range(len(self.problem.tables[0]))],
                        dtype=np.int64)


def _system(defn: TableDef, table: Table, stable: list[Key], now: list[str],
            snaps: list[Snapshot]) -> System:
    cubes = [(table, stable)] + [(s.table, s.stable) for s in snaps if s.table is not None]
    first: dict[tuple[Key, float], tuple[int, int]] = {}
    shared: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for t, (cube, keys) in enumerate(cubes):
        for c, k in enumerate(keys):
            # The same cell with the same value: one number, whichever cube it sits in.
            ident = (k, float(cube.values[c]))
            if ident in first:
                shared.append((first[ident], (t, c)))
            else:
                first[ident] = (t, c)
    problem = Problem([c for c, _ in cubes], shared)
    prims = [primary(c, defn.policy) for c, _ in cubes]
    mask, lpl, upl = primary_vars(problem, prims)
    published = np.zeros(problem.n, dtype=np.bool_)
    t = 1
    for s in snaps:
        if s.table is None:
            # Kept before cubes were: the figure is unknown, so a cell small now is not fixed.
            for j, k in enumerate(stable):
                if k in s.shown and not prims[0].mask[j]:
                    published[problem.var(0, j)] = True
            continue
        for c, k in enumerate(s.stable):
            if k in s.shown:
                published[problem.var(t, c)] = True
        t += 1
    free = np.zeros(problem.n, dtype=np.bool_)
    for j, k in enumerate(stable):
        if k[-1] in now:
            free[problem.var(0, j)] = True
    exposed = mask & published
    mask &= ~published
    free &= ~published
    return System(problem, prims, mask, lpl, upl, published, ~published & ~free,
                  int(exposed.sum()))


def _protect(
    defn: TableDef, system: System, *, time_limit: float, progress: Progress | None
) -> tuple[Suppression, npt.NDArray[np.float64]]:
    """The suppression pattern over the system's variables and the figures to publish; refuses
    if the intruder check fails."""
    policy = defn.policy
    problem = system.problem
    try:
        supp = protect(
            problem, system.mask, system.lpl, system.upl,
            cost="value" if defn.counts == "value" else "cells",
            published=system.published, hidden=system.hidden,
            time_limit=time_limit, progress=progress,
        )
    except ValueError:
        raise UnsafeTableError(
            f"{defn.name} was not published: the figures published before already pin down "
            "some suppressed cells, and no further suppression in this table can protect them."
        ) from None
    values = problem.values
    known_lo = known_hi = None
    shown = values.copy()
    if policy.round_base:
        shown = round_to(values, policy.round_base)
        known_lo, known_hi = known_interval_of_rounded(shown, policy.round_base)
        known_lo = np.where(supp.suppressed, 0.0, known_lo)
        known_hi = np.where(supp.suppressed, np.inf, known_hi)
    findings = check(
        problem, supp.suppressed, system.mask, system.lpl, system.upl,
        known_lo=known_lo, known_hi=known_hi,
    )
    if findings:
        raise UnsafeTableError(
            f"{defn.name} was not published: the intruder check found {len(findings)} "
            "suppressed cells that could be narrowed below their protection."
        )
    return supp, shown


def _revision(period: Period, snaps: list[Snapshot], stable: list[Key], now: list[str],
              hidden: BoolArray, shown: npt.NDArray[np.float64], small: BoolArray
              ) -> Revision | None:
    """What a republication changed in the figures the same period showed before."""
    before = [s for s in snaps if s.period == period.label]
    if not before:
        return None
    changed = suppressed = below = 0
    for j, k in enumerate(stable):
        if k[-1] not in now:
            continue
        olds = [s.shown[k] for s in before if k in s.shown]
        if not olds:
            continue
        if hidden[j] or any(o is None or o != shown[j] for o in olds):
            changed += 1
            suppressed += bool(hidden[j])
            below += bool(hidden[j] and small[j])
    if not changed:  # the same figures again: a copy, not a revision
        return None
    return Revision([s.label for s in before], changed, suppressed, below)


def _linked(session: Any, defn: TableDef, period: Period, master: Any
            ) -> tuple[Layout | None, list[Snapshot]]:
    """The earlier publications protected with this one: for a flow table every period of the
    same financial year, for a stock table the same period."""
    rows = session.execute(
        select(Publication).where(Publication.name == defn.name).order_by(Publication.id)
    ).scalars().all()
    if defn.flow:
        rows = [r for r in rows if same_year(parse_period(r.period), period)]
    else:
        rows = [r for r in rows if r.period == period.label]
    lay = layout(period, [parse_period(r.period) for r in rows]) if defn.flow else None
    snaps = [snapshot(master, defn.name, r.label, r.period, json.loads(r.statuses))
             for r in rows]
    return lay, snaps


def publish(
    haven: Haven,
    name: str,
    period_text: str,
    out: Path,
    *,
    actor: str,
    progress: Progress | None = None,
    time_limit: float = 60.0,
) -> PublishResult:
    defn = definition(name)
    period = require_begun(parse_period(period_text))  # nothing is counted for the future
    check_folder(haven, "publication", out)  # before any work: never among the haven's own
    master = haven.master_key
    with haven.writer():
        con = connect(haven.paths.data_db)
        try:
            with haven.sessions() as session:
                tier = ensure_personal(session, con, master, progress)
                if progress:
                    progress(f"counting {defn.counts} for {defn.name}, {period.label}")
                lay, snaps = _linked(session, defn, period, master)
                # CLD chooses among returns by when each was received (ADR 0012).
                events = with_received(defn, tier.events(defn.dataset),
                                       received(session, defn.dataset))
                table = build_linked(defn, events, period, lay)
                run = tier.run
        finally:
            con.disconnect()
    stable = stable_keys(table, lay, period)
    now = parts_of(defn, period, lay)
    system = _system(defn, table, stable, now, snaps)
    if progress:
        progress(f"protecting {len(table):,} cells with {len(snaps)} earlier publications")
    supp, shown_vars = _protect(defn, system, time_limit=time_limit, progress=progress)
    var0 = system.current()
    hidden = supp.suppressed[var0]
    shown = shown_vars[var0]
    prim = system.primaries[0]
    revision = _revision(period, snaps, stable, now, hidden, shown, prim.mask)
    disclosure: dict[str, Any] = {
        "policy": defn.policy.describe(),
        "threshold": defn.policy.threshold,
        # Count tables: the threshold's level; magnitude tables' levels vary by cell (0 here).
        "protection_level": 0 if defn.counts == "value" else _level(prim),
        "round_base": defn.policy.round_base,
    }
    if revision is not None:
        from carehaven.publish.public import RevisionPublic

        disclosure["revision"] = RevisionPublic.of(revision).as_json()
    notes = _notes(defn, defn.policy, lay, revision)
    pubs: list[tuple[Published, list[int]]] = []
    for part in now:
        cells = _slice(table, lay.code(part) if lay else None)
        ytd = part != period.label
        pubs.append((
            _published(
                defn, table, cells, lay is not None, hidden, shown,
                name=f"{defn.name}-year-to-date" if ytd else defn.name,
                title=f"{defn.title}, {part}" if ytd else f"{defn.title}, {period.label}",
                period=part, notes=notes, disclosure=disclosure,
            ),
            cells,
        ))
    primary_now = int(sum(prim.mask[i] & hidden[i] for _, c in pubs for i in c))
    hidden_now = int(sum(hidden[i] for _, c in pubs for i in c))
    kept = linked_statuses(
        {part: [(stable[i][:-1], bool(hidden[i]), None if hidden[i] else float(shown[i]))
                for i in cells]
         for part, (_, cells) in zip(now, pubs, strict=True)},
        seal(master, table, stable, period.label),
    )
    files = _write(haven, defn, period, pubs, out, kept, run, actor,
                   primary_now, hidden_now - primary_now)
    return PublishResult(
        defn.name, period.label, files[0], sum(len(c) for _, c in pubs), primary_now,
        hidden_now - primary_now, True, supp.method, supp.proven_optimal, supp.seconds,
        files[1], notes, revision,
    )


def _level(prim: Primary) -> int:
    return int(prim.upl.max()) if prim.count else 0


@dataclass(frozen=True)
class TableScan:
    """The leak scan of an aggregate artefact: every cell of every table is a declared code of
    its dimension (or its label), a number, or a marker; nothing else, so no record value or
    identifier can ride along in a published table."""

    cells: int
    strays: int

    @property
    def ok(self) -> bool:
        return self.strays == 0

    def summary(self) -> str:
        if self.ok:
            return f"Every one of the {self.cells:,} cells is a code, a count or a marker."
        return (
            f"{self.strays:,} of {self.cells:,} cells are not a code of their dimension, a "
            "count or a marker."
        )


def scan_tables(pubs: list[Published]) -> TableScan:
    cells = strays = 0
    for pub in pubs:
        allowed = [set(d.order) for d in pub.dims]
        for key, value, mark in zip(pub.keys, pub.shown, pub.marker, strict=True):
            cells += 1
            bad_code = any(c not in codes for c, codes in zip(key, allowed, strict=True))
            bad_value = mark not in ("", SUPPRESSED, "[x]") or (
                mark == "" and not np.isfinite(value)
            )
            strays += bad_code or bad_value
    return TableScan(cells, strays)


def _write(
    haven: Haven,
    defn: TableDef,
    period: Period,
    pubs: list[tuple[Published, list[int]]],
    out: Path,
    statuses: dict[str, Any],
    run: int,
    actor: str,
    n_primary: int,
    n_secondary: int,
) -> tuple[list[Path], str]:
    """Write through the one artefact writer: scanned, recorded with the publication and its
    audit entries in one transaction, then moved into place, carrying the latest checkpoint."""
    stem = f"{defn.name}-{period.label}"
    tables = [p for p, _ in pubs]
    parts: list[Part] = [
        Part(f"{pub.name}.csv", partial(write_csv, pub), extra=(f"{pub.name}.structure.json",))
        for pub in tables
    ]
    parts.append(Part(f"{stem}.xlsx", partial(
        _xlsx, tables, title=f"{defn.title}, {period.label}")))
    parts += [
        Part(f"{pub.name}.png", partial(_chart, pub), extra=(f"{pub.name}.html",))
        for pub in tables
    ]
    made: dict[str, str] = {}

    def record_publication(session: Any, artefact: Artefact, manifest_sha: str) -> None:
        csv_sha = next(str(f["sha256"]) for f in artefact.files
                       if f["name"] == f"{tables[0].name}.csv")
        row = Publication(
            name=defn.name,
            period=period.label,
            link_run=run,
            cells=sum(len(c) for _, c in pubs),
            suppressed_primary=n_primary,
            suppressed_secondary=n_secondary,
            statuses=json.dumps(statuses),
            directory=artefact.directory,
            csv_sha256=csv_sha,
            created_at=clock.now(),
            created_by=actor,
            artefact_id=artefact.id,
        )
        session.add(row)
        session.flush()
        made["label"] = row.label
        record(
            session,
            TablePublished(row.label, defn.name, period.label, row.cells, n_primary,
                           n_secondary, csv_sha),
            actor=actor,
        )

    written = artefact_write(
        haven,
        Outgoing(
            kind="publication",
            tier=Tier.AGGREGATE,
            recipient="public",
            folder=out,
            stem=stem,
            parts=parts,
            rows=sum(len(c) for _, c in pubs),
            scan=scan_tables(tables),
            manifest={"table": defn.name, "period": period.label, "link_run": run},
        ),
        actor=actor,
        on_commit=record_publication,
    )
    extra = [written.manifest] + ([written.checkpoint] if written.checkpoint else [])
    return [*written.files, *extra], made["label"]


def _xlsx(tables: list[Published], path: Path, *, title: str) -> None:
    write_xlsx(tables, path, title=title)


def _chart(pub: Published, png: Path) -> None:
    """The chart as PNG and, beside it, as accessible HTML."""
    write_chart(pub, png, png.with_name(f"{pub.name}.html"))
