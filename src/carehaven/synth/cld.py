"""Adult social care client level data (``cld-event``): requests, assessments, services, reviews.

Each quarterly file is a rolling 12-month return: every event of a person living in the
authority that was under way at some time in the 12 months, as it stood on the last day.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from carehaven.specs import load_spec
from carehaven.synth.codebook import Codebook, codebook
from carehaven.synth.dates import add_years, iso, swapped_day_month, years_between
from carehaven.synth.geography import authority
from carehaven.synth.periods import Period
from carehaven.synth.population import Home, Person
from carehaven.synth.table import Table, generic_value

DATASET = "cld-event"
REQUEST, ASSESSMENT, SERVICE, REVIEW = "request", "assessment", "service", "review"
_ORDER = {REQUEST: 0, ASSESSMENT: 1, SERVICE: 2, REVIEW: 3}


@dataclass
class CareRecord:
    """What one authority's case management system holds about one person."""

    la: str
    person: Person
    ref: str
    carer: bool
    psr: str
    accommodation: str
    employment: str
    has_carer: str
    mental_health: str
    given: str
    family: str
    born: int
    closures: list[tuple[int, int | None]] = field(default_factory=list)  # (closed, reopened)
    left: int | None = None  # the day the person moved out of the authority

    def closure_on(self, day: int) -> int | None:
        shown = None
        for closed, reopened in self.closures:
            if closed <= day and (reopened is None or reopened > day):
                shown = closed
        return shown

    def home_on(self, day: int) -> Home:
        """The address the authority holds on ``day``: the last one it knew in its area."""
        if self.left is not None:
            day = min(day, self.left - 1)
        homes = self.person.homes
        best = next((h for h in homes if h.la == self.la), homes[0])
        for h in homes:
            if h.since <= day and h.la == self.la:
                best = h
        return best


@dataclass
class CareEvent:
    record: CareRecord
    kind: str
    start: int
    end: int | None  # None: a service still going on the last day generated
    outcome: str  # when finished
    ongoing: str  # a service's outcome while it goes on
    details: dict[str, str]


