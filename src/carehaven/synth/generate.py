"""``synthesise``: a whole synthetic collection with its truth, from a seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from carehaven.errors import UsageError
from carehaven.specs.registry import loading_order
from carehaven.synth.cld import SocialCare
from carehaven.synth.codebook import codebook
from carehaven.synth.hmrc import Exchange
from carehaven.synth.invalid import plant_errors
from carehaven.synth.ips import Programme
from carehaven.synth.model import SynthFile, SynthResult
from carehaven.synth.ndtms import EpisodeRows, ReviewRows
from carehaven.synth.organisations import organisations
from carehaven.synth.periods import parse_periods
from carehaven.synth.population import build_population
from carehaven.synth.table import Table
from carehaven.synth.treatment import Journeys
from carehaven.synth.writer import remove_stale, write_manifest, write_table, write_truth

Progress = Callable[[str, int, int], None]
DEFAULT_PERIODS = ("2024Q3", "2024Q4", "2025Q1", "2025Q2")


def _quiet(stage: str, done: int, total: int) -> None:
    """The progress callback used when nobody is watching."""


def synthesise(
    out: Path,
    *,
    people: int,
    seed: int,
    invalid_rate: float = 0.0,
    periods: Sequence[str] = DEFAULT_PERIODS,
    progress: Progress | None = None,
) -> SynthResult:
    """Write a synthetic collection to ``out``: return files, ``manifest.json`` and ``truth/``.

    The same arguments give byte-identical files. ``progress(stage, done, total)`` is called as
    work proceeds.
    """
    if people < 1:
        raise UsageError("Synthesise at least one person.")
    if not 0.0 <= invalid_rate <= 1.0:
        raise UsageError("The invalid rate is a share of rows between 0 and 1.")
    report = progress or _quiet
    parsed = parse_periods(periods)
    first_day, last_day = parsed[0].start_ord, parsed[-1].end_ord
    steps = 8
    report("people", 0, steps)

    population = build_population(
        people, seed, first_day, last_day, codebook("ndtms-episode").enum("ethnicity")
    )
    report("treatment journeys", 1, steps)
    journeys = Journeys(seed, first_day, last_day)
    for p in population:
        if p.treatment:
            journeys.add_person(p)
    clients = journeys.number()
    episodes = journeys.episodes

    report("social care histories", 2, steps)
    care = SocialCare(seed, parsed[0].rolling_year_start().toordinal(), last_day)
    for p in population:
        if p.social_care:
            care.add_person(p)
    care.add_further_requests(seed)

    report("NDTMS returns", 3, steps)
    tables: list[Table] = []
    tables += EpisodeRows(seed, clients).tables(episodes, parsed)
    tables += ReviewRows(seed).tables(episodes, parsed)

    report("IPS and HMRC returns", 4, steps)
    programme = Programme(seed, first_day, last_day)
    placements = programme.choose(episodes)
    tables += programme.tables(parsed, clients)
    tables += Exchange(seed, first_day).tables(placements, parsed)

    report("social care returns", 5, steps)
    tables += care.tables(parsed)
    tables.sort(key=lambda t: t.path)

    report("planting errors", 6, steps)
    plants = plant_errors(tables, invalid_rate, seed)

    report("writing files", 7, steps)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out, {t.path for t in tables})
    files: list[SynthFile] = [write_table(out, t) for t in tables]
    # Listed so that submitting them in order puts each episode before the reviews and IPS
    # episodes that name it (reference rules, issue 13 item 6).
    files.sort(key=lambda f: loading_order(f.dataset))
    orgs = organisations()
    write_manifest(
        out,
        seed=seed,
        people=people,
        invalid_rate=invalid_rate,
        periods=[p.label for p in parsed],
        organisations=orgs,
        files=files,
    )
    write_truth(out, population, tables, plants, care.truth())
    report("done", steps, steps)
    return SynthResult(
        out=out,
        organisations=orgs,
        files=tuple(files),
        people=people,
        planted_invalid=len(plants),
    )
