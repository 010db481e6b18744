"""Tables protected across periods and revisions, as a user publishes them (issue 13 items 9
and 10; PSE-5, OUT-4).

The intruder here is the test's own: a linear programme over every CSV published, built from
the files and their structure sidecars alone (highspy, not carehaven's disclosure code), with
the sums a reader knows hold: each table's margins, month + month + month = quarter, and the
year to date = this quarter + the earlier quarters (unpublished, so unknown).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import highspy
import numpy as np
import pytest
from scipy import sparse

from carehaven.access.users import add_user
from carehaven.config import Settings
from carehaven.haven import open_haven
from carehaven.identity.link import link
from tests.linkage import build
from tests.people import Cli

pytestmark = pytest.mark.slow

QUARTER = "2024Q4"
MONTHS = ("2024-10", "2024-11", "2024-12")
LEVEL = 3  # ceil(30% of the threshold 10): the default protection level


def _haven(root: Path) -> Path:
    haven, _ = build(root / "haven", root / "returns", people=1200, seed=13, periods=(QUARTER,))
    link(haven, actor="test")
    haven.close()
    h = open_haven(Settings.load(haven=root / "haven"))
    add_user(h, "pat", "Pat", None, roles=["data-team"], actor="test")
    h.close()
    return root / "haven"


@pytest.fixture
def linked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh haven per order, so the two orders do not protect each other's tables."""
    return _haven(tmp_path_factory.mktemp("linked"))


@pytest.fixture(scope="module")
def revised_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _haven(tmp_path_factory.mktemp("revised"))


# ---- the test's intruder -------------------------------------------------------------------


def _read(path: Path) -> tuple[list[dict[str, object]], dict[tuple[str, ...], float | None]]:
    dims = json.loads(path.with_name(path.stem + ".structure.json").read_text())["dimensions"]
    cells: dict[tuple[str, ...], float | None] = {}
    with path.open(newline="") as fh:
        rows = (r for r in csv.reader(fh) if r and not r[0].startswith("#"))
        header = next(rows)
        n = len(dims)
        assert header[:n] == [d["name"] for d in dims]
        for r in rows:
            cells[tuple(r[:n])] = None if r[n] == "[c]" else float(r[n])
    return dims, cells


class Intruder:
    """Variables: every cell of every published table, plus unknown cubes; equalities: each
    cube's hierarchy sums and the sums between cubes."""

    def __init__(self, dims: list[dict[str, object]]) -> None:
        self.dims = dims
        self.keys = list(itertools.product(*(d["order"] for d in dims)))  # type: ignore[arg-type]
        self.var: dict[tuple[str, tuple[str, ...]], int] = {}
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.rows: list[dict[int, float]] = []

    def cube(self, name: str, cells: dict[tuple[str, ...], float | None] | None) -> None:
        for k in self.keys:
            self.var[(name, k)] = len(self.lo)
            # A code a table lacks had nothing in its period: the reader knows it is zero.
            v = None if cells is None else cells.get(k, 0.0)
            self.lo.append(0.0 if v is None else v)
            self.hi.append(np.inf if v is None else v)
        for d, dim in enumerate(self.dims):
            parent: dict[str, str] = dim["parent"]  # type: ignore[assignment]
            for p in set(parent.values()):
                kids = [c for c, q in parent.items() if q == p]
                for k in self.keys:
                    if k[d] != p:
                        continue
                    row = {self.var[(name, k)]: 1.0}
                    for c in kids:
                        row[self.var[(name, (*k[:d], c, *k[d + 1:]))]] = -1.0
                    self.rows.append(row)

    def adds_up(self, total: str, parts: list[str]) -> None:
        for k in self.keys:
            row = {self.var[(total, k)]: 1.0}
            for p in parts:
                row[self.var[(p, k)]] = -1.0
            self.rows.append(row)

    def intervals(self, name: str) -> Iterator[tuple[tuple[str, ...], float, float]]:
        n = len(self.lo)
        r = [i for i, row in enumerate(self.rows) for _ in row]
        c = [j for row in self.rows for j in row]
        v = [x for row in self.rows for x in row.values()]
        a = sparse.csr_matrix((v, (r, c)), shape=(len(self.rows), n))
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, a.shape[0]
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_, lp.col_upper_ = np.array(self.lo), np.array(self.hi)
        lp.row_lower_ = lp.row_upper_ = np.zeros(a.shape[0])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_, lp.a_matrix_.index_ = a.indptr, a.indices
        lp.a_matrix_.value_ = a.data
        h.passModel(lp)
        for k in self.keys:
            j = self.var[(name, k)]
            if self.lo[j] == self.hi[j]:
                continue
            ends = []
            for sense in (1.0, -1.0):
                h.changeColCost(j, sense)
                h.run()
                status = h.getModelStatus()
                ends.append(np.inf if status == highspy.HighsModelStatus.kUnbounded
                            else float(h.getSolution().col_value[j]))
                assert status in (highspy.HighsModelStatus.kOptimal,
                                  highspy.HighsModelStatus.kUnbounded), status
                h.changeColCost(j, 0.0)
            yield k, ends[0], ends[1]


