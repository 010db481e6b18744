"""Publish a statistical table: true values, primary rule, secondary suppression, intruder check,
then the files (PSE-5, OUT-4).

The order is the safety argument. Primary cells come from the table's policy; HiGHS chooses
the complementary cells; the intruder's linear programmes are then solved for every hidden
primary cell against everything published, including what carehaven published earlier for the
same financial year (flow tables), and a table that fails is not written. Files are written to a
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
from carehaven.control.models import Artefact, Publication
from carehaven.data import connect
from carehaven.disclosure.audit import check, primary_vars
from carehaven.disclosure.policy import Policy, Primary, known_interval_of_rounded, primary
from carehaven.disclosure.policy import rounded as round_to
from carehaven.disclosure.secondary import Suppression, protect
from carehaven.disclosure.table import TOTAL, Problem, Table
from carehaven.errors import CarehavenError, ExitCode, UsageError
from carehaven.governance.artefact import Outgoing, Part, check_folder
from carehaven.governance.artefact import write as artefact_write
from carehaven.haven import Haven
from carehaven.pseudonymise.personal import ensure_personal
from carehaven.publish.build import YearToDate, build, financial_year, labels
from carehaven.publish.chart import write_chart
from carehaven.publish.cld import received
from carehaven.publish.definitions import TableDef, definition
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

    def as_json(self) -> dict[str, Any]:
        return {
            "files": [str(f) for f in self.files],
            "cells": self.cells,
            "suppressed_primary": self.suppressed_primary,
            "suppressed_secondary": self.suppressed_secondary,
            "safe": self.safe,
        }


def _earlier(
    session: Any, name: str, ytd: YearToDate | None, period: Period
) -> dict[str, dict[str, dict[tuple[str, ...], bool]]]:
    """What was published before for the periods this table touches, merged over every
    publication of each period: a cell counts as public if any publication showed it, since
    the intruder keeps every release (a period published twice must not show both patterns).
    """
    labels_ = [q.label for q in ytd.quarters] if ytd else [period.label]
    rows = session.execute(
        select(Publication).where(Publication.name == name, Publication.period.in_(labels_))
    ).scalars()
    out: dict[str, dict[str, dict[tuple[str, ...], bool]]] = {}
    for row in rows:
        statuses = json.loads(row.statuses)
        for part in ("period", "year_to_date"):
            seen = out.setdefault(row.period, {}).setdefault(part, {})
            for *key, was_hidden in statuses.get(part) or []:
                k = tuple(key)
                seen[k] = seen.get(k, True) and bool(was_hidden)
    return out


def _refuse_out_of_order(session: Any, defn: TableDef, period: Period) -> None:
    """A flow table's quarter cannot follow a later quarter of the same financial year: the
    later year-to-date table already fixed what an earlier quarter may show."""
    if not defn.flow or period.kind != "quarter":
        return
    later = [q.label for q in financial_year(period) if q.start > period.start]
    done = session.execute(
        select(Publication.period).where(
            Publication.name == defn.name, Publication.period.in_(later)
        )
    ).scalars().first()
    if done is not None:
        raise UsageError(
            f"{defn.name} for {done} is already published, so {period.label} (earlier in the "
            "same financial year) cannot be protected together with it; publish quarters in order."
        )


def _fixed(
    table: Table,
    ytd: YearToDate | None,
    period: Period,
    earlier: dict[str, dict[str, dict[tuple[str, ...], bool]]],
) -> tuple[BoolArray, BoolArray]:
    """Cells already public (must stay shown), and cells of earlier periods never published
    (hidden: the intruder does not know them). Cells of this period not yet published are free.
    """
    shown = np.zeros(len(table), dtype=np.bool_)
    hidden = np.zeros(len(table), dtype=np.bool_)
    index = table.index
    if ytd is None:
        for key, hid in earlier.get(period.label, {}).get("period", {}).items():
            j = index.get(key)
            if j is not None and not hid:
                shown[j] = True
        return shown, hidden
    for i, q in enumerate(ytd.quarters):
        parts = [(q.label, "period")] + ([(ytd.code(i), "year_to_date")] if i else [])
        got = earlier.get(q.label, {})
        for code, part in parts:
            if not got.get(part) and q.label != period.label:
                cells = [j for j, k in enumerate(table.keys) if k[-1] == code]
                hidden[cells] = True
                continue
            statuses = got.get(part, {})
            for j, k in enumerate(table.keys):
                if k[-1] != code:
                    continue
                was_hidden: bool | None = statuses.get(k[:-1])
                if was_hidden is None and q.label != period.label:
                    # A code the earlier table did not have: that quarter's totals say it was
                    # zero then; anything else (revised data) stays unknown to the intruder.
                    was_hidden = bool(table.values[j] != 0)
                if was_hidden is False:
                    shown[j] = True
                elif was_hidden and q.label != period.label:
                    hidden[j] = True
    return shown, hidden


def _notes(defn: TableDef, policy: Policy, ytd: YearToDate | None) -> list[str]:
    notes = [
        defn.description,
        policy.describe(),
        "Further cells are suppressed ([c]) so that no suppressed count can be worked out from "
        "the totals and the other published figures; carehaven checks every table against that "
        "before it is published.",
    ]
    if ytd is not None:
        notes.append(
            f"Quarters add up to the {ytd.year} year-to-date table published with this one; the "
            "two, and the tables published earlier this year, were protected together."
        )
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


def protect_table(
    defn: TableDef,
    table: Table,
    *,
    fixed_shown: BoolArray | None = None,
    fixed_hidden: BoolArray | None = None,
    time_limit: float = 60.0,
    progress: Progress | None = None,
) -> tuple[Primary, Suppression, npt.NDArray[np.float64]]:
    """Primary cells, the suppression pattern and the published values; refuses if unsafe."""
    policy = defn.policy
    prim = primary(table, policy)
    problem = Problem.single(table)
    mask, lpl, upl = primary_vars(problem, [prim])
    if fixed_shown is not None:
        # A cell already public cannot be protected now; the earlier table was checked then.
        mask &= ~fixed_shown
    supp = protect(
        problem,
        mask,
        lpl,
        upl,
        cost="value" if defn.counts == "value" else "cells",
        published=fixed_shown,
        hidden=fixed_hidden,
        time_limit=time_limit,
        progress=progress,
    )
    values = problem.values
    known_lo = known_hi = None
    shown = values.copy()
    if policy.round_base:
        shown = round_to(values, policy.round_base)
        known_lo, known_hi = known_interval_of_rounded(shown, policy.round_base)
        known_lo = np.where(supp.suppressed, 0.0, known_lo)
        known_hi = np.where(supp.suppressed, np.inf, known_hi)
    findings = check(
        problem, supp.suppressed, mask, lpl, upl, known_lo=known_lo, known_hi=known_hi
    )
    if findings:
        raise UnsafeTableError(
            f"{defn.name} was not published: the intruder check found {len(findings)} "
            "suppressed cells that could be narrowed below their protection."
        )
    return prim, supp, shown


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
                _refuse_out_of_order(session, defn, period)
                table, ytd = build(defn, tier.events(defn.dataset), period,
                                   received(session, defn.dataset))
                earlier = _earlier(session, defn.name, ytd, period)
                run = tier.run
        finally:
            con.disconnect()
    fixed_shown, fixed_hidden = _fixed(table, ytd, period, earlier)
    if progress:
        progress(f"protecting {len(table):,} cells")
    prim, supp, shown = protect_table(
        defn, table, fixed_shown=fixed_shown, fixed_hidden=fixed_hidden,
        time_limit=time_limit, progress=progress,
    )
    hidden = supp.suppressed
    now_code = period.label if ytd else None
    disclosure = {
        "policy": defn.policy.describe(),
        "threshold": defn.policy.threshold,
        # Count tables: the threshold's level; magnitude tables' levels vary by cell (0 here).
        "protection_level": 0 if defn.counts == "value" else _level(prim),
        "round_base": defn.policy.round_base,
    }
    notes = _notes(defn, defn.policy, ytd)
    pubs: list[tuple[Published, list[int]]] = []
    cells_now = _slice(table, now_code)
    pubs.append((
        _published(
            defn, table, cells_now, ytd is not None, hidden, shown, name=defn.name,
            title=f"{defn.title}, {period.label}", period=period.label, notes=notes,
            disclosure=disclosure,
        ),
        cells_now,
    ))
    if ytd is not None:
        cells_ytd = _slice(table, TOTAL)
        pubs.append((
            _published(
                defn, table, cells_ytd, True, hidden, shown, name=f"{defn.name}-year-to-date",
                title=f"{defn.title}, {ytd.year} to {period.label}",
                period=f"{ytd.year} to {period.label}", notes=notes, disclosure=disclosure,
            ),
            cells_ytd,
        ))
    primary_now = int(sum(prim.mask[i] & hidden[i] for _, c in pubs for i in c))
    hidden_now = int(sum(hidden[i] for _, c in pubs for i in c))
    statuses = {
        "period": [[*table.keys[i][:-1], bool(hidden[i])] if ytd else
                   [*table.keys[i], bool(hidden[i])] for i in cells_now],
        "year_to_date": [[*table.keys[i][:-1], bool(hidden[i])] for i in pubs[1][1]]
        if ytd else None,
    }
    files = _write(haven, defn, period, pubs, out, statuses, run, actor,
                   primary_now, hidden_now - primary_now)
    return PublishResult(
        defn.name, period.label, files[0], sum(len(c) for _, c in pubs), primary_now,
        hidden_now - primary_now, True, supp.method, supp.proven_optimal, supp.seconds,
        files[1], notes,
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
            tier="aggregate",
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
