"""The portal's one-writer path: an upload streamed to the haven, queued, and submitted by the
worker through the same submit the command line runs (issue 14 part 2, ADR 0016)."""

from __future__ import annotations

import hashlib
import stat
import threading
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from carehaven.access import auth
from carehaven.access.users import Actor, add_user
from carehaven.config import Settings
from carehaven.control.models import AuditEntry, Job, Submission
from carehaven.errors import CarehavenError, NotFoundError
from carehaven.haven import Haven, open_haven
from carehaven.jobs import queue
from carehaven.jobs.queue import clean_file_name, enqueue_submission, run_next
from carehaven.jobs.uploads import Upload, receiving
from carehaven.jobs.worker import work
from tests.helpers import episodes_file
from tests.people import CHEAP, Cli, actor

ORGS = (("P001", "treatment-service", "Riverside Recovery"),
        ("P002", "treatment-service", "Hillside Health"))


@pytest.fixture
def people(make_haven: Callable[..., Haven], monkeypatch: pytest.MonkeyPatch) -> Haven:
    """Two founders (data team), alice submitting for P001 and bob for P002."""
    monkeypatch.setattr(auth, "HASHER", CHEAP)
    haven = make_haven(orgs=ORGS)
    for name in ("boss", "chief"):
        add_user(haven, name, name.title(), None, roles=["data-team"], actor="cli:owner")
    add_user(haven, "alice", "Alice", "P001", roles=["submitter"], actor="user:boss")
    add_user(haven, "bob", "Bob", "P002", roles=["submitter"], actor="user:boss")
    return haven


def _upload(haven: Haven, data: bytes, chunk: int = 4096) -> Upload:
    with receiving(haven) as sink:
        for i in range(0, len(data), chunk):
            sink.write(data[i:i + chunk])
        return sink.finish()


def _queue(haven: Haven, who: Actor, data: bytes, *, name: str = "P001_2025Q2.csv",
           org: str = "P001", period: str = "2025Q2") -> str:
    up = _upload(haven, data)
    return enqueue_submission(haven, up, file_name=name, org=org, dataset="ndtms-episode",
                              period=period, actor=who).job_id


def _uploads(haven: Haven) -> list[str]:
    return sorted(p.name for p in haven.paths.uploads.iterdir())


def test_an_upload_streams_to_an_owner_only_file_with_its_size_and_hash(haven: Haven) -> None:
    data = episodes_file(50)
    up = _upload(haven, data, chunk=100)
    path = haven.paths.uploads / up.name
    assert up.size_bytes == len(data) and up.sha256 == hashlib.sha256(data).hexdigest()
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(haven.paths.uploads.stat().st_mode) == 0o700
    assert up.name.startswith("up-") and "P001" not in up.name  # never the client's name


def test_an_upload_over_the_limit_is_refused_mid_stream_and_leaves_nothing(tmp_path: Path,
                                                                           make_haven) -> None:
    haven = make_haven()
    small = Haven(Settings.load(haven=haven.paths.root, max_file_mb=1))
    chunk = b"x" * 65536
    written = 0
    with pytest.raises(CarehavenError) as refused, receiving(small) as sink:
        for _ in range(40):  # 2.5 MiB offered; refused as it passes 1 MiB
            sink.write(chunk)
            written += len(chunk)
    assert written <= 1024 * 1024
    assert refused.value.exit_code == 3 and "1 MiB" in refused.value.message
    assert _uploads(haven) == []


def test_an_upload_abandoned_by_an_error_or_unfinished_is_deleted(haven: Haven) -> None:
    with pytest.raises(RuntimeError), receiving(haven) as sink:
        sink.write(b"provider_code\n")
        raise RuntimeError("the client went away")
    with receiving(haven) as sink:
        sink.write(b"provider_code\n")
    assert _uploads(haven) == []


