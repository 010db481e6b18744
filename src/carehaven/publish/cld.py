"""Unique adult social care events across rolling returns, as DHSC counts them (ADR 0012).

A CLD return is a rolling 12 months, so one event sits in up to four returns of an authority,
each time with whatever ``Event_Reference`` the case system gave it (optional, and not stable).
Counting references counts an event once per return and never counts one without a reference.
DHSC's dashboard (``DataS-DHSC/ASC-CLD-LA-Dashboard``) instead, for a reference period:

1. takes, per authority, the latest submission covering the whole period, received after the
   period ended and by the "as of" moment (here: every submission in force when publishing);
2. ends an event on the date of death when the person died during it (or during an open
   service), and drops the rows of people who died before the period or the event began;
3. keeps the events of the period: requests, assessments and reviews that ended in it,
   services open at some time in it (all started by its end);
4. keys a unique event on authority, person, start, end (not for services, whose end changes
   as they go on), client type, event type and the type's own detail, and keeps one record of
   each: the latest return's, then the open or latest-ending, then the one whose outcome is
   highest in the hierarchy, then the last in the file.

The person is the haven's linked person, whose strong keys are DHSC's own fallback order: the
NHS number, else the authority's own person reference (``LA_Code`` and
``LA_Person_Unique_Identifier``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import ibis
import ibis.expr.types as ir
from sqlalchemy.orm import Session

from carehaven.collection.period import Period
from carehaven.identity.link import in_force

SERVICE, REQUEST, ASSESSMENT = "Service", "Request", "Assessment"
LONG_TERM = "Long Term Support"
OPEN = dt.date(9999, 1, 1)  # an open service ranks above any end date

#: DHSC's event outcome hierarchy (Release 2 terms), Release 1 codes mapped onto it; a record
#: with a more advanced outcome is kept over a duplicate with a lesser one.
OUTCOME_RANK = {
    "Progress to Reablement/ST-Max": 1,
    "Progress to Assessment": 2,
    "Progress to Support Planning / Services": 4,
    "Progress to End of Life Care": 4,
    "Provision of service": 5,
    "No change in package": 5,
    "Change in package": 5,
    "Admitted to hospital": 6,
    "NFA - Moved to another LA": 7,
    "NFA - 100% NHS funded care": 8,
    "NFA - Self-funded": 9,
    "NFA - Information & Advice / Signposting only": 10,
    "NFA - Support declined": 12,
    "NFA - Deceased": 13,
    "Service ended as planned": 14,
    "Service ended - other reason": 15,
    "NFA - No eligible needs": 16,
    "NFA - Other": 17,
}

#: Units a week implied by a cost frequency (DHSC's costs fact); others use the planned units.
UNITS_A_WEEK = {
    "Weekly": 1.0,
    "Fortnightly": 1.0 / 2.0,
    "4-Weekly": 1.0 / 4.0,
    "Monthly": 12.0 / 52.0,
    "Quarterly": 4.0 / 52.0,
    "Annually": 1.0 / 52.0,
}
COST_FIELDS = ("Delivery_Mechanism", "Unit_Cost", "Cost_Frequency_Unit_Type",
               "Planned_units_per_week")


def received(session: Session, dataset: str) -> ir.Table:
    """When each submission of ``dataset`` in force was received, as of now."""
    return received_table((s.id, s.received_at) for s in in_force(session, dataset))


def received_table(rows: Iterable[tuple[str, dt.datetime]]) -> ir.Table:
    """(submission id, when received) for every CLD submission in force: the selection's input."""
    got = list(rows)
    return ibis.memtable(
        {"_submission_id": [r[0] for r in got], "_received": [r[1] for r in got]},
        schema={"_submission_id": "string", "_received": "timestamp('UTC')"},
    )


def _text(value: ir.Value) -> ir.StringValue:
    return value.cast("string").fill_null("")


def chosen(rows: ir.Table, start: dt.date, end: dt.date) -> ir.Table:
    """The rows of each authority's latest submission covering ``start``..``end`` in full,
    received after ``end`` (DHSC's GetSubmissions, on the stated reporting period, which the
    haven checks against the period submitted)."""
    cover = rows.group_by(["_submission_id", "LA_Code"]).aggregate(
        _from=rows.Reporting_Period_Start_Date.min(),
        _to=rows.Reporting_Period_End_Date.max(),
        _at=rows._received.max(),
    )
    fits = cover.filter(
        (cover._from <= ibis.date(start))
        & (cover._to >= ibis.date(end))
        & (cover._at.date() > ibis.date(end))
    )
    rank = ibis.row_number().over(
        group_by=fits.LA_Code, order_by=[ibis.desc(fits._at), ibis.desc(fits._to)]
    )
    latest = fits.mutate(_rank=rank)
    picked = latest.filter(latest._rank == 0).select("_submission_id")
    return rows.semi_join(picked, "_submission_id")