def _attack(folder: Path, name: str) -> list[str]:
    """Every hidden cell of the quarter, its year to date and its months that the intruder
    narrows to less than the protection interval (a width of LEVEL + 1)."""
    q_dims, q = _read(folder / QUARTER / f"{name}.csv")
    _, ytd = _read(folder / QUARTER / f"{name}-year-to-date.csv")
    months = {m: _read(folder / m / f"{name}.csv")[1] for m in MONTHS}
    intruder = Intruder(q_dims)
    intruder.cube(QUARTER, q)
    intruder.cube("ytd", ytd)
    intruder.cube("earlier quarters", None)  # 2024Q2 and 2024Q3, never published here
    for m, cells in months.items():
        intruder.cube(m, cells)
    intruder.adds_up(QUARTER, list(MONTHS))
    intruder.adds_up("ytd", [QUARTER, "earlier quarters"])
    unsafe = []
    for table in (QUARTER, "ytd", *MONTHS):
        for key, lo, hi in intruder.intervals(table):
            if hi - lo < LEVEL + 1 - 1e-6:
                unsafe.append(f"{table} {key}: [{lo:g}, {hi:g}]")
    return unsafe


def _publish(cli: Cli, name: str, period: str, out: Path) -> dict:  # type: ignore[type-arg]
    return cli.ok("pat", "publish", name, "--period", period, "--out", str(out))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "order"), [
    ("ndtms-new-presentations", (QUARTER, *MONTHS)),  # the quarter, then its months
    ("ndtms-new-presentations", (*MONTHS, QUARTER)),  # the months, then their quarter
])
def test_months_and_their_quarter_are_protected_together(
    linked_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, name: str, order: tuple[str, ...],
) -> None:
    """Issue 13 item 10: with the quarter, its year to date and its three months published in
    either order, no suppressed cell is recovered (quarter minus two months) or narrowed below
    its protection."""
    cli = Cli(linked_dir, capsys, monkeypatch)
    hidden = 0
    for period in order:
        result = _publish(cli, name, period, tmp_path / period)
        hidden += result["suppressed_primary"] + result["suppressed_secondary"]
    assert hidden > 0
    assert _attack(tmp_path, name) == []


