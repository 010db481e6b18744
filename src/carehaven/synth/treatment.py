"""Treatment journeys (the truth behind NDTMS returns): episodes, transfers, repeats, custody.

Reasons and referral routes here are meanings ("transferred", "prison", "criminal-justice");
:mod:`carehaven.synth.ndtms` turns them into the descriptor's codes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from carehaven.synth.dates import swapped_day_month, years_between
from carehaven.synth.geography import NO_FIXED_ABODE, authority
from carehaven.synth.organisations import SITES, Site, site
from carehaven.synth.population import Person

_COMMUNITY = tuple(s for s in SITES if s.service in ("adult", "alcohol"))
_LETTERS = "ABCDEFGHIJKLMNOPRSTWY"


@dataclass
class Episode:
    site: Site
    person: Person
    referral: int
    triage: int | None
    start: int
    discharge: int | None
    reason: str | None  # completed, dropout, declined, withdrawn, other, transferred, prison, died
    route: str  # community, transfer, criminal-justice, prison, released
    transferred_from: str
    nfa: bool
    district: str  # at the start of the episode, ZZ99 for no fixed abode
    la: str
    consent: bool = True
    episode_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.site.code, self.person.pid)


@dataclass
class ClientRecord:
    """What one provider's case management system holds about one person."""

    client_ref: str
    initials: str  # as the provider wrote them: now and then one letter is wrong
    born: int  # as the provider wrote it: now and then day and month are swapped


