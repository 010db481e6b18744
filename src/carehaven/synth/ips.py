"""Individual Placement and Support: who joins, who consents, who finds work (``ips-episode``)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from carehaven.consent.notices import published_versions, version_in_force
from carehaven.specs import load_spec
from carehaven.synth.codebook import SynthSpecError, codebook
from carehaven.synth.dates import iso
from carehaven.synth.names import STAFF, STAFF_POSITIONS
from carehaven.synth.periods import Period
from carehaven.synth.population import Person
from carehaven.synth.table import Table, generic_value
from carehaven.synth.treatment import ClientRecord, Episode

DATASET = "ips-episode"
NOTICE = "ips"


@dataclass
class Placement:
    """One person's time with an IPS service (the truth behind an ``ips-episode`` row)."""

    episode: Episode
    ips_id: str
    start: int
    end: int | None
    consent_date: int | None  # None: the person did not sign the consent form
    notice_version: str
    staff: str
    position: str
    job_start: int | None
    link_episode: bool  # the provider filled episode_id

    @property
    def person(self) -> Person:
        return self.episode.person


class Programme:
    """Chooses IPS participants among people in community treatment and writes their rows."""

    def __init__(self, seed: int, first_day: int, last_day: int) -> None:
        self.rng = random.Random(f"{seed}/{DATASET}")
        self.first_day, self.last_day = first_day, last_day
        self.versions = [v for v in published_versions() if v.notice == NOTICE]
        if not self.versions:
            raise SynthSpecError("carehaven publishes no version of the IPS privacy notice.")
        self.placements: list[Placement] = []

    def _version(self, on: int) -> str | None:
        day = date.fromordinal(on)
        usable = [v.version for v in self.versions if v.published_on <= day]
        if not usable:
            return None
        # The version current that day: one already superseded is a finding (issue 13 item 3).
        # The old draws are still made, so that a seed gives the population it always gave.
        if self.rng.random() >= 0.9:
            self.rng.choice(usable)
        version = usable[-1]
        if not version_in_force(NOTICE, version, day):
            raise SynthSpecError(f"IPS notice version {version} was not in force on {day}.")
        return version

    def choose(self, episodes: Sequence[Episode]) -> list[Placement]:
        rng = self.rng
        latest: dict[str, Episode] = {}
        for ep in episodes:
            if ep.site.service not in ("adult", "alcohol") or ep.person.young:
                continue
            ep_end = ep.discharge if ep.discharge is not None else self.last_day
            if ep_end < self.first_day - 200 or ep.start > self.last_day - 30:
                continue
            best = latest.get(ep.person.pid)
            if best is None or ep.start > best.start:
                latest[ep.person.pid] = ep
        counters: dict[str, int] = {}
        for pid in sorted(latest):
            if rng.random() >= 0.12:
                continue
            ep = latest[pid]
            end_limit = ep.discharge if ep.discharge is not None else self.last_day
            lo, hi = max(ep.start + 7, self.first_day - 300), min(end_limit, self.last_day - 1)
            if lo > hi:
                continue
            start = rng.randint(lo, hi)
            end: int | None = start + rng.randint(90, 560) if rng.random() < 0.55 else None
            died = ep.person.died
            if died is not None and died >= start and (end is None or died < end):
                end = died
            if end is not None and end > self.last_day:
                end = None
            consent_date: int | None = None
            version: str | None = None
            if rng.random() < 0.85:
                consent_date = start - rng.randint(0, 14)
                version = self._version(consent_date)
                if version is None:
                    consent_date = None
            limit = end if end is not None else self.last_day
            job = start + rng.randint(14, 320) if rng.random() < 0.4 else None
            if job is not None and job > limit:
                job = None
            code = ep.site.code
            n = counters.get(code, rng.randint(100, 900)) + 1
            counters[code] = n
            staff_index = (int(code[1:]) * 3 + rng.randrange(3)) % len(STAFF)
            self.placements.append(
                Placement(
                    episode=ep,
                    ips_id=f"IPS{n:06d}",
                    start=start,
                    end=end,
                    consent_date=consent_date,
                    notice_version=version or "",
                    staff=STAFF[staff_index],
                    position=STAFF_POSITIONS[staff_index % len(STAFF_POSITIONS)],
                    job_start=job,
                    link_episode=rng.random() < 0.92,
                )
            )
        self.placements.sort(key=lambda pl: (pl.episode.site.code, pl.ips_id))
        return self.placements

    def tables(
        self, periods: Sequence[Period], clients: dict[tuple[str, str], ClientRecord]
    ) -> list[Table]:
        spec = load_spec(DATASET)
        cb = codebook(DATASET)
        names = spec.field_names
        rng = self.rng
        yes, no = cb.yes("consent_dhsc"), cb.no("consent_dhsc")
        ethnicities = set(cb.enum("ethnicity"))
        out: dict[tuple[str, str], Table] = {}
        for pl in self.placements:
            p, ep = pl.person, pl.episode
            client = clients[ep.key]
            signed = pl.consent_date is not None
            values = {
                "provider_code": ep.site.code,
                "client_ref": client.client_ref,
                "ips_id": pl.ips_id,
                # Only an episode the provider's NDTMS returns hold can be named (the
                # reference rule ips-episode-known): one closed before them is left out.
                "episode_id": ep.episode_id if pl.link_episode and _returned(ep, periods) else "",
                "ips_start_date": iso(pl.start),
                "ips_end_date": "",
                "consent_dhsc": yes if signed else no,
                "consent_date": iso(pl.consent_date) if pl.consent_date is not None else "",
                "consent_notice_version": pl.notice_version,
                "consent_obtained_by": pl.staff if signed else "",
                "consent_obtained_by_position": pl.position if signed else "",
                "initials": client.initials,
                "date_of_birth": iso(client.born),
                "sex": cb.label_is("sex", p.sex),
                "postcode": p.home_at(pl.start).postcode if signed else "",
                "nino": p.nino if signed else "",
                "ethnicity": p.ethnicity
                if p.ethnicity in ethnicities and rng.random() > 0.05
                else "",
                "job_start_date": "",
            }
            row = [
                values[n] if n in values else generic_value(spec, spec.field(n), rng) for n in names
            ]
            end_col, job_col = names.index("ips_end_date"), names.index("job_start_date")
            for period in periods:
                if pl.start > period.end_ord or (pl.end is not None and pl.end < period.start_ord):
                    continue
                cells = row.copy()
                if pl.end is not None and pl.end <= period.end_ord:
                    cells[end_col] = iso(pl.end)
                if pl.job_start is not None and pl.job_start <= period.end_ord:
                    cells[job_col] = iso(pl.job_start)
                key = (ep.site.code, period.label)
                table = out.get(key)
                if table is None:
                    table = out[key] = Table(DATASET, ep.site.code, period, names)
                table.add(cells, p.pid)
        return [out[k] for k in sorted(out)]


def _returned(ep: Episode, periods: Sequence[Period]) -> bool:
    """Whether ``ep`` is in one of the periods' ``ndtms-episode`` returns (open in, or closed
    during, a period: ``ndtms.EpisodeRows.tables``)."""
    return any(
        ep.start <= p.end_ord and (ep.discharge is None or ep.discharge >= p.start_ord)
        for p in periods
    )
