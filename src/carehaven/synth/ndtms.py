"""NDTMS returns: ``ndtms-episode`` and ``ndtms-review`` rows from treatment episodes."""

from __future__ import annotations

import random
from collections.abc import Sequence

from carehaven.specs import load_spec
from carehaven.synth.codebook import codebook
from carehaven.synth.dates import iso
from carehaven.synth.periods import Period
from carehaven.synth.table import Table, blank_rules, bounded, generic_value
from carehaven.synth.treatment import ClientRecord, Episode

EPISODE = "ndtms-episode"
REVIEW = "ndtms-review"


def _opt(rng: random.Random, value: str, missing: float) -> str:
    """``value``, or empty for a share ``missing`` of records (optional fields left blank)."""
    return "" if rng.random() < missing else value


class EpisodeRows:
    """Turns episodes into ``ndtms-episode`` rows (static part once, dates per period)."""

    def __init__(self, seed: int, clients: dict[tuple[str, str], ClientRecord]) -> None:
        self.spec = spec = load_spec(EPISODE)
        self.cb = cb = codebook(EPISODE)
        self.rng = random.Random(f"{seed}/{EPISODE}")
        self.clients = clients
        self.names = spec.field_names
        self.index = {n: i for i, n in enumerate(self.names)}
        self.blank = blank_rules(spec)
        self.yes, self.no = cb.yes("consent_ndtms"), cb.no("consent_ndtms")
        s = "substance_1"
        self.heroin, self.crack = cb.code(s, "heroin"), cb.code(s, "crack")
        self.cocaine, self.cannabis = cb.code(s, "cocaine powder"), cb.code(s, "cannabis")
        self.alcohol = cb.code(s, "alcohol")
        self.opiates = (self.heroin, *cb.find(s, "opioid"), *cb.find(s, "methadone"))
        m = "treatment_modality"
        self.pharm, self.psycho = cb.code(m, "pharmacological"), cb.code(m, "psychosocial")
        self.modalities = cb.enum(m)
        self.student = cb.code("employment_status", "student")
        i = "injecting_status"
        self.injecting = (
            cb.code(i, "currently injecting"),
            cb.code(i, "previously"),
            cb.code(i, "never"),
        )
        self.nfa_need = cb.code("accommodation_need", "no fixed abode")
        self.other_needs = tuple(c for c in cb.enum("accommodation_need") if c != self.nfa_need)
        d = "disability"
        self.no_disability = cb.code(d, "no disability")
        self.disabilities = tuple(
            c for c in cb.enum(d) if c not in (self.no_disability, *cb.find(d, "not stated"))
        )
        r = "referral_source"
        self.cj_sources = cb.find(r, "criminal justice", exclude=("prison",))
        self.prison_source = cb.code(r, "criminal justice", "prison")
        self.transfer_source = cb.code(r, "treatment provider")
        self.self_source = cb.code(r, "self-referral")
        self.community_sources = tuple(
            c
            for c in cb.enum(r)
            if c not in (*self.cj_sources, self.prison_source, self.transfer_source)
        )
        self.community_weights = [
            8.0 if c == self.self_source else 1.0 for c in self.community_sources
        ]
        q = "discharge_reason"
        self.reasons = {
            "dropout": cb.code(q, "dropped out"),
            "declined": cb.code(q, "declined"),
            "withdrawn": cb.code(q, "withdrawn"),
            "other": cb.code(q, "other reason"),
            "transferred": cb.code(q, "transferred", exclude=("prison",)),
            "prison": cb.code(q, "prison"),
            "died": cb.code(q, "died"),
        }
        self.completed_alcohol = cb.code(q, "completed", "alcohol")
        self.completed_drugs = cb.find(q, "completed", exclude=("alcohol",))
        self.period_cols = tuple(
            self.index[n]
            for n in ("discharge_date", "discharge_reason", "release_date")
            if n in self.index
        )

    # -- per person, per episode ----------------------------------------------------------
    def _person_code(self, ep: Episode, field: str, missing: float) -> str:
        extra = ep.person.extra
        key = f"{EPISODE}:{field}"
        if key not in extra:
            extra[key] = _opt(self.rng, self.cb.any(field, self.rng), missing)
        return extra[key]

    def _prison_number(self, ep: Episode) -> str:
        extra = ep.person.extra
        if "prison_number" not in extra:
            rng = self.rng
            letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
            extra["prison_number"] = (
                f"{rng.choice(letters)}{rng.randrange(10000):04d}"
                f"{rng.choice(letters)}{rng.choice(letters)}"
            )
        return extra["prison_number"]

    def _substance(self, ep: Episode) -> str:
        p, rng = ep.person, self.rng
        key = f"{EPISODE}:substance_1"
        if key not in p.extra:
            if p.alcohol:
                sub = self.alcohol
            elif p.young:
                sub = self.cannabis if rng.random() < 0.7 else self.cb.any("substance_1", rng)
            else:
                r = rng.random()
                sub = (
                    self.heroin
                    if r < 0.45
                    else self.crack
                    if r < 0.6
                    else self.cocaine
                    if r < 0.72
                    else self.cannabis
                    if r < 0.85
                    else self.cb.any("substance_1", rng)
                )
            p.extra[key] = sub
        return p.extra[key]

    def reason_code(self, ep: Episode, substance: str) -> str:
        if ep.reason == "completed":
            if substance == self.alcohol:
                return self.completed_alcohol
            return self.completed_drugs[0 if self.rng.random() < 0.8 else -1]
        return self.reasons[ep.reason or "other"]

    def template(self, ep: Episode) -> tuple[list[str], str]:
        """The row as it stands before discharge (period-dependent cells empty), and the reason."""
        rng, cb, p = self.rng, self.cb, ep.person
        client = self.clients[ep.key]
        sub1 = self._substance(ep)
        others = [c for c in cb.enum("substance_2") if c != sub1]
        sub2 = rng.choice(others) if rng.random() < 0.45 else ""
        sub3 = rng.choice([c for c in others if c != sub2]) if sub2 and rng.random() < 0.35 else ""
        opiate = sub1 in self.opiates
        inj = (
            self.injecting[rng.randrange(3)]
            if opiate or sub1 == self.crack
            else self.injecting[2]
            if rng.random() < 0.9
            else self.injecting[1]
        )
        site = ep.site
        service = site.service
        community = service in ("adult", "alcohol")
        if opiate and rng.random() < 0.85:
            modality = self.pharm
        elif rng.random() < 0.8 or not community:
            modality = self.psycho
        else:
            modality = rng.choice(self.modalities)
        parental = _opt(rng, cb.any("parental_responsibility", rng), 0.1)
        employment = _opt(rng, cb.any("employment_status", rng), 0.1)
        children = ""
        if p.young:
            parental, children = cb.no("parental_responsibility"), "0"
            employment = self.student
        elif rng.random() < 0.85:
            parent = parental == cb.yes("parental_responsibility")
            count = rng.choice((0, 0, 0, 0, 1, 1, 2, 3, 4)) if parent else 0
            children = str(bounded(self.spec.field("children_living_with"), count))
        support = cb.any("children_receiving_support", rng) if children not in ("", "0") else ""
        disability = ""
        r = rng.random()
        if r < 0.7:
            disability = self.no_disability
        elif r < 0.9:
            picks = rng.sample(self.disabilities, rng.randint(1, 2))
            disability = ";".join(c for c in self.disabilities if c in picks)
        if ep.route == "community":
            source = rng.choices(self.community_sources, self.community_weights)[0]
        elif ep.route == "transfer":
            source = self.transfer_source
        elif ep.route in ("prison", "released"):
            source = self.prison_source
        else:
            source = rng.choice(self.cj_sources)
        if service == "criminal-justice" and source not in self.cj_sources:
            source = rng.choice(self.cj_sources)
        young = ""
        if service == "young-people":
            picks = rng.sample(cb.enum("young_person_vulnerability"), rng.randint(1, 3))
            young = ";".join(c for c in cb.enum("young_person_vulnerability") if c in picks)
        cj = service == "criminal-justice"
        prison = service == "prison"
        values = {
            "provider_code": site.code,
            "client_ref": client.client_ref,
            "episode_id": ep.episode_id,
            "consent_ndtms": self.yes if ep.consent else self.no,
            "initials": client.initials,
            "date_of_birth": iso(client.born),
            "sex": cb.label_is("sex", p.sex),
            "postcode_district": ep.district if ep.nfa else _opt(rng, ep.district, 0.03),
            "la_of_residence": _opt(rng, ep.la, 0.05),
            "ethnicity": _opt(rng, p.ethnicity, 0.05),
            "religion": self._person_code(ep, "religion", 0.12),
            "sexual_orientation": self._person_code(ep, "sexual_orientation", 0.12),
            "disability": disability,
            "referral_source": source,
            "referral_date": iso(ep.referral),
            "triage_date": "" if ep.triage is None else iso(ep.triage),
            "treatment_start_date": iso(ep.start),
            "substance_1": sub1,
            "substance_2": sub2,
            "substance_3": sub3,
            "injecting_status": _opt(rng, inj, 0.05),
            "treatment_modality": modality,
            "mental_health_need": _opt(rng, cb.any("mental_health_need", rng), 0.1),
            "receiving_mh_treatment": _opt(rng, cb.any("receiving_mh_treatment", rng), 0.4),
            "hep_c_tested": _opt(rng, cb.any("hep_c_tested", rng), 0.2),
            "hep_b_vaccinated": _opt(rng, cb.any("hep_b_vaccinated", rng), 0.2),
            "hiv_tested": _opt(rng, cb.any("hiv_tested", rng), 0.2),
            "parental_responsibility": parental,
            "children_living_with": children,
            "children_receiving_support": support,
            "employment_status": employment,
            "accommodation_need": self.nfa_need
            if ep.nfa
            else _opt(rng, rng.choice(self.other_needs), 0.1),
            "young_person_vulnerability": young,
            "transferred_from_provider": ep.transferred_from,
            "cj_org_ref": f"{site.client_prefix}/{iso(ep.referral)[:4]}/{rng.randrange(100000):05d}"
            if cj
            else "",
            "cj_assessment_reason": cb.any("cj_assessment_reason", rng) if cj else "",
            "cj_onward_referral": (
                cb.yes("cj_onward_referral")
                if ep.reason == "transferred"
                else cb.no("cj_onward_referral")
            )
            if cj
            else "",
            "prison_number": self._prison_number(ep) if prison else "",
            "sentenced": (cb.yes("sentenced") if rng.random() < 0.7 else cb.no("sentenced"))
            if prison
            else "",
            "discharge_date": "",
            "discharge_reason": "",
            "release_date": "",
        }
        row = [
            values[n] if n in values else generic_value(self.spec, self.spec.field(n), rng)
            for n in self.names
        ]
        reason = self.reason_code(ep, sub1) if ep.discharge is not None else ""
        return row, reason

    def tables(self, episodes: Sequence[Episode], periods: Sequence[Period]) -> list[Table]:
        """One table per provider per period, each episode open in or closed during the period."""
        out: dict[tuple[str, str], Table] = {}
        idx = self.index
        d_col, r_col = idx["discharge_date"], idx["discharge_reason"]
        rel_col = idx.get("release_date")
        for ep in episodes:
            row, reason = self.template(ep)
            end = ep.discharge
            released = ep.site.service == "prison" and ep.reason == "transferred"
            for period in periods:
                if ep.start > period.end_ord or (end is not None and end < period.start_ord):
                    continue
                key = (ep.site.code, period.label)
                table = out.get(key)
                if table is None:
                    table = out[key] = Table(EPISODE, ep.site.code, period, self.names)
                cells = row.copy()
                if end is not None and end <= period.end_ord:
                    cells[d_col] = iso(end)
                    cells[r_col] = reason
                    if released and rel_col is not None:
                        cells[rel_col] = iso(end)
                for rule in self.blank:
                    rule.apply(cells)
                table.add(cells, ep.person.pid, f"{ep.site.code}:{ep.episode_id}")
        return [out[k] for k in sorted(out)]


