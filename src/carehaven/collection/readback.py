"""Reading the landing zone back (issue 12, item 15): every submission's landed file must still
decrypt under its AES-GCM tag to the bytes whose sha256 the submission recorded.

Problems are named by submission id and kind only; no byte of content is ever shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from carehaven.collection.landing import DIGEST, MISSING, TAG, UNREADABLE, check_landed
from carehaven.control.models import Submission
from carehaven.haven import Haven

#: What each problem means, for the sentence that names it.
MEANING = {
    MISSING: "is missing",
    UNREADABLE: "cannot be read as a landed file",
    TAG: "fails its AES-GCM integrity check (it was changed)",
    DIGEST: "decrypts to bytes whose sha256 is not the one recorded",
}


@dataclass(frozen=True)
class LandedProblem:
    submission_id: str
    problem: str  # missing | unreadable | tag | digest

    def sentence(self) -> str:
        return f"the landed file of {self.submission_id} {MEANING[self.problem]}"


def verify_landed(
    haven: Haven, progress: Callable[[int, int], None] | None = None
) -> list[LandedProblem]:
    """Check every submission's landed file, in the order they were received."""
    step = progress or (lambda _done, _total: None)
    with haven.sessions() as session:
        rows = session.execute(
            select(Submission.id, Submission.sha256).order_by(
                Submission.received_at, Submission.id
            )
        ).all()
    total, key = len(rows), haven.master_key
    problems: list[LandedProblem] = []
    step(0, total)
    for done, (sid, sha256) in enumerate(rows, start=1):
        found = check_landed(haven.paths.landing, key, sid, sha256)
        if found is not None:
            problems.append(LandedProblem(sid, found))
        step(done, total)
    return problems