class Journeys:
    """Builds every treatment episode for a population, in a fixed order."""

    def __init__(self, seed: int, first_day: int, last_day: int) -> None:
        self.rng = random.Random(f"{seed}/treatment")
        self.first_day = first_day
        self.last_day = last_day
        self.episodes: list[Episode] = []

    # -- choosing where people are treated ------------------------------------------------
    def _community_site(self, p: Person, day: int, exclude: str = "") -> Site:
        rng = self.rng
        la = p.home_at(day).la
        if rng.random() < 0.08:  # mostly near home, sometimes across the boundary
            la = rng.choice(authority(la).neighbours)
        local = [s for s in _COMMUNITY if la in s.serves and s.code != exclude]
        if p.alcohol:
            local = [s for s in local if s.service == "alcohol"] or local
        else:
            local = [s for s in local if s.service == "adult"] or local
        if not local:
            near = authority(p.home_at(day).la).neighbours
            local = [s for s in _COMMUNITY if s.serves[0] in near and s.code != exclude]
        if not local:
            local = [s for s in _COMMUNITY if s.code != exclude]
        return rng.choice(local)

    @staticmethod
    def _special_site(service: str, p: Person, day: int) -> Site | None:
        la = p.home_at(day).la
        for s in SITES:
            if s.service == service and la in s.serves:
                return s
        return None

    def _duration(self, s: Site) -> int:
        rng = self.rng
        if s.service == "prison":
            return rng.randint(20, 420)
        if s.service == "criminal-justice":
            return rng.randint(7, 120)
        if s.service == "young-people":
            return rng.randint(45, 330)
        return min(1800, 21 + int(rng.expovariate(1 / 260)))

    def _reason(self, s: Site, p: Person, end: int) -> str:
        rng = self.rng
        r = rng.random()
        if s.service == "prison":
            return "transferred" if r < 0.6 else ("completed" if r < 0.85 else "other")
        if s.service == "criminal-justice":
            return "transferred" if r < 0.7 else ("dropout" if r < 0.9 else "declined")
        if s.service == "young-people":
            if years_between(p.born, end) >= 18:
                return "transferred"
            return "completed" if r < 0.6 else "dropout"
        if r < 0.40:
            return "completed"
        if r < 0.67:
            return "dropout"
        if r < 0.77:
            return "transferred"
        if r < 0.82 and p.offending:
            return "prison"
        if r < 0.86:
            return "declined"
        if r < 0.89:
            return "withdrawn"
        return "other"

    # -- one person -----------------------------------------------------------------------
    def _first_site(self, p: Person, day: int) -> tuple[Site, str]:
        if p.young:
            return site("P008"), "community"
        r = self.rng.random()
        if p.offending and r < 0.45:
            special = self._special_site("prison" if r < 0.12 else "criminal-justice", p, day)
            if special is not None:
                return special, "prison" if r < 0.12 else "criminal-justice"
        return self._community_site(p, day), "community"

    def _ending(
        self, p: Person, where: Site, start: int, end: int
    ) -> tuple[int | None, str | None]:
        """Discharge day and reason for an episode planned to end on ``end``."""
        if p.died is not None and p.died <= end:
            return max(p.died, start), "died"
        if end > self.last_day:
            return None, None
        return end, self._reason(where, p, end)

    def add_person(self, p: Person) -> None:
        rng = self.rng
        first_day, last_day = self.first_day, self.last_day
        # Some are already in treatment when the first period starts (more likely the longer
        # their episode: a steady caseload), the rest arrive during the periods.
        where, route = self._first_site(p, first_day)
        planned = self._duration(where)
        if rng.random() < min(0.95, 0.55 * planned / 280):
            start = first_day - rng.randint(0, planned)
        else:
            latest = last_day - 7 if p.died is None else min(last_day - 7, p.died)
            start = rng.randint(first_day, max(first_day, latest))
            where, route = self._first_site(p, start)
            planned = self._duration(where)
        transferred_from = ""
        previous_end: int | None = None
        handover = False  # this episode follows straight on from the previous one
        first = True
        mine: list[Episode] = []
        while start <= last_day and p.alive_on(start):
            if handover and previous_end is not None:
                referral = previous_end
            else:
                referral = start - rng.randint(0, 35)
                if previous_end is not None:
                    referral = max(referral, previous_end + 1)
            triage = rng.randint(referral, start) if rng.random() < 0.8 else None
            duration = planned if first else self._duration(where)
            end, reason = self._ending(p, where, start, start + duration)
            home = p.home_at(start)
            nfa = where.service in ("adult", "alcohol") and rng.random() < 0.025
            ep = Episode(
                site=where,
                person=p,
                referral=referral,
                triage=triage,
                start=start,
                discharge=end,
                reason=reason,
                route=route,
                transferred_from=transferred_from,
                nfa=nfa,
                district=NO_FIXED_ABODE if nfa else home.district,
                la=home.la,
                consent=rng.random() >= 0.04,
            )
            mine.append(ep)
            first = False
            if end is None or reason == "died":
                break
            previous_end = end
            transferred_from = ""
            handover = reason in ("transferred", "prison")
            nxt: Site | None
            if reason == "transferred":
                nxt = self._community_site(p, end, exclude=where.code)
                transferred_from = where.code
                route = "released" if where.service == "prison" else "transfer"
                if where.service == "criminal-justice":
                    route = "criminal-justice"
                start = end + rng.randint(0, 14)
            elif reason == "prison":
                nxt = self._special_site("prison", p, end)
                route = "prison"
                start = end + rng.randint(0, 3)
            elif rng.random() < 0.3:
                start = end + rng.randint(30, 450)
                nxt = where
                if where.service != "young-people" and rng.random() < 0.4:
                    nxt = self._community_site(p, start)
                if where.service == "young-people" and years_between(p.born, start) >= 18:
                    nxt = self._community_site(p, start)
                route = "community"
            else:
                break
            if nxt is None:
                break
            where = nxt
        if not p.young and mine and rng.random() < 0.07:
            self._add_concurrent(p, mine)
        self.episodes.extend(mine)

    def _add_concurrent(self, p: Person, mine: list[Episode]) -> None:
        """A second episode at another provider while the first is open."""
        rng = self.rng
        host = rng.choice(mine)
        if host.site.service not in ("adult", "alcohol"):
            return
        host_end = host.discharge if host.discharge is not None else self.last_day
        lo = max(host.start + 14, self.first_day - 120)
        if lo >= host_end:
            return
        start = rng.randint(lo, host_end - 1)
        where = self._community_site(p, start, exclude=host.site.code)
        end, reason = self._ending(p, where, start, start + rng.randint(30, 300))
        if reason is not None and reason != "died":
            reason = "completed" if rng.random() < 0.5 else "dropout"
        clash_end = self.last_day if end is None else end
        for other in mine:
            other_end = self.last_day if other.discharge is None else other.discharge
            if other.site is where and other.start <= clash_end and start <= other_end:
                return
        home = p.home_at(start)
        referral = start - rng.randint(0, 21)
        mine.append(
            Episode(
                site=where,
                person=p,
                referral=referral,
                triage=referral if rng.random() < 0.5 else None,
                start=start,
                discharge=end,
                reason=reason,
                route="community",
                transferred_from="",
                nfa=False,
                district=home.district,
                la=home.la,
                consent=rng.random() >= 0.04,
            )
        )

    # -- after everyone -------------------------------------------------------------------
    def number(self) -> dict[tuple[str, str], ClientRecord]:
        """Give episodes their ids and people their client records, provider by provider."""
        rng = self.rng
        self.episodes.sort(key=lambda e: (e.site.code, e.referral, e.person.pid, e.start))
        clients: dict[tuple[str, str], ClientRecord] = {}
        counters: dict[str, int] = {}
        refs: dict[str, int] = {}
        for ep in self.episodes:
            code = ep.site.code
            n = counters.get(code, rng.randint(1000, 40000)) + rng.randint(1, 3)
            counters[code] = n
            ep.episode_id = f"{code}-E{n:07d}"
            if ep.key not in clients:
                r = refs.get(code, rng.randint(10000, 90000)) + rng.randint(1, 9)
                refs[code] = r
                clients[ep.key] = self._client(ep, f"{ep.site.client_prefix}{r:07d}")
        return clients

    def _client(self, ep: Episode, ref: str) -> ClientRecord:
        rng = self.rng
        p = ep.person
        initials = p.initials
        if rng.random() < 0.03:
            pos = rng.randrange(2)
            letter = rng.choice(_LETTERS.replace(initials[pos], ""))
            initials = initials[:pos] + letter + initials[pos + 1 :]
        born = p.born
        if rng.random() < 0.02 and (alt := swapped_day_month(p.born)) is not None:
            born = alt
        return ClientRecord(ref, initials, born)