class ReviewRows:
    """Treatment Outcomes Profile reviews: at start, every six months, and at a planned exit."""

    def __init__(self, seed: int) -> None:
        self.spec = spec = load_spec(REVIEW)
        self.cb = cb = codebook(REVIEW)
        self.rng = random.Random(f"{seed}/{REVIEW}")
        self.names = spec.field_names
        self.fields = {f.name: f for f in spec.fields}
        st = "review_stage"
        self.stages = {
            "start": cb.code(st, "start"),
            "review": cb.code(st, "review", exclude=("start", "exit")),
            "exit": cb.code(st, "exit"),
        }

    def _when(self, ep: Episode, last_day: int) -> list[tuple[int, str]]:
        rng = self.rng
        end = ep.discharge if ep.discharge is not None else last_day
        out: list[tuple[int, str]] = []
        day = ep.start + rng.randint(0, 14)
        if day <= end and rng.random() < 0.92:
            out.append((day, "start"))
        day = ep.start + rng.randint(170, 196)
        while day < end:
            if rng.random() < 0.85:
                out.append((day, "review"))
            day += rng.randint(170, 196)
        if ep.discharge is not None and ep.reason not in ("died", "prison") and rng.random() < 0.8:
            out.append((ep.discharge, "exit"))
        return out

    def _row(self, ep: Episode, day: int, stage: str, level: float) -> list[str]:
        rng, spec, cb, fields = self.rng, self.spec, self.cb, self.fields

        def score(name: str, base: float) -> str:
            return str(bounded(fields[name], round(base + 6 * rng.random() - 3)))

        used = score("days_used_substance_1", 28 * level)
        values = {
            "provider_code": ep.site.code,
            "episode_id": ep.episode_id,
            "review_date": iso(day),
            "review_stage": self.stages[stage],
            "days_used_substance_1": used,
            "days_injected": _opt(rng, score("days_injected", 10 * level), 0.6),
            "psychological_health": _opt(rng, score("psychological_health", 16 - 8 * level), 0.1),
            "physical_health": _opt(rng, score("physical_health", 15 - 6 * level), 0.1),
            "quality_of_life": _opt(rng, score("quality_of_life", 15 - 7 * level), 0.1),
            "housing_problem": _opt(rng, cb.any("housing_problem", rng), 0.1),
            "offending": _opt(rng, cb.any("offending", rng), 0.1),
        }
        return [
            values[n] if n in values else generic_value(spec, spec.field(n), rng)
            for n in self.names
        ]

    def tables(self, episodes: Sequence[Episode], periods: Sequence[Period]) -> list[Table]:
        first, last = periods[0].start_ord, periods[-1].end_ord
        out: dict[tuple[str, str], Table] = {}
        for ep in episodes:
            if ep.discharge is not None and ep.discharge < first:
                continue
            level = self.rng.uniform(0.5, 1.0)
            for day, stage in self._when(ep, last):
                level *= self.rng.uniform(0.55, 0.95) if stage != "start" else 1.0
                if day < first:
                    continue
                for period in periods:
                    if period.start_ord <= day <= period.end_ord:
                        key = (ep.site.code, period.label)
                        table = out.get(key)
                        if table is None:
                            table = out[key] = Table(REVIEW, ep.site.code, period, self.names)
                        table.add(self._row(ep, day, stage, level), ep.person.pid)
                        break
        for table in out.values():
            _sort_reviews(table)
        return [out[k] for k in sorted(out)]


def _sort_reviews(table: Table) -> None:
    day, episode = table.header.index("review_date"), table.header.index("episode_id")
    rows = table.rows
    order = sorted(range(len(rows)), key=lambda i: (rows[i][day], rows[i][episode]))
    table.rows = [table.rows[i] for i in order]
    table.people = [table.people[i] for i in order]
    table.events = [table.events[i] for i in order]
