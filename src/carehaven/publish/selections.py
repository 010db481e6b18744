"""Which rows a publication counts in a period: one Ibis expression per named selection.

Each selection takes a dataset's personal-tier events (person_id, no identifier) and a period,
and returns the rows to count with a ``_unit`` column (what makes a row one of the things
counted: a person, an episode, an event) and, for value tables, ``_value`` and ``_contributor``
(the person whose amount it is, for the dominance rule). Derived dimension fields (a waiting-time
band) are added here too. Tables must be additive for the intruder check to mean anything, so
a table counting people gives each person one row: their latest in the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from carehaven.collection.period import Period
from carehaven.publish import cld

Selection = Callable[[ir.Table, Period], ir.Table]

COMPLETED = ("CDF", "CAF", "COU")  # treatment completed: drug-free, alcohol-free, occasional user
ROW_UNIT = ("_submission_id", "_row")


def _between(col: ir.DateValue, period: Period) -> ir.BooleanValue:
    return (col >= ibis.date(period.start)) & (col <= ibis.date(period.end))


def _latest_per_person(rows: ir.Table, *order: str) -> ir.Table:
    """One row per person: the latest by ``order``, so each person sits in one cell."""
    rank = ibis.row_number().over(
        group_by=rows.person_id, order_by=[ibis.desc(rows[o]) for o in order]
    )
    ranked = rows.mutate(_rank=rank)
    return ranked.filter(ranked._rank == 0).drop("_rank").mutate(_unit=ranked.person_id)


def _episode(rows: ir.Table) -> ir.Table:
    # The same episode repeated in later returns is one episode.
    return rows.mutate(_unit=rows.provider_code.concat(":", rows.episode_id))


def _latest_state(rows: ir.Table) -> ir.Table:
    """Each episode as it last stood: a quarterly return shows an episode open until the
    return in which it ends, so an earlier return's open row must not keep it open."""
    rank = ibis.row_number().over(
        group_by=[rows.provider_code, rows.episode_id],
        order_by=[rows.discharge_date.isnull(), ibis.desc(rows.discharge_date),
                  ibis.desc(rows._submission_id), ibis.desc(rows._row)],
    )
    ranked = rows.mutate(_rank=rank)
    return ranked.filter(ranked._rank == 0).drop("_rank")


def in_treatment(rows: ir.Table, period: Period) -> ir.Table:
    rows = _latest_state(rows)
    open_ = (rows.treatment_start_date <= ibis.date(period.end)) & (
        rows.discharge_date.isnull() | (rows.discharge_date >= ibis.date(period.start))
    )
    chosen = rows.filter(open_)
    return _latest_per_person(chosen, "treatment_start_date", "provider_code", "episode_id")


def new_presentations(rows: ir.Table, period: Period) -> ir.Table:
    return _episode(rows.filter(_between(rows.treatment_start_date, period)))


def successful_completions(rows: ir.Table, period: Period) -> ir.Table:
    done = _between(rows.discharge_date, period) & rows.discharge_reason.isin(COMPLETED)
    return _episode(rows.filter(done))


def _band(days: ir.IntegerValue, edges: tuple[tuple[int, str], ...], last: str) -> ir.StringValue:
    return ibis.cases(*((days <= upper, label) for upper, label in edges), else_=last)


def requests(rows: ir.Table, period: Period) -> ir.Table:
    """Requests from new clients ended in the period: DHSC's unique requests with no long-term
    service of the same person and authority open when the request started."""
    events = cld.events_of(rows, period)
    asked = events.filter(events.Event_Type == cld.REQUEST)
    every = cld.history(rows)
    lts = every.filter(cld.long_term(every)).select(
        _p=every.person_id, _la=every.LA_Code, _from=every.Event_Start_Date, _to=every._end
    )
    open_then = (
        (asked.person_id == lts._p)
        & (asked.LA_Code == lts._la)
        & (lts._from <= asked.Event_Start_Date)
        & (lts._to.isnull() | (lts._to >= asked.Event_Start_Date))
    )
    return asked.anti_join(lts, open_then)


def waiting_times(rows: ir.Table, period: Period) -> ir.Table:
    events = cld.events_of(rows, period)
    services = events.filter(
        (events.Event_Type == cld.SERVICE) & _between(events.Event_Start_Date, period)
    )
    every = cld.history(rows)
    asked = every.filter(every.Event_Type == cld.REQUEST).select(
        _p=every.person_id, _la=every.LA_Code, _asked=every.Event_Start_Date
    )
    pairs = services.join(
        asked,
        (services.person_id == asked._p)
        & (services.LA_Code == asked._la)
        & (asked._asked <= services.Event_Start_Date),
    )
    # The wait runs from the person's latest request before the service began.
    latest = pairs.group_by(["_unit", "LA_Code"]).aggregate(
        _from=pairs._asked.max(), _start=pairs.Event_Start_Date.max()
    )
    days = latest._start.delta(latest._from, unit="day")
    band = _band(days, ((7, "0 to 7 days"), (28, "8 to 28 days"), (90, "29 to 90 days")),
                 "91 days or more")
    return latest.mutate(waiting_band=band)


def delayed_discharges(rows: ir.Table, period: Period) -> ir.Table:
    events = cld.events_of(rows, period)
    chosen = events.filter(
        (events.Event_Type == cld.REQUEST)
        & (events.Request_Route_of_Access == "Discharge from hospital")
        & events.Hospital_Discharge_Ready_Date.notnull()
    )
    days = chosen.Event_Start_Date.delta(chosen.Hospital_Discharge_Ready_Date, unit="day")
    band = ibis.cases(
        (days <= 0, "No delay"), (days <= 7, "1 to 7 days"), (days <= 21, "8 to 21 days"),
        else_="22 days or more",
    )
    return chosen.mutate(delay_band=band)


def _year_ending(period: Period) -> dt.date:
    """The first day of the 12 months ending with ``period`` (a CLD return's rolling year)."""
    end = period.end
    return dt.date(end.year, 1, 1) if end.month == 12 else dt.date(end.year - 1, end.month + 1, 1)


def weekly_cost(rows: ir.Table, period: Period) -> ir.Table:
    """Long-term services' planned cost a week over the period: DHSC's cost per week (unit
    cost times the units a week its cost frequency implies) times the share of the period the
    service was open (its weeks clipped to the period), from each authority's return for the
    12 months ending with the period (costs are uplifted: later returns restate them)."""
    events = cld.events_of(rows, period, cover=(_year_ending(period), period.end))
    costed = events.filter(
        cld.long_term(events)
        & events.Unit_Cost.notnull()
        & (events.Unit_Cost != 0)
        & (events.Cost_Frequency_Unit_Type.fill_null("") != "One-off")
    )
    per_week = costed.Unit_Cost.cast("float64").abs() * cld.units_a_week(costed)
    ps, pe = ibis.date(period.start), ibis.date(period.end)
    first = ibis.greatest(costed.Event_Start_Date, ps)
    last = ibis.least(costed._end.fill_null(pe), pe)
    days = last.delta(first, unit="day") + 1
    share = days.cast("float64") / float((period.end - period.start).days + 1)
    valued = costed.mutate(_value=per_week * share, _contributor=costed.person_id)
    return valued.filter(valued._value.notnull() & (valued._value > 0))


SELECTIONS: dict[str, Selection] = {
    "in-treatment": in_treatment,
    "new-presentations": new_presentations,
    "successful-completions": successful_completions,
    "requests": requests,
    "waiting-times": waiting_times,
    "delayed-discharges": delayed_discharges,
    "weekly-cost": weekly_cost,
}