@pytest.mark.parametrize(("sent", "kept"), [
    ("P001_2025Q2.csv", "P001_2025Q2.csv"),
    ("C:\\Users\\me\\Desktop\\P001_2025Q2.csv", "P001_2025Q2.csv"),
    ("../../etc/P001_2025Q2.csv", "P001_2025Q2.csv"),
    ("P001\x00_2025Q2\r\n.csv", "P001_2025Q2.csv"),
    ("..", "upload.csv"),
    ("", "upload.csv"),
    ("\u202eP001_2025Q2.csv", "P001_2025Q2.csv"),
])
def test_a_client_file_name_becomes_a_bare_name(sent: str, kept: str) -> None:
    assert clean_file_name(sent) == kept


def test_a_long_file_name_is_cut_keeping_its_suffix() -> None:
    cut = clean_file_name("a" * 300 + ".csv")
    assert len(cut) == 100 and cut.endswith(".csv")


def test_a_queued_job_keeps_only_a_bare_shown_name_and_is_audited(people: Haven) -> None:
    alice = actor(people, "alice")
    job_id = _queue(people, alice, episodes_file(5), name="/home/x/Declan_Phillips_2025Q2.csv")
    found = queue.job(people, alice, job_id)
    assert found.state == "queued" and found.attempts == 0 and found.outcome is None
    assert "/" not in found.file_name and "Declan" not in found.file_name  # masked, as submit
    with people.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "job.queued")).one()
    assert entry.subject == f"job:{job_id}" and "Declan" not in str(entry.details)
    assert entry.actor == "user:alice"


@pytest.mark.parametrize(("org", "dataset", "period", "says"), [
    ("P404", "ndtms-episode", "2025Q2", "P404"),
    ("P001", "no-such-return", "2025Q2", "no-such-return"),
    ("P001", "ips-episode", "2025-05", "not by month"),
    ("P001", "cld-event", "2025Q2", "may not submit"),
    ("P001", "ndtms-episode", "2099Q1", "not begun"),
])
def test_what_submit_would_refuse_is_refused_before_queueing_and_the_upload_deleted(
        haven: Haven, org: str, dataset: str, period: str, says: str) -> None:
    owner = actor_of_owner(haven)
    up = _upload(haven, episodes_file(3))
    with pytest.raises(CarehavenError) as refused:
        enqueue_submission(haven, up, file_name="x.csv", org=org, dataset=dataset,
                           period=period, actor=owner)
    assert says in refused.value.message
    assert _uploads(haven) == []
    with haven.sessions() as s:
        assert s.scalars(select(Job)).all() == []


def test_a_submitter_may_not_queue_for_another_organisation(people: Haven) -> None:
    up = _upload(people, episodes_file(3))
    with pytest.raises(CarehavenError) as refused:
        enqueue_submission(people, up, file_name="x.csv", org="P002", dataset="ndtms-episode",
                           period="2025Q2", actor=actor(people, "alice"))
    assert refused.value.exit_code == 13
    assert _uploads(people) == []


def test_another_organisations_job_is_not_found_like_a_missing_one(people: Haven) -> None:
    job_id = _queue(people, actor(people, "alice"), episodes_file(3))
    bob = actor(people, "bob")
    with pytest.raises(NotFoundError) as theirs:
        queue.job(people, bob, job_id)
    with pytest.raises(NotFoundError) as none:
        queue.job(people, bob, "job-0000000000000000")
    assert theirs.value.message.replace(job_id, "X") == none.value.message.replace(
        "job-0000000000000000", "X")
    assert theirs.value.http_status == 404
    assert [j.job_id for j in queue.jobs(people, bob)] == []
    assert [j.job_id for j in queue.jobs(people, actor(people, "alice"))] == [job_id]
    assert [j.job_id for j in queue.jobs(people, actor(people, "boss"))] == [job_id]
    with pytest.raises(CarehavenError):
        queue.jobs(people, bob, org="P001")


def test_a_queued_job_runs_and_links_its_submission(people: Haven) -> None:
    alice = actor(people, "alice")
    job_id = _queue(people, alice, episodes_file(40))
    ran = run_next(people, worker="test:1")
    assert ran is not None and ran.job_id == job_id
    assert (ran.state, ran.outcome, ran.attempts) == ("done", "accepted", 1)
    assert ran.started_at is not None and ran.finished_at is not None
    with people.sessions() as s:
        sub = s.get(Submission, ran.submission_id)
        assert sub is not None
        assert (sub.rows_accepted, sub.org_code, sub.file_name) == (40, "P001", "P001_2025Q2.csv")
        received = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "submission.received")).one()
    assert received.actor == "user:alice"  # submitted as the user who queued it
    assert _uploads(people) == []
    assert run_next(people, worker="test:1") is None  # idle
    assert queue.job(people, alice, job_id) == ran


