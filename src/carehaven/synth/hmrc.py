"""HMRC's answer to the IPS exchange (``hmrc-return``): employment spells behind opaque refs."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from carehaven.specs import Spec, load_spec
from carehaven.synth.codebook import codebook
from carehaven.synth.dates import iso
from carehaven.synth.ips import Placement
from carehaven.synth.organisations import HMRC
from carehaven.synth.periods import Period
from carehaven.synth.table import Table, generic_value

DATASET = "hmrc-return"


def tax_year(day: int) -> str:
    """The UK tax year (6 April to 5 April) holding ``day``, written ``2024-25``."""
    d = date.fromordinal(day)
    first = d.year if (d.month, d.day) >= (4, 6) else d.year - 1
    return f"{first}-{(first + 1) % 100:02d}"


def _money(value: float) -> str:
    return f"{max(0.0, value):.2f}"


class Exchange:
    """Per period, one return from HMRC covering every consenting IPS participant so far."""

    def __init__(self, seed: int, first_day: int) -> None:
        self.rng = random.Random(f"{seed}/{DATASET}")
        self.first_day = first_day
        self._spells: dict[str, list[tuple[int, int | None, float]]] = {}
        self._matched: dict[str, bool] = {}
        self._refs: set[str] = set()

    def _history(self, pl: Placement) -> list[tuple[int, int | None, float]]:
        """The person's employment spells as HMRC holds them: (start, end, annual pay)."""
        rng, pid = self.rng, pl.person.pid
        if pid not in self._spells:
            spells: list[tuple[int, int | None, float]] = []
            start = min(self.first_day, pl.start) - rng.randint(200, 2500)
            end = min(start + rng.randint(30, 700), pl.start - 1)
            spells.append((start, end, rng.uniform(6000, 26000)))
            if pl.job_start is not None:
                job_end = pl.job_start + rng.randint(60, 500) if rng.random() < 0.35 else None
                spells.append((pl.job_start, job_end, rng.uniform(9000, 30000)))
            self._spells[pid] = spells
            self._matched[pid] = rng.random() < 0.88
        return self._spells[pid]

    def _ref(self) -> str:
        while True:
            ref = f"M{self.rng.randrange(10**9):09d}"
            if ref not in self._refs:
                self._refs.add(ref)
                return ref

    def tables(self, placements: Sequence[Placement], periods: Sequence[Period]) -> list[Table]:
        spec = load_spec(DATASET)
        cb = codebook(DATASET)
        names = spec.field_names
        yes, no = cb.yes("matched"), cb.no("matched")
        rng = self.rng
        out: list[Table] = []
        for period in periods:
            table = Table(DATASET, HMRC, period, names)
            rows: list[tuple[str, list[str], str]] = []
            seen: set[str] = set()
            for pl in placements:
                pid = pl.person.pid
                if pl.consent_date is None or pl.consent_date > period.end_ord or pid in seen:
                    continue
                seen.add(pid)
                spells = self._history(pl)
                ref = self._ref()
                if not self._matched[pid]:
                    values = {"match_ref": ref, "matched": no}
                    rows.append((ref, self._row(spec, names, values, rng, blank=True), pid))
                    continue
                for start, end, pay in spells:
                    if start > period.end_ord:
                        continue
                    shown_end = end if end is not None and end <= period.end_ord else None
                    year = tax_year(period.end_ord if shown_end is None else shown_end)
                    taxable = pay * rng.uniform(0.2, 0.9)
                    values = {
                        "match_ref": ref,
                        "matched": yes,
                        "employment_start_date": iso(start),
                        "employment_end_date": "" if shown_end is None else iso(shown_end),
                        "tax_year": year,
                        "taxable_pay": _money(taxable),
                        "income_tax_paid": _money((taxable - 6000) * 0.2),
                        "ni_paid": _money((taxable - 6500) * 0.08) if rng.random() > 0.05 else "",
                    }
                    rows.append((ref, self._row(spec, names, values, rng, blank=False), pid))
            rows.sort(key=lambda r: r[0])
            for _, row, pid in rows:
                table.add(row, pid)
            out.append(table)
        return out

    @staticmethod
    def _row(
        spec: Spec,
        names: tuple[str, ...],
        values: dict[str, str],
        rng: random.Random,
        *,
        blank: bool,
    ) -> list[str]:
        return [
            values[n] if n in values else ("" if blank else generic_value(spec, spec.field(n), rng))
            for n in names
        ]
