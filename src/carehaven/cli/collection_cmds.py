"""submit, submissions, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import ForceFlag, JsonFlag, app, open_as
from carehaven.cli.output import emit_json, out, stages, table
from carehaven.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from carehaven.collection.submit import SubmitResult


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The CSV return to submit; or a folder of returns whose names carry "
            "organisation, dataset and period (ORG_DATASET_PERIOD.csv, or DATASET/ORG_PERIOD.csv "
            "as synth writes them), each submitted on its own.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="The dataset, e.g. ndtms-episode. With a folder or --manifest: only "
                     "that dataset's files."),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(help="The submitting organisation's code. With a folder or --manifest: "
                     "only that organisation's files."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="The period: a quarter 2025Q2 or a month 2025-06. With a folder or "
                     "--manifest: only that period's files."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="A JSON file listing returns (path, dataset, org, period), each submitted "
            "as its own submission; synth's manifest.json is one (docs/submit-manifest.md).",
            show_default=False,
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Land, validate and accept a provider's file, or many (a folder, --manifest) in one go.
    Exit 0 accepted, 3 rejected, 16 held (it would retire markedly more than it brings:
    carehaven submissions confirm); for many, the worst outcome (docs/exit-codes.md)."""
    if manifest is not None or (file is not None and file.is_dir()):
        from carehaven.cli.submit_many import submit_many

        raise typer.Exit(submit_many(
            ctx, file, manifest, dataset=dataset, org=org, period=period, json=json
        ))
    if file is None or dataset is None or org is None or period is None:
        missing = [n for n, v in (("FILE", file), ("--dataset", dataset), ("--org", org),
                                  ("--period", period)) if v is None]
        raise UsageError(
            "submit needs a FILE with --dataset, --org and --period, a FOLDER, or --manifest; "
            f"missing: {', '.join(missing)}."
        )
    from carehaven.collection.submit import STAGES
    from carehaven.collection.submit import submit as submit_file

    haven, who = open_as(ctx, Permission.SUBMIT, org)
    with stages(STAGES, quiet=json) as step:
        result = submit_file(
            haven, file, dataset=dataset, org=org, period=period, actor=who.label, progress=step
        )
    if json:
        from carehaven.collection.public import SubmitOutcome

        emit_json(SubmitOutcome.of(result).as_json())
    else:
        colour = {"accepted": "green", "rejected": "red", "held": "yellow",
                  "unchanged": "yellow"}[result.status]
        out.print(
            f"[bold {colour}]{result.status.upper()}[/] {result.submission_id}: "
            f"{result.message}"
        )
        if result.superseded:
            out.print(f"It supersedes {result.superseded}, whose rows are now retired.")
        if result.findings:
            out.print(f"Report: carehaven report {result.submission_id} --format html")
    code = exit_code_of(result)
    if code:
        raise typer.Exit(int(code))


def exit_code_of(result: SubmitResult) -> ExitCode:
    """The exit code of a submission's outcome (docs/exit-codes.md): one ``submit`` exits with
    it, and ``submit --manifest`` or a folder with the worst of its files'."""
    return {"rejected": ExitCode.FILE_REJECTED,
            "held": ExitCode.NEEDS_CONFIRMATION}.get(result.status, ExitCode.OK)


submissions_app = typer.Typer(invoke_without_command=True)
app.add_typer(submissions_app, name="submissions")


@submissions_app.callback()
def submissions(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    period: Annotated[str | None, typer.Option(help="Only this period.")] = None,
    json: JsonFlag = False,
) -> None:
    """List submissions, newest first: those of the organisations you may read. A held one is
    not in force until confirmed (submissions confirm ID) or is withdrawn."""
    if ctx.invoked_subcommand is not None:
        return
    from carehaven.collection.listing import submissions as readable

    haven, who = open_as(ctx, None)
    listing = readable(haven, who, org=org, dataset=dataset, period=period)
    if json:
        from carehaven.collection.public import SubmissionPublic

        emit_json([SubmissionPublic.of(s).as_json() for s in listing])
        return
    table(
        "Submissions",
        [
            "Submission",
            "Org",
            "Dataset",
            "Period",
            "Status",
            "Rows",
            "Accepted",
            "Rejected",
            "Superseded by",
        ],
        [
            [
                s.submission_id,
                s.org,
                s.dataset,
                s.period,
                s.status,
                s.rows_total,
                s.rows_accepted,
                s.rows_rejected,
                s.superseded_by or "",
            ]
            for s in listing
        ],
    )