class Codes:
    """The CLD code lists the generator uses, found by meaning in the descriptor."""

    def __init__(self, cb: Codebook) -> None:
        o = "Event_Outcome"
        self.kind = {k: cb.code("Event_Type", k) for k in (REQUEST, ASSESSMENT, SERVICE, REVIEW)}
        self.to_assessment = cb.code(o, "progress to assessment")
        self.to_reablement = cb.code(o, "reablement")
        self.to_services = cb.code(o, "support planning")
        self.nfa = tuple(cb.code(o, "nfa", w) for w in ("information", "declined", "self-funded"))
        self.nfa_other = cb.code(o, "nfa", "other reason")
        self.no_eligible = cb.code(o, "nfa", "no eligible")
        self.deceased = cb.code(o, "nfa", "deceased")
        self.moved = cb.code(o, "nfa", "moved")
        self.provision = cb.code(o, "provision of service")
        self.ended = cb.code(o, "ended as planned")
        self.ended_other = cb.code(o, "service ended", "other reason")
        self.no_change = cb.code(o, "no change")
        self.change = cb.code(o, "change in package", exclude=("no change",))
        r = "Request_Route_of_Access"
        self.hospital = cb.code(r, "discharge from hospital")
        self.diversion = cb.code(r, "diversion")
        self.community = cb.code(r, "community")
        self.self_funder = cb.code(r, "self-funder")
        self.transition = cb.code(r, "transition")
        self.prison_route = cb.code(r, "prison")
        a = "Assessment_Type"
        self.long_term_assessment = cb.code(a, "long term")
        self.short_term_assessment = cb.code(a, "short term")
        self.carer_assessment = cb.code(a, "carer assessment")
        s, c = "Service_Type", "Service_Component"
        self.community_service = cb.code(s, "long term", "community")
        self.residential = cb.code(s, "long term", "residential")
        self.nursing = cb.code(s, "long term", "nursing")
        self.st_max = cb.code(s, "st-max")
        self.low_level = cb.code(s, "low level")
        self.carer_direct = cb.code(s, "carer support", "direct")
        self.long_term = tuple(c for c in cb.enum(s) if c.lower().startswith("long term"))
        self.components = {
            w: cb.code(c, w, exclude=("short term",))
            for w in (
                "home support",
                "day care",
                "supported living",
                "residential care",
                "nursing care",
                "respite",
                "reablement",
                "equipment",
                "meals",
            )
        }
        self.other_component = cb.code(c, "another service component")
        d = "Delivery_Mechanism"
        self.delivery = (
            cb.code(d, "commissioned"),
            cb.code(d, "direct payment"),
            cb.code(d, "managed personal budget"),
            cb.code(d, "provided support"),
            cb.code(d, "individual service fund"),
        )
        f = "Cost_Frequency_Unit_Type"
        self.hourly = cb.code(f, "hourly")
        self.daily = cb.code(f, "daily")
        self.weekly = cb.code(f, "weekly", exclude=("4-weekly", "four"))
        rr = "Review_Reason"
        self.planned = cb.code(rr, "planned", exclude=("unplanned",))
        self.unplanned = cb.code(rr, "unplanned")
        self.safeguarding = cb.code(rr, "safeguarding")
        p = "Primary_Support_Reason"
        self.psr_weights = [
            (cb.code(p, "personal care"), 40.0),
            (cb.code(p, "access and mobility"), 10.0),
            (cb.code(p, "memory"), 12.0),
            (cb.code(p, "learning disability"), 9.0),
            (cb.code(p, "mental health"), 12.0),
            (cb.code(p, "visual"), 1.5),
            (cb.code(p, "hearing"), 1.5),
            (cb.code(p, "dual"), 0.5),
            (cb.code(p, "social isolation"), 5.0),
            (cb.code(p, "asylum"), 0.5),
        ]
        self.substance_psr = cb.code(p, "substance misuse")
        self.mental_health_psr = cb.code(p, "mental health")
        self.learning_psr = cb.code(p, "learning disability")
        h = "Accommodation_Status"
        self.accommodation = [
            (cb.code(h, "owner occupier"), 30.0),
            (cb.code(h, "tenant"), 35.0),
            (cb.code(h, "settled", "family", exclude=("unsettled",)), 18.0),
            (cb.code(h, "supported accommodation"), 6.0),
            (cb.code(h, "sheltered"), 6.0),
            (cb.code(h, "registered care home"), 3.0),
            (cb.code(h, "unknown"), 2.0),
        ]
        self.unsettled = cb.find(h, "unsettled")
        self.retired = cb.code("Employment_Status", "retired")
        self.employment_unknown = cb.code("Employment_Status", "unknown", exclude=("hours",))
        self.service_user = cb.code("Client_Type", "service user")
        self.carer = cb.code("Client_Type", "carer", exclude=("association",))
        self.gender = {
            "male": cb.label_is("Gender", "male"),
            "female": cb.label_is("Gender", "female"),
            "not stated": cb.code("Gender", "not stated"),
        }
        self.ethnicity: dict[str, str] = {}
        labels = cb.spec.field("Ethnicity").codes or {}
        for code in cb.enum("Ethnicity"):
            if m := re.search(r"category (\w+)", labels.get(code, "")):
                self.ethnicity[m.group(1)] = code
        self.unknown_ethnicity = cb.code("Ethnicity", "not known")