def test_a_rejected_file_is_a_judged_outcome_and_a_bad_one_a_sentence(people: Haven) -> None:
    alice = actor(people, "alice")
    bad = _queue(people, alice, episodes_file(5, sex="Z"))
    empty = _queue(people, alice, b"", name="P001_2025Q2_v2.csv")
    first, second = run_next(people, worker="t"), run_next(people, worker="t")
    assert first is not None and second is not None
    assert (first.job_id, first.state, first.outcome) == (bad, "done", "rejected")
    assert (second.job_id, second.state, second.outcome) == (empty, "done", "rejected")
    assert "empty" in second.message
    assert _uploads(people) == []


def test_a_revoked_submitter_s_queued_job_is_not_submitted(people: Haven) -> None:
    from carehaven.access.users import revoke

    job_id = _queue(people, actor(people, "alice"), episodes_file(5))
    revoke(people, "alice", "submitter", "P001", actor="user:boss")
    ran = run_next(people, worker="t")
    assert ran is not None and ran.job_id == job_id
    assert (ran.state, ran.submission_id) == ("failed", None)
    assert "may no longer submit" in ran.message
    with people.sessions() as s:
        assert s.scalars(select(Submission)).all() == []


def test_the_same_bytes_again_are_unchanged_and_link_the_first_submission(haven: Haven) -> None:
    owner = actor_of_owner(haven)
    data = episodes_file(10)
    _queue(haven, owner, data)
    _queue(haven, owner, data)
    first, again = run_next(haven, worker="t"), run_next(haven, worker="t")
    assert first is not None and again is not None
    assert again.outcome == "unchanged" and again.submission_id == first.submission_id