def with_end(rows: ir.Table) -> ir.Table:
    """``_end``: the event's end, or the date of death when the person died during it."""
    start, end, died = rows.Event_Start_Date, rows.Event_End_Date, rows.Date_of_Death
    during = ((died >= start) & (died <= end)) | ((died > start) & end.isnull())
    return rows.mutate(_end=ibis.cases((during.fill_null(False), died), else_=end))


def in_period(rows: ir.Table, period: Period) -> ir.Table:
    """Events of the period (DHSC's FilterToEventsInPeriod): services open at some time in it,
    other events ended in it; none after the person's death."""
    ps, pe = ibis.date(period.start), ibis.date(period.end)
    service = rows.Event_Type == SERVICE
    started = rows.Event_Start_Date <= pe
    ended_in = (rows._end >= ps) & (rows._end <= pe)
    open_in = rows._end.isnull() | (rows._end >= ps)
    alive = rows.Date_of_Death.isnull() | (
        (rows.Date_of_Death >= ps) & (rows.Date_of_Death >= rows.Event_Start_Date)
    )
    keep = started & ibis.cases((service, open_in), else_=ended_in).fill_null(False) & alive
    return rows.filter(keep)


def event_key(rows: ir.Table) -> ir.StringValue:
    """DHSC's unique event: who, when, what kind, and the detail that makes the kind."""
    kind = rows.Event_Type

    def only(when: ir.BooleanValue, col: ir.Value) -> ir.StringValue:
        return ibis.cases((when, _text(col)), else_="")

    parts = [
        _text(rows.LA_Code),
        _text(rows.person_id),
        _text(rows.Event_Start_Date),
        only(kind != SERVICE, rows._end),
        _text(rows.Client_Type),
        _text(kind),
        only(kind == REQUEST, rows.Request_Route_of_Access),
        only(kind == ASSESSMENT, rows.Assessment_Type),
        only(kind == SERVICE, rows.Service_Type),
        only(kind == SERVICE, rows.Service_Component),
    ]
    key = parts[0]
    for p in parts[1:]:
        key = key.concat("|", p)
    return key


def unique(rows: ir.Table) -> ir.Table:
    """One record per unique event (``_unit`` is its key). Within one submission a service's
    record also keeps apart the rows that differ in delivery or cost (a package split over
    rows), as DHSC's single-submission tables do; counts count ``_unit`` once."""
    keyed = rows.mutate(_unit=event_key(rows))
    service = keyed.Event_Type == SERVICE
    split = [ibis.cases((service, _text(keyed[c])), else_="") for c in COST_FIELDS]
    outcome = keyed.Event_Outcome.cases(*OUTCOME_RANK.items(), else_=999)
    rank = ibis.row_number().over(
        group_by=[keyed._unit, *split],
        order_by=[
            ibis.desc(keyed.Reporting_Period_End_Date),  # the latest return's record first
            ibis.desc(keyed._end.fill_null(ibis.date(OPEN))),
            outcome,
            ibis.desc(keyed._row),
        ],
    )
    ranked = keyed.mutate(_rank=rank)
    return ranked.filter(ranked._rank == 0).drop("_rank")


def events_of(rows: ir.Table, period: Period, cover: tuple[dt.date, dt.date] | None = None
              ) -> ir.Table:
    """The unique events of ``period`` from the submissions chosen for ``cover`` (the period
    itself unless given)."""
    start, end = cover or (period.start, period.end)
    return unique(in_period(with_end(chosen(rows, start, end)), period))


def history(rows: ir.Table) -> ir.Table:
    """Every unique event of every return in force, whenever it happened: for looking back (a
    request's long-term service, a service's request). DHSC looks back only within the chosen
    12-month return, which misses a service that ended just before that return's window."""
    return unique(with_end(rows))


def long_term(rows: ir.Table) -> ir.BooleanValue:
    return (rows.Event_Type == SERVICE) & rows.Service_Type.startswith(LONG_TERM)


def units_a_week(rows: ir.Table) -> ir.FloatingValue:
    """Units a week by the cost frequency, else the planned units (DHSC's costs fact)."""
    planned = rows.Planned_units_per_week.cast("float64").abs()
    return rows.Cost_Frequency_Unit_Type.cases(*UNITS_A_WEEK.items(), else_=planned)