class SocialCare:
    """Builds care histories for people known to adult social care, then the rolling returns."""

    def __init__(self, seed: int, history_from: int, last_day: int) -> None:
        """``history_from``: the first day of the earliest rolling year to be returned."""
        self.rng = random.Random(f"{seed}/{DATASET}")
        self.history_from, self.last_day = history_from, last_day
        self.spec = load_spec(DATASET)
        self.cb = codebook(DATASET)
        self.codes = Codes(self.cb)
        self.records: dict[tuple[str, str], CareRecord] = {}
        self.events: list[CareEvent] = []
        self._refs: dict[str, int] = {}

    # -- records --------------------------------------------------------------------------
    def _record(self, p: Person, la: str) -> CareRecord:
        key = (la, p.pid)
        rec = self.records.get(key)
        if rec is not None:
            rec.left = None
            return rec
        rng, k, cb = self.rng, self.codes, self.cb
        n = self._refs.get(la, rng.randint(100000, 900000)) + rng.randint(1, 40)
        self._refs[la] = n
        age = years_between(p.born, self.last_day)
        if p.treatment:
            psr = k.substance_psr if rng.random() < 0.5 else k.mental_health_psr
        else:
            codes, weights = zip(*k.psr_weights, strict=True)
            psr = rng.choices(codes, weights)[0]
        acc_codes, acc_weights = zip(*k.accommodation, strict=True)
        accommodation = rng.choices(acc_codes, acc_weights)[0]
        if p.treatment and k.unsettled and rng.random() < 0.3:
            accommodation = rng.choice(k.unsettled)
        if age >= 66:
            employment = k.retired
        else:
            employment = "" if rng.random() < 0.1 else cb.any("Employment_Status", rng)
            if not employment and psr == k.learning_psr:
                # Required for a person of working age with a learning disability (DHSC CLD
                # guidance; employment-status-required): an authority that has not recorded
                # it returns Unknown.
                employment = k.employment_unknown
        born = p.born
        if rng.random() < 0.015 and (alt := swapped_day_month(born)) is not None:
            born = alt
        mh = psr == k.mental_health_psr or rng.random() < 0.08
        rec = CareRecord(
            la=la,
            person=p,
            ref=f"{authority(la).name[:3].upper()}{n:07d}",
            carer=rng.random() < 0.07 and not p.treatment,
            psr=psr,
            accommodation=accommodation,
            employment=employment,
            has_carer=cb.any("Has_Unpaid_Carer", rng),
            mental_health=cb.yes("Mental_Health_Record") if mh else cb.no("Mental_Health_Record"),
            given="" if rng.random() < 0.04 else p.first,
            family="" if rng.random() < 0.01 else p.last,
            born=born,
        )
        self.records[key] = rec
        return rec

    # -- histories ------------------------------------------------------------------------
    def add_person(self, p: Person) -> None:
        rng = self.rng
        adult = add_years(p.born, 18)
        # Established clients have had a service since before the first rolling year; the rest
        # come to the authority during it. Either way everyone is in at least one return.
        established = rng.random() < 0.45 and adult < self.history_from - 60
        if established:
            start = rng.randint(max(adult, self.history_from - 1800), self.history_from - 60)
        else:
            last = self.last_day - 10 if p.died is None else min(self.last_day - 10, p.died)
            start = rng.randint(max(adult, self.history_from), max(adult, self.history_from, last))
        while start <= self.last_day and p.alive_on(start):
            la = p.home_at(start).la
            moved = next((h.since for h in p.homes if h.since > start and h.la != la), None)
            cutoff = p.died if p.died is not None else None
            if moved is not None and (cutoff is None or moved <= cutoff):
                cutoff = moved - 1
            rec = self._record(p, la)
            case = self._case(rec, start, established)
            established = False
            case = self._cut(case, cutoff, moved is not None and cutoff == moved - 1)
            if not case:
                break
            self.events.extend(case)
            last_end = max((e.end if e.end is not None else self.last_day + 1) for e in case)
            if moved is not None and cutoff == moved - 1:
                rec.left = moved
                if rng.random() < 0.6:
                    self._close(rec, moved + rng.randint(0, 30))
                start = moved + rng.randint(14, 90)
                continue
            if p.died is not None and cutoff == p.died:
                if rng.random() < 0.85:
                    self._close(rec, p.died + rng.randint(0, 30))
                break
            if last_end > self.last_day:
                break
            if rng.random() < 0.6:
                self._close(rec, last_end + rng.randint(0, 60))
            if rng.random() >= 0.25:
                break
            start = last_end + rng.randint(60, 400)

    def add_further_requests(self, seed: int) -> None:
        """Requests from existing clients: some people with a long-term service ask for more
        support while it goes on (DHSC counts these apart from new clients' requests). Drawn
        from a stream of their own, so the histories above stay as they were."""
        rng, k = random.Random(f"{seed}/{DATASET}/further"), self.codes
        for ev in list(self.events):
            if ev.kind != SERVICE or not ev.details["Service_Type"].startswith("Long Term"):
                continue
            until = min(ev.end if ev.end is not None else self.last_day, self.last_day) - 11
            if until - ev.start < 60 or rng.random() >= 0.2:
                continue
            start = rng.randint(max(ev.start + 30, self.history_from), max(
                ev.start + 30, self.history_from, until))
            if start > until:
                continue
            outcome = k.nfa[0]
            details = {"Request_Route_of_Access": k.community}
            self.events.append(
                CareEvent(ev.record, REQUEST, start, start + rng.randint(0, 10), outcome,
                          outcome, details)
            )

    def _close(self, rec: CareRecord, day: int) -> None:
        if rec.closures and rec.closures[-1][1] is None:
            return
        rec.closures.append((day, None))

    def _reopen(self, rec: CareRecord, day: int) -> None:
        if rec.closures and rec.closures[-1][1] is None and rec.closures[-1][0] < day:
            closed, _ = rec.closures[-1]
            rec.closures[-1] = (closed, day)

    def _case(self, rec: CareRecord, start: int, established: bool) -> list[CareEvent]:
        """Request, then perhaps assessment, service and reviews, in time order."""
        rng, k, p = self.rng, self.codes, rec.person
        self._reopen(rec, start)
        age = years_between(p.born, start)
        events: list[CareEvent] = []
        end = start + rng.randint(0, 10)
        r = rng.random()
        details: dict[str, str]
        if rec.carer:
            details = {"Request_Route_of_Access": k.community}
        elif r < 0.22:
            details = {"Request_Route_of_Access": k.hospital}
            if rng.random() < 0.85:  # not every authority records when the person was ready
                details["Hospital_Discharge_Ready_Date"] = iso(rng.randint(start, end))
        elif r < 0.27:
            details = {"Request_Route_of_Access": k.diversion}
        elif r < 0.30:
            details = {"Request_Route_of_Access": k.self_funder}
        elif r < 0.33 and age < 26:
            details = {"Request_Route_of_Access": k.transition}
        elif r < 0.35 and p.offending:
            details = {"Request_Route_of_Access": k.prison_route}
        else:
            details = {"Request_Route_of_Access": k.community}
        if rng.random() < 0.5:
            details["Primary_Support_Reason"] = ""
        r = rng.random()
        outcome = (
            k.to_assessment
            if r < 0.62 or rec.carer or established
            else k.to_reablement
            if r < 0.72
            else rng.choice((*k.nfa, k.nfa_other))
        )
        events.append(CareEvent(rec, REQUEST, start, end, outcome, outcome, details))
        if outcome == k.to_reablement:
            s = end + rng.randint(0, 7)
            e = s + rng.randint(7, 42)
            events.append(self._service(rec, s, e, k.st_max, k.components["reablement"]))
            end = e
            if rng.random() < 0.5:
                return events
        elif outcome != k.to_assessment:
            return events
        s = end + rng.randint(0, 28)
        e = s + rng.randint(0, 21)
        eligible = rng.random() < 0.78 or established
        kind = (
            k.carer_assessment
            if rec.carer
            else k.long_term_assessment
            if rng.random() < 0.85
            else k.short_term_assessment
        )
        yes, no = self.cb.yes("Eligible_Needs_Identified"), self.cb.no("Eligible_Needs_Identified")
        events.append(
            CareEvent(
                rec,
                ASSESSMENT,
                s,
                e,
                k.to_services if eligible else k.no_eligible,
                "",
                {
                    "Assessment_Type": kind,
                    "Eligible_Needs_Identified": yes if eligible else no,
                    "Method_of_Assessment": self.cb.any("Method_of_Assessment", rng),
                },
            )
        )
        if not eligible:
            return events
        s = e + rng.randint(0, 35)
        ongoing = rng.random() < 0.55 or established
        e2: int | None = None if ongoing else s + rng.randint(60, 900)
        if rec.carer:
            service = self._service(
                rec, s, e2, k.carer_direct, rng.choice((k.components["respite"], k.other_component))
            )
        elif age >= 80 and rng.random() < 0.3:
            nursing = rng.random() < 0.4
            service = self._service(
                rec,
                s,
                e2,
                k.nursing if nursing else k.residential,
                k.components["nursing care" if nursing else "residential care"],
            )
        else:
            comp = rng.choices(
                ("home support", "day care", "supported living", "equipment", "meals"),
                (60, 15, 10 if rec.psr == k.learning_psr else 3, 8, 4),
            )[0]
            service = self._service(rec, s, e2, k.community_service, k.components[comp])
        events.append(service)
        horizon = e2 if e2 is not None else self.last_day
        day = s + rng.randint(42, 120)
        while day < horizon:
            rev_end = day + rng.randint(0, 14)
            reason = rng.choices((k.planned, k.unplanned, k.safeguarding), (85, 12, 3))[0]
            out = k.no_change if rng.random() < 0.7 else k.change
            events.append(
                CareEvent(
                    rec,
                    REVIEW,
                    day,
                    rev_end,
                    out,
                    out,
                    {
                        "Review_Reason": reason,
                        "Review_Outcomes_Achieved": self.cb.any("Review_Outcomes_Achieved", rng),
                        "Method_of_Review": self.cb.any("Method_of_Review", rng),
                    },
                )
            )
            day += rng.randint(300, 400)
        return events

    def _service(
        self, rec: CareRecord, start: int, end: int | None, kind: str, component: str
    ) -> CareEvent:
        rng, k = self.rng, self.codes
        details = {
            "Service_Type": kind,
            "Service_Component": component,
            "Delivery_Mechanism": rng.choices(k.delivery, (60, 20, 10, 6, 4))[0],
        }
        costed = rng.random() < 0.85
        if costed or kind in k.long_term:
            # A long-term service always carries its cost (rule long-term-service-cost-required);
            # one the draw left uncosted takes it from a side stream, so nothing else changes.
            src = rng if costed else random.Random(f"cost/{rec.ref}/{start}")
            if component == k.components["home support"]:
                cost, unit, per_week = src.uniform(17.5, 24.5), k.hourly, src.randint(3, 35)
            elif component in (k.components["residential care"], k.components["nursing care"]):
                cost, unit, per_week = src.uniform(650, 1450), k.weekly, 1
            else:
                cost, unit, per_week = src.uniform(30, 80), k.daily, src.randint(1, 5)
            details.update(
                {
                    "Unit_Cost": f"{cost:.2f}",
                    "Cost_Frequency_Unit_Type": unit,
                    "Planned_units_per_week": str(per_week),
                }
            )
        ended = k.ended if rng.random() < 0.6 else k.ended_other
        return CareEvent(rec, SERVICE, start, end, ended, k.provision, details)

    def _cut(self, events: list[CareEvent], cutoff: int | None, moved: bool) -> list[CareEvent]:
        """End the case on the day the person died or left the authority."""
        if cutoff is None:
            return events
        k = self.codes
        kept: list[CareEvent] = []
        for ev in events:
            if ev.start > cutoff:
                continue
            if ev.end is None or ev.end > cutoff:
                ev.end = cutoff
                if ev.kind == SERVICE:
                    ev.outcome = k.ended_other
                elif ev.kind == REVIEW:
                    ev.outcome = ev.ongoing
                else:
                    ev.outcome = k.moved if moved else k.deceased
                ready = ev.details.get("Hospital_Discharge_Ready_Date")
                if ready is not None and date.fromisoformat(ready).toordinal() > cutoff:
                    ev.details["Hospital_Discharge_Ready_Date"] = iso(cutoff)
            kept.append(ev)
        return kept

    # -- returns --------------------------------------------------------------------------
    def tables(self, periods: Sequence[Period]) -> list[Table]:
        spec, k, rng = self.spec, self.codes, self.rng
        names = spec.field_names
        col = {n: i for i, n in enumerate(names)}
        templates: list[list[str]] = []
        for ev in self.events:
            rec, p = ev.record, ev.record.person
            values = {
                "LA_Code": rec.la,
                "LA_Person_Unique_Identifier": rec.ref,
                "NHS_Number": p.nhs,
                "Given_Name": rec.given,
                "Family_Name": rec.family,
                "Date_of_Birth": iso(rec.born),
                "Gender": k.gender[p.sex],
                "Ethnicity": k.ethnicity.get(p.ethnicity, k.unknown_ethnicity),
                "Client_Type": k.carer if rec.carer else k.service_user,
                "Primary_Support_Reason": rec.psr,
                "Accommodation_Status": rec.accommodation,
                "Employment_Status": rec.employment,
                "Has_Unpaid_Carer": rec.has_carer,
                "Mental_Health_Record": rec.mental_health,
                "Event_Type": k.kind[ev.kind],
                "Event_Start_Date": iso(ev.start),
            }
            values.update(ev.details)
            templates.append(
                [
                    values[n]
                    if n in values
                    else ""
                    if n in _PER_FILE or n in _TYPE_SPECIFIC
                    else generic_value(spec, spec.field(n), rng)
                    for n in names
                ]
            )
        order = sorted(
            range(len(self.events)),
            key=lambda i: (
                self.events[i].record.ref,
                self.events[i].start,
                _ORDER[self.events[i].kind],
            ),
        )
        by_la: dict[str, list[int]] = {}
        for i in order:
            by_la.setdefault(self.events[i].record.la, []).append(i)
        return [
            self._table(la, period, by_la[la], templates, col)
            for la in sorted(by_la)
            for period in periods
        ]

    def _table(
        self,
        la: str,
        period: Period,
        order: list[int],
        templates: list[list[str]],
        col: dict[str, int],
    ) -> Table:
        rng = self.rng
        table = Table(DATASET, la, period, self.spec.field_names)
        first = period.rolling_year_start().toordinal()
        last = period.end_ord
        first_iso, last_iso = iso(first), iso(last)
        postcodes: dict[str, str] = {}
        for i in order:
            ev = self.events[i]
            rec = ev.record
            if ev.start > last:
                continue
            if ev.end is not None and ev.end < first:
                continue
            if ev.kind != SERVICE and (ev.end is None or ev.end > last):
                continue
            row = templates[i].copy()
            row[col["Reporting_Period_Start_Date"]] = first_iso
            row[col["Reporting_Period_End_Date"]] = last_iso
            postcode = postcodes.get(rec.ref)
            if postcode is None:
                postcode = postcodes[rec.ref] = rec.home_on(last).postcode
            row[col["Postcode"]] = postcode
            died = rec.person.died
            if died is not None and died <= last:
                row[col["Date_of_Death"]] = iso(died)
            closed = rec.closure_on(last)
            if closed is not None:
                row[col["Case_Closure_Date"]] = iso(closed)
            if rng.random() < 0.9:
                row[col["Event_Reference"]] = f"{rng.randrange(10**8):08d}"
            if ev.end is not None and ev.end <= last:
                row[col["Event_End_Date"]] = iso(ev.end)
                row[col["Event_Outcome"]] = ev.outcome
            else:
                row[col["Event_Outcome"]] = ev.ongoing
            table.add(row, rec.person.pid, event_id(i))
        return table

    def truth(self) -> list[dict[str, str]]:
        """Every true event, once, as it finally stands: what the truth-based tests count
        against, however many rolling returns repeat an event and whatever reference each
        return gives it. ``end`` is empty for a service still going on the last day."""
        k = self.codes
        out = []
        for i, ev in enumerate(self.events):
            rec = ev.record
            out.append({
                "event": event_id(i),
                "la": rec.la,
                "person": rec.person.pid,
                "event_type": k.kind[ev.kind],
                "client_type": k.carer if rec.carer else k.service_user,
                "start": iso(ev.start),
                "end": iso(ev.end) if ev.end is not None and ev.end <= self.last_day else "",
                "outcome": ev.outcome,
                **{name: ev.details.get(name, "") for name in TRUTH_DETAILS},
            })
        return out


