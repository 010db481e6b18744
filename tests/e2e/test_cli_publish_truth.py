"""Every published table against the synthetic truth (issue 13 items 4, 5, 7; PSE-5, OUT-2).

Returns for three quarters are submitted through the command line: each CLD file is a rolling
12 months, so an event sits in up to three files, each time under a new (or no)
Event_Reference, and one authority resubmits a quarter with fresh references and its rows
shuffled. `carehaven publish` then writes every table in definitions.json, and each shown cell
must equal what the generator's truth says: events counted once, from truth/cld-events.csv
(true event ids, people, services with their cost frequencies) and truth/records.csv (the true
episode behind each NDTMS row). The truth is worked out here, not by the publish code.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from carehaven.access.users import add_user
from carehaven.config import Settings
from carehaven.disclosure.table import TOTAL
from carehaven.haven import init_haven
from carehaven.publish.definitions import definitions
from carehaven.publish.longcsv import read_csv
from carehaven.synth import synthesise
from tests.people import Cli

pytestmark = pytest.mark.slow

PERIODS = ("2024Q3", "2024Q4", "2025Q1")
#: Quarters of the financial year 2024-25 that the published year to date adds up.
QUARTERS = {
    "2024Q2": (date(2024, 4, 1), date(2024, 6, 30)),
    "2024Q3": (date(2024, 7, 1), date(2024, 9, 30)),
    "2024Q4": (date(2024, 10, 1), date(2024, 12, 31)),
    "2025Q1": (date(2025, 1, 1), date(2025, 3, 31)),
}
PUBLISHED = ("2024Q4", "2025Q1")
NOT_KNOWN = "Not known"
COMPLETED = {"CDF", "CAF", "COU"}
UNITS_A_WEEK = {"Weekly": 1.0, "Fortnightly": 0.5, "4-Weekly": 0.25, "Monthly": 12 / 52,
                "Annually": 1 / 52}

Cells = dict[tuple[str, ...], float]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _resubmit(source: Path, target: Path, seed: int) -> None:
    """The same return again, as a case system might re-extract it: new references, new order."""
    rows = read(source)
    rng = random.Random(seed)
    rng.shuffle(rows)
    for r in rows:
        r["Event_Reference"] = "" if rng.random() < 0.1 else f"R{rng.randrange(10**9):09d}"
    with target.open("w", encoding="utf-8", newline="") as handle:
        w = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("truth")
    returns, haven_dir = root / "returns", root / "haven"
    synth = synthesise(returns, people=900, seed=23, periods=PERIODS)
    haven = init_haven(Settings.load(haven=haven_dir), actor="test")
    for org in synth.organisations:
        haven.add_organisation(org.code, org.kind, org.name, actor="test")
    add_user(haven, "alice", "Alice", None, roles=["data-team"], actor="test")
    haven.close()
    files = [f for f in synth.files if f.dataset in ("cld-event", "ndtms-episode")]
    las = sorted({f.org for f in files if f.dataset == "cld-event"})
    again = next(f for f in files if f.dataset == "cld-event" and f.org == las[0]
                 and f.period == "2024Q4")
    _resubmit(returns / again.path, root / "resubmitted.csv", seed=5)
    return {"root": root, "returns": returns, "haven": haven_dir, "files": files,
            "again": again, "las": las}


@pytest.fixture(scope="module")
def published(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything submitted, linked and published through the command line, in one process."""
    mp = pytest.MonkeyPatch()
    capsys = _Capture()
    cli = Cli(world["haven"], capsys, mp)
    try:
        for f in sorted(world["files"], key=lambda f: (f.period, f.path)):
            done = cli.ok("alice", "submit", str(world["returns"] / f.path), "--dataset",
                          f.dataset, "--org", f.org, "--period", f.period)
            assert done["status"] == "accepted" and done["rows"]["rejected"] == 0, done
        again = world["again"]
        redo = cli.ok("alice", "submit", str(world["root"] / "resubmitted.csv"), "--dataset",
                      again.dataset, "--org", again.org, "--period", again.period)
        assert redo["status"] == "accepted" and redo["superseded"], redo
        cli.ok("alice", "link")
        out = tmp_path_factory.mktemp("published")
        for name, defn in definitions().items():
            for period in PUBLISHED if defn.flow else PUBLISHED[-1:]:
                result = cli.ok("alice", "publish", name, "--period", period, "--out",
                                str(out / f"{name}-{period}"))
                assert result["safe"], result
    finally:
        capsys.close()
        mp.undo()
    return out


class _Capture:
    """capsys for a module-scoped fixture: stdout and stderr of the CLI run in this process."""

    def __init__(self) -> None:
        import io
        import sys

        self._sys, self._io = sys, io
        self._old = (sys.stdout, sys.stderr)
        self._reset()

    def _reset(self) -> None:
        self._out, self._err = self._io.StringIO(), self._io.StringIO()
        self._sys.stdout, self._sys.stderr = self._out, self._err

    def readouterr(self) -> tuple[str, str]:
        got = (self._out.getvalue(), self._err.getvalue())
        self._reset()
        return got

    def close(self) -> None:
        self._sys.stdout, self._sys.stderr = self._old