def _episodes(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_correction_never_shows_a_small_cell_and_marks_the_revision(
    revised_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13 item 9: a cell shown in the first publication falls below the threshold after a
    corrected return; the republication hides it, says it is a revision, and still resists an
    intruder holding both publications."""
    name = "ndtms-new-presentations"
    cli = Cli(revised_dir, capsys, monkeypatch)
    _publish(cli, name, QUARTER, tmp_path / "first")
    _, first = _read(tmp_path / "first" / f"{name}.csv")
    # A cell shown with 10 to 30 episodes whose truth, counted from the returns themselves,
    # agrees with the published figure, and one return holding all but 8 of them.
    returns = revised_dir.parent / "returns" / "ndtms-episode"
    files = {p: _episodes(p) for p in sorted(returns.glob(f"*_{QUARTER}.csv"))}

    def episodes(la: str, sub: str, rows: list[dict[str, str]]) -> set[str]:
        return {r["provider_code"] + ":" + r["episode_id"] for r in rows
                if r["la_of_residence"] == la and r["substance_1"] == sub
                and r["treatment_start_date"][:7] in MONTHS}

    chosen = None
    for (la, sub), value in first.items():
        if value is None or not 10 <= value <= 30 or "Total" in (la, sub):
            continue
        if len(set().union(*(episodes(la, sub, rows) for rows in files.values()))) != value:
            continue
        path = next((p for p, rows in files.items()
                     if len(episodes(la, sub, rows)) >= value - 8), None)
        if path is not None:
            chosen = path, la, sub, int(value), files[path]
            break
    assert chosen is not None, "no shown cell comes mostly from a single return"
    path, la, sub, value, rows = chosen
    other = next(r["substance_1"] for r in rows if r["substance_1"] not in (sub, ""))
    ids = sorted(episodes(la, sub, rows))[: value - 8]  # leaves 8: below the threshold
    for r in rows:
        if r["provider_code"] + ":" + r["episode_id"] in ids and r["substance_1"] == sub:
            r["substance_1"] = other
    corrected = tmp_path / "corrected" / path.name
    corrected.parent.mkdir()
    with corrected.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    files[path] = rows
    truth = len(set().union(*(episodes(la, sub, r) for r in files.values())))
    assert truth == 8
    org = path.name.split("_")[0]
    code, out, err = cli("pat", "submit", str(corrected), "--dataset", "ndtms-episode",
                         "--org", org, "--period", QUARTER)
    assert code == 0, out + err
    assert cli("pat", "link")[0] == 0
    result = _publish(cli, name, QUARTER, tmp_path / "second")
    _, second = _read(tmp_path / "second" / f"{name}.csv")
    assert second[(la, sub)] is None  # 8 is below the threshold: never shown
    shown = [v for v in second.values() if v is not None]
    assert not any(0 < v < 10 for v in shown)
    revision = result["revision"]
    assert revision is not None and revision["below_threshold"] >= 1
    assert revision["replaces"] and revision["changed"] >= revision["now_suppressed"] >= 1
    side = json.loads((tmp_path / "second" / f"{name}.structure.json").read_text())
    assert side["disclosure"]["revision"] == revision
    assert any(n.startswith("Revised:") for n in side["notes"])
    # The intruder holding both publications: every unchanged figure is one number.
    dims, _ = _read(tmp_path / "first" / f"{name}.csv")
    _, ytd1 = _read(tmp_path / "first" / f"{name}-year-to-date.csv")
    _, ytd2 = _read(tmp_path / "second" / f"{name}-year-to-date.csv")
    intruder = Intruder(dims)
    for tag, cells, ytd in (("1", first, ytd1), ("2", second, ytd2)):
        intruder.cube(f"q{tag}", cells)
        intruder.cube(f"ytd{tag}", ytd)
        intruder.cube(f"earlier{tag}", None)
        intruder.adds_up(f"ytd{tag}", [f"q{tag}", f"earlier{tag}"])
    # Differencing: the intruder knows the correction touched one authority, so every cell
    # outside it, its region and England is the same number in both.
    touched = {la, dims[0]["parent"][la], "Total"}  # type: ignore[index]
    for k in intruder.keys:
        if k[0] not in touched:
            for part in ("q", "ytd", "earlier"):
                intruder.rows.append({intruder.var[(f"{part}1", k)]: 1.0,
                                      intruder.var[(f"{part}2", k)]: -1.0})
    assert [(k, lo, hi) for k, lo, hi in intruder.intervals("q2")
            if hi - lo < LEVEL + 1 - 1e-6] == []