def test_two_workers_never_run_at_once(people: Haven) -> None:
    """Two workers (threads with their own haven, as two processes would be) on four jobs:
    each job runs once, and no two submits overlap."""
    alice = actor(people, "alice")
    for i, period in enumerate(("2025Q2", "2025Q3", "2025Q4", "2026Q1")):
        _queue(people, alice, episodes_file(30 + i,
                                            referral_date=_start(period),
                                            treatment_start_date=_start(period, 5)),
               name=f"P001_{period}.csv", period=period)
    lines: list[str] = []
    threads = [threading.Thread(target=work, args=(people.settings,),
                                kwargs={"once": True, "poll_s": 0.05, "progress": lines.append})
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(lines) == 4 and all(" accepted sub-" in line for line in lines), lines
    with people.sessions() as s:
        ran = sorted((j.started_at, j.finished_at, j.attempts) for j in s.scalars(select(Job)))
    assert [r[2] for r in ran] == [1, 1, 1, 1]
    # Each job's start and end are recorded under the writer lock: no two intervals overlap.
    assert all(a[1] <= b[0] for a, b in pairwise(ran)), ran


def test_the_jobs_command_lists_what_you_may_read(people: Haven, capsys, monkeypatch) -> None:
    job_id = _queue(people, actor(people, "alice"), episodes_file(3))
    cli = Cli(people.paths.root, capsys, monkeypatch)
    listed = cli.ok("alice", "jobs")
    assert [(j["job_id"], j["state"]) for j in listed] == [(job_id, "queued")]
    assert "upload" not in listed[0] and "worker" not in listed[0]
    assert cli.ok("bob", "jobs") == []


def test_the_worker_command_runs_the_queue_once(people: Haven, capsys, monkeypatch) -> None:
    job_id = _queue(people, actor(people, "alice"), episodes_file(3))
    cli = Cli(people.paths.root, capsys, monkeypatch)
    code, out, err = cli(None, "worker", "--once")
    assert code == 0, err
    assert out.startswith(f"{job_id} accepted sub-")


def actor_of_owner(haven: Haven) -> Actor:
    """The haven's owner in single-operator mode (no users yet)."""
    from carehaven.access.users import acting_user

    return acting_user(haven, environ={"USER": "owner"})


def _start(period: str, plus: int = 0) -> str:
    from carehaven.collection.period import parse_period

    day = parse_period(period).start
    return day.replace(day=day.day + plus).isoformat()


def test_a_haven_older_than_uploads_gets_the_folder_on_first_use(haven: Haven) -> None:
    haven.paths.uploads.rmdir()
    again = open_haven(haven.settings)
    try:
        _upload(again, b"a")
        assert stat.S_IMODE(again.paths.uploads.stat().st_mode) == 0o700
    finally:
        again.close()


def test_a_job_runs_on_either_control_plane(make_haven, control_backend: str) -> None:
    haven = make_haven(backend=control_backend)
    owner = actor_of_owner(haven)
    job_id = _queue(haven, owner, episodes_file(12))
    ran = run_next(haven, worker="t")
    assert ran is not None and (ran.job_id, ran.outcome) == (job_id, "accepted")
    assert ran.created_at.tzinfo is not None and ran.finished_at is not None
    assert [j.job_id for j in queue.jobs(haven, owner)] == [job_id]


@pytest.mark.slow
def test_a_providers_feedback_is_written_by_the_worker_and_only_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IDN-2 through the portal's door: the feedback reads the data plane, so the worker
    writes it; the file is the one `carehaven feedback` writes, and another provider's
    submitter cannot reach the job or the file (issue 14)."""
    import csv

    from carehaven.identity.feedback import feedback
    from carehaven.identity.link import link
    from tests.linkage import build

    monkeypatch.setattr(auth, "HASHER", CHEAP)
    haven, synth = build(tmp_path / "haven", tmp_path / "returns", people=500, seed=7,
                         periods=("2025Q1", "2025Q2"))
    link(haven, actor="test")
    providers = sorted(o.code for o in synth.organisations if o.kind == "treatment-service")
    mine, other = providers[0], providers[1]
    for name in ("boss", "chief"):
        add_user(haven, name, name.title(), None, roles=["data-team"], actor="cli:owner")
    add_user(haven, "alice", "Alice", mine, roles=["submitter"], actor="user:boss")
    add_user(haven, "bob", "Bob", other, roles=["submitter"], actor="user:boss")
    alice, bob = actor(haven, "alice"), actor(haven, "bob")
    with pytest.raises(CarehavenError):  # only for an organisation she may read
        queue.enqueue_feedback(haven, org=other, actor=alice)
    queued = queue.enqueue_feedback(haven, org=mine, actor=alice)
    assert (queued.kind, queued.state) == ("feedback", "queued")
    with pytest.raises(NotFoundError):  # not before it is written
        queue.feedback_file(haven, alice, queued.job_id)
    ran = run_next(haven, worker="test:1")
    assert ran is not None and ran.state == "done", ran.message
    # The first feedback after a link run holds its new matches for a person to decide.
    from carehaven.identity.feedback import decide, holds
    waiting = [h for h in holds(haven, status="waiting") if h.org == mine]
    assert waiting
    for h in waiting:
        decide(haven, h.label, release=True, actor="user:boss")
    queued = queue.enqueue_feedback(haven, org=mine, actor=alice)
    assert run_next(haven, worker="test:1") is not None
    found, path = queue.feedback_file(haven, alice, queued.job_id)
    assert found.size_bytes == path.stat().st_size
    with path.open() as fh:
        told = list(csv.DictReader(fh))
    # The same answer as the command line's, computed again from the same link run.
    direct = feedback(haven, mine, tmp_path / "direct.csv", actor="test")
    assert len(told) == len(direct.rows) > 0
    assert {r["client_ref"] for r in told} == {r["client_ref"] for r in direct.rows}
    assert all(r["other_provider"] != mine for r in told)
    for who in (bob,):
        with pytest.raises(NotFoundError) as refused:
            queue.feedback_file(haven, who, queued.job_id)
        assert refused.value.http_status == 404
