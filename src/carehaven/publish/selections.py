"""Which rows a publication counts in a period: one Ibis expression per named selection.

Each selection takes a dataset's personal-tier events (person_id, no identifier) and a period,
and returns the rows to count with a ``_unit`` column (what makes a row one of the things
counted: a person, an episode, an event) and, for value tables, ``_value`` and ``_contributor``
(the person whose amount it is, for the dominance rule). Derived dimension fields (a waiting-time
band) are added here too. Tables must be additive for the intruder check to mean anything, so
a table counting people gives each person one row: their latest in the period.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from carehaven.collection.period import Period

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


def in_treatment(rows: ir.Table, period: Period) -> ir.Table:
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


def _event(rows: ir.Table) -> ir.Table:
    return rows.mutate(_unit=rows.LA_Code.concat(":", rows.Event_Reference))


def requests(rows: ir.Table, period: Period) -> ir.Table:
    asked = (rows.Event_Type == "Request") & _between(rows.Event_Start_Date, period)
    return _event(rows.filter(asked))


def _band(days: ir.IntegerValue, edges: tuple[tuple[int, str], ...], last: str) -> ir.StringValue:
    return ibis.cases(*((days <= upper, label) for upper, label in edges), else_=last)


def waiting_times(rows: ir.Table, period: Period) -> ir.Table:
    services = rows.filter((rows.Event_Type == "Service") & _between(rows.Event_Start_Date, period))
    asked = rows.filter(rows.Event_Type == "Request").select(
        _p=rows.person_id, _la=rows.LA_Code, _asked=rows.Event_Start_Date
    )
    pairs = services.join(
        asked,
        (services.person_id == asked._p)
        & (services.LA_Code == asked._la)
        & (asked._asked <= services.Event_Start_Date),
    )
    # The wait runs from the person's latest request before the service began.
    latest = pairs.group_by([*ROW_UNIT, "LA_Code", "Event_Reference"]).aggregate(
        _from=pairs._asked.max(), _start=pairs.Event_Start_Date.max()
    )
    days = latest._start.delta(latest._from, unit="day")
    band = _band(days, ((7, "0 to 7 days"), (28, "8 to 28 days"), (90, "29 to 90 days")),
                 "91 days or more")
    return _event(latest.mutate(waiting_band=band))


def delayed_discharges(rows: ir.Table, period: Period) -> ir.Table:
    from_hospital = (
        (rows.Event_Type == "Request")
        & (rows.Request_Route_of_Access == "Discharge from hospital")
        & rows.Hospital_Discharge_Ready_Date.notnull()
        & _between(rows.Event_Start_Date, period)
    )
    chosen = rows.filter(from_hospital)
    days = chosen.Event_Start_Date.delta(chosen.Hospital_Discharge_Ready_Date, unit="day")
    band = ibis.cases(
        (days <= 0, "No delay"), (days <= 7, "1 to 7 days"), (days <= 21, "8 to 21 days"),
        else_="22 days or more",
    )
    return _event(chosen.mutate(delay_band=band))


def weekly_cost(rows: ir.Table, period: Period) -> ir.Table:
    end = ibis.date(period.end)
    open_ = (
        (rows.Event_Type == "Service")
        & (rows.Event_Start_Date <= end)
        & (rows.Event_End_Date.isnull() | (rows.Event_End_Date >= end))
        & rows.Unit_Cost.notnull()
        & rows.Planned_units_per_week.notnull()
    )
    chosen = rows.filter(open_)
    value = (chosen.Unit_Cost * chosen.Planned_units_per_week).cast("float64")
    return _event(chosen.mutate(_value=value, _contributor=chosen.person_id))


SELECTIONS: dict[str, Selection] = {
    "in-treatment": in_treatment,
    "new-presentations": new_presentations,
    "successful-completions": successful_completions,
    "requests": requests,
    "waiting-times": waiting_times,
    "delayed-discharges": delayed_discharges,
    "weekly-cost": weekly_cost,
}