def event_id(index: int) -> str:
    """The true identity of a generated event (never written to a return)."""
    return f"CLD{index:07d}"


#: The details of an event the truth keeps (those the published tables use).
TRUTH_DETAILS = (
    "Request_Route_of_Access",
    "Hospital_Discharge_Ready_Date",
    "Assessment_Type",
    "Service_Type",
    "Service_Component",
    "Delivery_Mechanism",
    "Unit_Cost",
    "Cost_Frequency_Unit_Type",
    "Planned_units_per_week",
)

_PER_FILE = frozenset(
    {
        "Reporting_Period_Start_Date",
        "Reporting_Period_End_Date",
        "Postcode",
        "Date_of_Death",
        "Case_Closure_Date",
        "Event_Reference",
        "Event_End_Date",
        "Event_Outcome",
    }
)
_TYPE_SPECIFIC = frozenset(
    {
        "Request_Route_of_Access",
        "Hospital_Discharge_Ready_Date",
        "Assessment_Type",
        "Eligible_Needs_Identified",
        "Method_of_Assessment",
        "Service_Type",
        "Service_Component",
        "Delivery_Mechanism",
        "Unit_Cost",
        "Cost_Frequency_Unit_Type",
        "Planned_units_per_week",
        "Review_Reason",
        "Review_Outcomes_Achieved",
        "Method_of_Review",
    }
)