@app.command()
def report(
    ctx: typer.Context,
    submission_id: Annotated[str, typer.Argument(help="The submission, e.g. sub-1a2b3c4d5e6f.")],
    format: Annotated[
        Literal["html", "json", "csv"],
        typer.Option("--format", help="html for people, json for systems, csv for spreadsheets."),
    ] = "html",
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write to this new file instead of the haven's reports folder: outside the "
            "haven or under its outputs folder; never over an existing file without --force.",
        ),
    ] = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the report instead.")] = False,
    force: ForceFlag = False,
) -> None:
    """Write a submission's validation report as HTML, JSON or CSV."""
    from carehaven.collection import report as reports
    from carehaven.haven import outpath
    from carehaven.publish import atomic

    haven, who = open_as(ctx, None)
    folder = reports.folder_of(haven, who, submission_id)
    if out_file is not None and not stdout:  # before any work; checked again as it is made
        outpath.check_file(haven, out_file, force=force)
    summary, findings = reports.load(folder)
    text = {
        "html": lambda: reports.as_html(summary, findings),
        "json": lambda: reports.as_json(summary, findings),
        "csv": lambda: reports.as_csv(findings),
    }[format]()
    if stdout:
        sys.stdout.write(text)
        return
    if out_file is not None:
        target = outpath.write_new(haven, out_file, text, force=force)
    else:  # the haven's own copy, beside the submission's summary: replaced, never followed
        target = folder / f"report.{format}"
        atomic.write_text(target, text)
    out.print(f"Report written to {target}")


def _held_submission(ctx: typer.Context, submission_id: str) -> tuple[Any, Any]:
    """The haven and acting user, once they may submit for the submission's organisation; a
    submission of an organisation they may not submit for reads as one that does not exist."""
    from carehaven.collection.listing import submission

    haven, who = open_as(ctx, None)
    submission(haven, who, submission_id, permission=Permission.SUBMIT,
               doing="confirm or withdraw")
    return haven, who


@submissions_app.command("confirm")
def submissions_confirm(
    ctx: typer.Context,
    submission_id: Annotated[str, typer.Argument(help="The held submission.")],
    json: JsonFlag = False,
) -> None:
    """Put a held submission in force, retiring the one in force (audited)."""
    from carehaven.collection.supersession import confirm

    haven, who = _held_submission(ctx, submission_id)
    retired = confirm(haven, submission_id, actor=who.label)
    if json:
        from carehaven.collection.public import Confirmation

        emit_json(Confirmation(submission_id=submission_id, status="accepted",
                               superseded=retired).as_json())
        return
    out.print(f"[bold green]CONFIRMED[/] {submission_id} is in force.")
    if retired:
        out.print(f"It supersedes {retired}, whose rows are now retired.")


@submissions_app.command("withdraw")
def submissions_withdraw(
    ctx: typer.Context,
    submission_id: Annotated[str, typer.Argument(help="The held submission.")],
    json: JsonFlag = False,
) -> None:
    """Refuse a held submission: it never comes into force; the one in force stays (audited)."""
    from carehaven.collection.supersession import withdraw

    haven, who = _held_submission(ctx, submission_id)
    withdraw(haven, submission_id, actor=who.label)
    if json:
        from carehaven.collection.public import Confirmation

        emit_json(Confirmation(submission_id=submission_id, status="withdrawn").as_json())
        return
    out.print(f"[bold]WITHDRAWN[/] {submission_id}; the submission in force stays.")
