"""``submit --manifest`` and ``submit FOLDER``: many returns in one process, each on its own.

Every file goes through the same door as one ``submit``: the acting user's ``submit``
permission for its organisation (refused and audited the same way), then
``collection.submit``, its own atomic submission. A file that fails does not stop the others;
the command exits with the worst outcome (docs/exit-codes.md, "Many files").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from carehaven.access.permissions import Permission
from carehaven.cli.app import open_as
from carehaven.cli.collection_cmds import exit_code_of
from carehaven.cli.output import counter, emit_json, out, table
from carehaven.collection.batch import (
    Entry,
    from_folder,
    from_manifest,
    in_loading_order,
    matching,
)
from carehaven.errors import CarehavenError, ExitCode, UsageError

if TYPE_CHECKING:
    from carehaven.collection.public import FileOutcome

#: Outcomes from least to most serious: the batch exits with the last one any file had. A
#: file judged (rejected) is less serious than one never read because its entry was wrong, an
#: organisation or dataset unknown, the submitter of the wrong kind or without the right, or the
#: haven busy. A code not listed (a new outcome) ranks just above OK.
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.OK,
    ExitCode.NEEDS_CONFIRMATION,
    ExitCode.FILE_REJECTED,
    ExitCode.USAGE,
    ExitCode.UNKNOWN_DATASET,
    ExitCode.UNKNOWN_ORGANISATION,
    ExitCode.WRONG_SUBMITTER,
    ExitCode.ACCESS_DENIED,
    ExitCode.HAVEN_BUSY,
)


def rank(code: int) -> int:
    """Where ``code`` stands in ``SEVERITY``; an unlisted non-zero code just above OK."""
    for i, known in enumerate(SEVERITY):
        if code == known:
            return i * 2
    return 1


def worst(codes: list[int]) -> int:
    return max(codes, key=rank, default=int(ExitCode.OK))


@dataclass
class Outcome:
    entry: Entry
    file: str
    outcome: str
    exit_code: int
    message: str
    submission_id: str | None = None
    rows: dict[str, int] | None = None
    findings: int | None = None
    superseded: str | None = None

    def public(self) -> FileOutcome:
        from carehaven.collection.public import FileOutcome, RowCounts

        return FileOutcome(
            entry=self.entry.number, file=self.file, org=self.entry.org,
            dataset=self.entry.dataset, period=self.entry.period, outcome=self.outcome,
            exit_code=self.exit_code, submission_id=self.submission_id,
            rows=RowCounts(**self.rows) if self.rows else None, findings=self.findings,
            superseded=self.superseded, message=self.message)


def _shown(entry: Entry) -> str:
    """The file's name as a single submit would show it: kept only in a conventional form."""
    from carehaven.collection.masking import shape
    from carehaven.collection.period import parse_period
    from carehaven.collection.submit import shown_file_name

    try:
        when = parse_period(entry.period)
    except CarehavenError:
        return shape(entry.path.stem) + entry.path.suffix.casefold()
    return shown_file_name(entry.path.name, org=entry.org, dataset=entry.dataset, period=when)


def plan(
    folder: Path | None, manifest: Path | None, *, dataset: str | None, org: str | None,
    period: str | None,
) -> list[Entry]:
    """The files to submit, all read and checked before any is submitted, in loading order."""
    if manifest is not None and folder is not None:
        raise UsageError("Give a FOLDER or --manifest, not both.")
    if manifest is not None:
        entries = from_manifest(manifest)
    else:
        from carehaven.specs import available

        assert folder is not None
        entries = from_folder(folder, available())
    chosen = in_loading_order(matching(entries, dataset=dataset, org=org, period=period))
    if not chosen:
        raise UsageError(
            "No file of the " + ("manifest" if manifest is not None else "folder")
            + " matches the --dataset, --org or --period given; nothing was submitted."
        )
    return chosen


def submit_many(
    ctx: typer.Context, folder: Path | None, manifest: Path | None, *, dataset: str | None,
    org: str | None, period: str | None, json: bool,
) -> int:
    """Submit every file of a folder or manifest; print the summary; return the exit code."""
    from carehaven.access.users import require
    from carehaven.collection.submit import submit as submit_file

    entries = plan(folder, manifest, dataset=dataset, org=org, period=period)
    haven, who = open_as(ctx, None)  # who is acting, proved once; each file checked below
    done: list[Outcome] = []
    try:
        with counter("submitting", quiet=json) as progress:
            for i, entry in enumerate(entries):
                progress(escape(f"{entry.org} {entry.dataset} {entry.period}"), i, len(entries))
                shown = _shown(entry)
                try:
                    require(haven, who, Permission.SUBMIT, entry.org)
                    result = submit_file(haven, entry.path, dataset=entry.dataset,
                                         org=entry.org, period=entry.period, actor=who.label)
                except CarehavenError as exc:
                    done.append(Outcome(entry, shown, "refused", int(exc.exit_code),
                                        exc.message))
                    continue
                done.append(Outcome(
                    entry, shown, result.status, int(exit_code_of(result)), result.message,
                    result.submission_id,
                    {"total": result.rows_total, "accepted": result.rows_accepted,
                     "rejected": result.rows_rejected},
                    result.findings, result.superseded,
                ))
            progress("submitted", len(entries), len(entries))
    except Exception:
        if not json:  # what landed before an unexpected failure, then the failure itself
            _summary(done, len(entries))
        raise
    code = worst([o.exit_code for o in done])
    if json:
        from carehaven.collection.public import ManyOutcome

        emit_json(ManyOutcome(exit_code=code, files=[o.public() for o in done]).as_json())
    else:
        _summary(done, len(entries))
    return code


def _summary(done: list[Outcome], planned: int) -> None:
    table(
        f"Submitted {len(done)} of {planned} files",
        ["#", "File", "Org", "Dataset", "Period", "Outcome", "Accepted", "Rejected", "Exit"],
        [
            [
                str(o.entry.number), escape(o.file), escape(o.entry.org),
                escape(o.entry.dataset), escape(o.entry.period), o.outcome,
                o.rows["accepted"] if o.rows else None, o.rows["rejected"] if o.rows else None,
                str(o.exit_code),
            ]
            for o in done
        ],
    )
    for o in done:
        if o.exit_code:
            out.print(f"#{o.entry.number} {escape(o.file)}: {escape(o.message)}", soft_wrap=True)
    counts: dict[str, int] = {}
    for o in done:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    out.print(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) + ".")
