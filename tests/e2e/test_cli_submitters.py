"""Each collection is returned by its own kinds of organisation (COL-9), through ``submit``:
a dataset from an organisation of another kind is refused before anything is landed, with a
sentence, exit 15 and an audit entry; the kinds the spec names still submit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from carehaven.cli import main
from carehaven.config import Settings
from carehaven.control.models import AuditEntry, Submission
from carehaven.haven import open_haven
from carehaven.specs import load_spec
from tests.helpers import csv_bytes, episode
from tests.spec.test_row_rules import IPS, _valid_cld

#: One organisation of every kind a submission can come from.
ORGS = (
    ("P001", "treatment-service"),
    ("PR01", "prison"),
    ("PR02", "prison"),
    ("SS01", "secure-setting"),
    ("YP01", "young-peoples-service"),
    ("CJ01", "criminal-justice-team"),
    ("E08000025", "local-authority"),
    ("HMRC", "partner"),
)
NDTMS_KINDS = (
    "treatment-service, young-peoples-service, prison, secure-setting or criminal-justice-team"
)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One haven for the module (``init`` is the slow part); each test counts its own."""
    args = ["--haven", str(tmp_path_factory.mktemp("submitters") / "haven")]
    assert main([*args, "init"]) == 0
    for code, kind in ORGS:
        assert main([*args, "orgs", "add", code, "--kind", kind, "--name", code]) == 0
    return args


def _submit(h: list[str], tmp_path: Path, data: bytes, dataset: str, org: str,
            capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    path = tmp_path / f"{org}-{dataset}.csv"
    path.write_bytes(data)
    code = main([*h, "submit", str(path), "--dataset", dataset, "--org", org, "--period",
                 "2025Q2", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _state(h: list[str], org: str, dataset: str
           ) -> tuple[list[Path], list[Submission], list[AuditEntry]]:
    """Every landed file; the submissions and refusals of ``org`` for ``dataset``."""
    root = Path(h[1])
    haven = open_haven(Settings.load(haven=root))
    try:
        with haven.sessions() as s:
            subs = list(s.scalars(select(Submission).where(Submission.org_code == org,
                                                           Submission.dataset == dataset)))
            refused = [e for e in s.scalars(select(AuditEntry).where(
                AuditEntry.action == "submission.refused",
                AuditEntry.subject == f"organisation:{org}"))
                if json.loads(e.details)["dataset"] == dataset]
    finally:
        haven.close()
    landed = [p for p in (root / "landing").rglob("*") if p.is_file()]
    return landed, subs, refused


@pytest.mark.parametrize(("org", "kind", "dataset", "allowed"), [
    ("PR01", "prison", "cld-event", "local-authority"),
    ("P001", "treatment-service", "hmrc-return", "partner"),
    ("E08000025", "local-authority", "ndtms-episode", NDTMS_KINDS),
    ("CJ01", "criminal-justice-team", "ips-episode", "treatment-service"),
    ("HMRC", "partner", "ndtms-review", NDTMS_KINDS),
])
def test_a_dataset_from_an_organisation_of_another_kind_is_refused_and_nothing_lands(
        h, tmp_path, capsys, org, kind, dataset, allowed):
    """COL-9: the sentence names the organisation, its kind, the dataset and the kinds that
    may; exit 15; no landed file, no submission row; the attempt is audited, without values."""
    data = csv_bytes([episode(provider_code=org, initials="QZ")])
    landed_before = _state(h, org, dataset)[0]
    code, _, err = _submit(h, tmp_path, data, dataset, org, capsys)
    sentence = (f"Organisation {org}, of kind {kind}, may not submit {dataset}: only "
                f"organisations of kind {allowed} return it (COL-9). Nothing was landed.")
    assert code == 15
    assert sentence in " ".join(err.split()) and "Traceback" not in err

    code, out, _ = _submit(h, tmp_path, data, dataset, org, capsys, "--json")
    assert code == 15 and json.loads(out) == {"error": {"exit_code": 15, "message": sentence}}

    landed, subs, refused = _state(h, org, dataset)
    assert landed == landed_before and subs == []
    assert len(refused) == 2
    assert json.loads(refused[0].details) == {"org": org, "kind": kind, "dataset": dataset}
    assert refused[0].subject == f"organisation:{org}"
    assert "QZ" not in refused[0].details + refused[0].subject


def _review(org: str) -> dict[str, str]:
    stage = load_spec("ndtms-review").field("review_stage").enum
    assert stage is not None
    return {"provider_code": org, "episode_id": "E1", "review_date": "2025-05-01",
            "review_stage": stage[0], "days_used_substance_1": "3"}


@pytest.mark.parametrize(("org", "dataset", "rows"), [
    ("P001", "ndtms-episode", [episode()]),
    ("PR01", "ndtms-episode", [episode(provider_code="PR01")]),
    ("SS01", "ndtms-episode", [episode(provider_code="SS01")]),
    ("CJ01", "ndtms-episode", [episode(provider_code="CJ01")]),
    ("YP01", "ndtms-episode", [episode(provider_code="YP01", young_person_vulnerability="1")]),
    ("PR02", "ndtms-review", [_review("PR02")]),
    ("P001", "ips-episode", [IPS]),
    ("E08000025", "cld-event", [_valid_cld()]),
    ("HMRC", "hmrc-return", [{"match_ref": "M1", "matched": "N"}]),
])
def test_the_kinds_a_spec_names_still_submit(h, tmp_path, capsys, org, dataset, rows):
    """COL-9: treatment services, young people's services, prisons, secure settings and
    criminal justice teams return NDTMS; treatment services IPS; local authorities CLD; the
    HMRC partner the HMRC return. A review names an episode its provider has returned."""
    if dataset == "ndtms-review":
        code, _, err = _submit(h, tmp_path, csv_bytes([episode(provider_code=org)]),
                               "ndtms-episode", org, capsys)
        assert code == 0, err
    before = len(_state(h, org, dataset)[0])
    code, out, err = _submit(h, tmp_path, csv_bytes(rows), dataset, org, capsys, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "accepted"
    landed, subs, refused = _state(h, org, dataset)
    assert len(landed) == before + 1 and [s.status for s in subs] == ["accepted"]
    assert refused == []


def test_spec_show_lists_the_kinds_that_submit(capsys):
    assert main(["spec", "show", "cld-event"]) == 0
    assert "Submitted by organisations of kind: local-authority (COL-9)" in capsys.readouterr().out
    assert main(["spec", "list", "--json"]) == 0
    listed = {s["name"]: s["submitted_by"] for s in json.loads(capsys.readouterr().out)}
    assert listed == {
        "cld-event": ["local-authority"],
        "hmrc-return": ["partner"],
        "ips-episode": ["treatment-service"],
        "ndtms-episode": ["treatment-service", "young-peoples-service", "prison",
                          "secure-setting", "criminal-justice-team"],
        "ndtms-review": ["treatment-service", "young-peoples-service", "prison",
                         "secure-setting", "criminal-justice-team"],
    }