# ---- the truth ---------------------------------------------------------------------------
def cld_events(world: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in read(world["returns"] / "truth" / "cld-events.csv"):
        out.append({**e, "start": day(e["start"]), "end": day(e["end"]),
                    "ready": day(e["Hospital_Discharge_Ready_Date"])})
    return out


def long_term(e: dict[str, Any]) -> bool:
    return e["event_type"] == "Service" and e["Service_Type"].startswith("Long Term Support")


def _requests(events: list[dict[str, Any]], q: str) -> list[dict[str, Any]]:
    first, last = QUARTERS[q]
    return [e for e in events if e["event_type"] == "Request" and e["end"] is not None
            and first <= e["end"] <= last]


def requests_by_route(events: list[dict[str, Any]], q: str) -> Cells:
    lts = defaultdict(list)
    for e in events:
        if long_term(e):
            lts[(e["la"], e["person"])].append(e)
    cells: Counter[tuple[str, ...]] = Counter()
    for r in _requests(events, q):
        known = any(s["start"] <= r["start"] and (s["end"] is None or s["end"] >= r["start"])
                    for s in lts[(r["la"], r["person"])])
        if not known:
            cells[(r["la"], r["Request_Route_of_Access"] or NOT_KNOWN)] += 1
    return dict(cells)


def waiting_times(events: list[dict[str, Any]], q: str) -> Cells:
    first, last = QUARTERS[q]
    asked = defaultdict(list)
    for e in events:
        if e["event_type"] == "Request":
            asked[(e["la"], e["person"])].append(e["start"])
    cells: Counter[tuple[str, ...]] = Counter()
    for s in events:
        if s["event_type"] != "Service" or not first <= s["start"] <= last:
            continue
        before = [d for d in asked[(s["la"], s["person"])] if d <= s["start"]]
        if not before:
            continue
        days = (s["start"] - max(before)).days
        band = ("0 to 7 days" if days <= 7 else "8 to 28 days" if days <= 28
                else "29 to 90 days" if days <= 90 else "91 days or more")
        cells[(s["la"], band)] += 1
    return dict(cells)


def delayed_discharges(events: list[dict[str, Any]], q: str) -> Cells:
    cells: Counter[tuple[str, ...]] = Counter()
    for r in _requests(events, q):
        if r["Request_Route_of_Access"] != "Discharge from hospital" or r["ready"] is None:
            continue
        days = (r["start"] - r["ready"]).days
        band = ("No delay" if days <= 0 else "1 to 7 days" if days <= 7
                else "8 to 21 days" if days <= 21 else "22 days or more")
        cells[(r["la"], band)] += 1
    return dict(cells)


def weekly_cost(events: list[dict[str, Any]], q: str) -> Cells:
    first, last = QUARTERS[q]
    cells: dict[tuple[str, ...], float] = defaultdict(float)
    for s in events:
        if not long_term(s) or not s["Unit_Cost"]:
            continue
        if s["start"] > last or (s["end"] is not None and s["end"] < first):
            continue
        units = UNITS_A_WEEK.get(s["Cost_Frequency_Unit_Type"],
                                 float(s["Planned_units_per_week"] or 0))
        open_days = (min(s["end"] or last, last) - max(s["start"], first)).days + 1
        share = open_days / ((last - first).days + 1)
        cells[(s["la"], s["Service_Type"])] += float(s["Unit_Cost"]) * units * share
    return dict(cells)


def episodes(world: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each true NDTMS episode once, with its values (discharge from the latest file)."""
    event_of = {(r["path"], int(r["row"])): (r["event"], r["person"])
                for r in read(world["returns"] / "truth" / "records.csv")
                if r["path"].startswith("ndtms-episode/")}
    out: dict[str, dict[str, str]] = {}
    for f in sorted(world["files"], key=lambda f: f.period):
        if f.dataset != "ndtms-episode":
            continue
        for n, row in enumerate(read(world["returns"] / f.path), start=2):
            event, person = event_of[(f.path, n)]
            # Without consent to link (consent_ndtms = N) a person is, to anyone, only that
            # provider's client: counted, never joined to their other episodes.
            who = person if row["consent_ndtms"] == "Y" else f"{person}@{f.org}"
            out[event] = {**row, "_person": who}
    return out


def _value(text: str) -> str:
    return text or NOT_KNOWN


def new_presentations(eps: dict[str, dict[str, str]], q: str) -> Cells:
    first, last = QUARTERS[q]
    got = Counter((_value(e["la_of_residence"]), _value(e["substance_1"])) for e in eps.values()
                  if first <= date.fromisoformat(e["treatment_start_date"]) <= last)
    return dict(got)


def successful_completions(eps: dict[str, dict[str, str]], q: str) -> Cells:
    first, last = QUARTERS[q]
    got = Counter((_value(e["la_of_residence"]), _value(e["substance_1"])) for e in eps.values()
                  if e["discharge_date"] and e["discharge_reason"] in COMPLETED
                  and first <= date.fromisoformat(e["discharge_date"]) <= last)
    return dict(got)


def people_in_treatment(eps: dict[str, dict[str, str]], q: str) -> Cells:
    first, last = QUARTERS[q]
    latest: dict[str, dict[str, str]] = {}
    for e in eps.values():
        start, end = day(e["treatment_start_date"]), day(e["discharge_date"])
        assert start is not None
        if start > last or (end is not None and end < first):
            continue
        order = (e["treatment_start_date"], e["provider_code"], e["episode_id"])
        best = latest.get(e["_person"])
        if best is None or order > (best["treatment_start_date"], best["provider_code"],
                                    best["episode_id"]):
            latest[e["_person"]] = e
    got = Counter((_value(e["la_of_residence"]), _value(e["substance_1"]))
                  for e in latest.values())
    return dict(got)


TRUTH: dict[str, tuple[str, Callable[[Any, str], Cells]]] = {
    "asc-requests-by-route": ("cld", requests_by_route),
    "asc-waiting-times": ("cld", waiting_times),
    "asc-delayed-discharges": ("cld", delayed_discharges),
    "asc-weekly-cost": ("cld", weekly_cost),
    "ndtms-new-presentations": ("ndtms", new_presentations),
    "ndtms-successful-completions": ("ndtms", successful_completions),
    "ndtms-people-in-treatment": ("ndtms", people_in_treatment),
}


def _compare(csv_path: Path, truth: Cells, las: set[str]) -> tuple[int, list[str]]:
    """Shown cells of one published table against the truth: each authority's cells, each
    authority's total, and England's total. Returns (cells compared, mismatches)."""
    table = read_csv(csv_path)
    by_la: dict[str, float] = defaultdict(float)
    for (la, _), v in truth.items():
        by_la[la] += v
    compared, wrong = 0, []
    for key, shown in zip(table.keys, table.shown, strict=True):
        if np.isnan(shown):
            continue
        la, category = key[0], key[1]
        if la in las and category != TOTAL:
            want = truth.get((la, category), 0.0)
        elif la in las:
            want = by_la.get(la, 0.0)
        elif la == TOTAL and category == TOTAL:
            want = sum(truth.values())
        else:
            continue
        compared += 1
        if not np.isclose(shown, want, rtol=1e-9, atol=0.01):
            wrong.append(f"{csv_path.name} {key}: published {shown}, truth {want}")
    return compared, wrong


def test_the_truth_covers_every_published_table() -> None:
    assert set(TRUTH) == set(definitions())


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_each_table_shows_the_truth(name: str, world: dict[str, Any], published: Path) -> None:
    """Issue 13 item 7: every shown cell equals the truth, for each quarter published and (flow
    tables) each year to date, across overlapping rolling returns and a resubmission."""
    source, truth_of = TRUTH[name]
    data: Any = cld_events(world) if source == "cld" else episodes(world)
    las = set(world["las"]) if source == "cld" else {
        e["la_of_residence"] for e in data.values() if e["la_of_residence"]}
    flow = definitions()[name].flow
    total = 0
    wrong: list[str] = []
    for period in PUBLISHED if flow else PUBLISHED[-1:]:
        folder = published / f"{name}-{period}"
        n, bad = _compare(folder / f"{name}.csv", truth_of(data, period), las)
        total, wrong = total + n, wrong + bad
        if flow:
            quarters = [q for q in QUARTERS if q <= period]
            year: Cells = defaultdict(float)
            for q in quarters:
                for k, v in truth_of(data, q).items():
                    year[k] += v
            n, bad = _compare(folder / f"{name}-year-to-date.csv", dict(year), las)
            total, wrong = total + n, wrong + bad
    assert total > 20, f"too few cells shown to compare ({total})"
    assert wrong == [], "\n".join(wrong[:20])


def test_a_request_is_counted_once_whatever_its_references(world: dict[str, Any],
                                                          published: Path) -> None:
    """Issue 13 item 4: the authority that resubmitted is counted as the truth says, and the
    England total of requests is no more than the true requests (none counted per return)."""
    events = cld_events(world)
    requests = [e for e in events if e["event_type"] == "Request"]
    table = read_csv(published / "asc-requests-by-route-2024Q4" / "asc-requests-by-route.csv")
    england = table.shown[table.keys.index((TOTAL, TOTAL))]
    truth = sum(requests_by_route(events, "2024Q4").values())
    assert england == truth
    assert truth < len(_requests(requests, "2024Q4"))  # existing clients are not counted


def test_events_repeat_across_the_submitted_returns(world: dict[str, Any]) -> None:
    """The test's returns do exercise the overlap: most events are in more than one file."""
    rows = [r for r in read(world["returns"] / "truth" / "records.csv")
            if r["path"].startswith("cld-event/")]
    per_event = Counter(r["event"] for r in rows)
    assert sum(1 for n in per_event.values() if n > 1) > len(per_event) / 3
