"""submit, submissions, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import ForceFlag, JsonFlag, app, open_as
from carehaven.cli.output import emit_json, out, stages, table
from carehaven.errors import ExitCode, NotFoundError, UsageError

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
    from carehaven.collection import submit as submit_file
    from carehaven.collection.submit import STAGES

    haven, who = open_as(ctx, Permission.SUBMIT, org)
    with stages(STAGES, quiet=json) as step:
        result = submit_file(
            haven, file, dataset=dataset, org=org, period=period, actor=who.label, progress=step
        )
    if json:
        emit_json(result.as_json())
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
    from carehaven.access.users import require, require_visible
    from carehaven.control.rows import as_datetime, in_list

    haven, who = open_as(ctx, None)
    # Plain SQL (control.rows), so that listing starts without SQLAlchemy (issue 13 item 8).
    where: list[str] = []
    params: dict[str, object] = {}
    if org:
        require(haven, who, Permission.READ_SUBMISSIONS, org)
        where.append("org_code = :org")
        params["org"] = org
    else:
        visible = require_visible(haven, who, Permission.READ_SUBMISSIONS)
        if visible is not None:
            among, chosen = in_list("org", sorted(visible))
            where.append(f"org_code IN {among}")
            params.update(chosen)
    if dataset:
        where.append("dataset = :dataset")
        params["dataset"] = dataset
    if period:
        where.append("period = :period")
        params["period"] = period
    found = haven.rows.fetch(
        "SELECT id, org_code, dataset, period, status, rows_total, rows_accepted, "  # noqa: S608
        "rows_rejected, findings, superseded_by, received_at, sha256 FROM submissions"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY received_at DESC", params)
    listing: list[dict[str, Any]] = [
        {
            "submission_id": sid,
            "org": org_code,
            "dataset": name,
            "period": label,
            "status": status,
            "rows": {"total": total, "accepted": accepted, "rejected": rejected},
            "findings": findings,
            "superseded_by": superseded_by,
            "received_at": as_datetime(received).isoformat(timespec="seconds"),
            "sha256": sha256,
        }
        for (sid, org_code, name, label, status, total, accepted, rejected, findings,
             superseded_by, received, sha256) in found
    ]
    if json:
        emit_json(listing)
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
                s["submission_id"],
                s["org"],
                s["dataset"],
                s["period"],
                s["status"],
                s["rows"]["total"],
                s["rows"]["accepted"],
                s["rows"]["rejected"],
                s["superseded_by"] or "",
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
    from carehaven.access.users import require
    from carehaven.collection import report as reports
    from carehaven.control.models import Submission
    from carehaven.haven import outpath
    from carehaven.publish import atomic

    haven, who = open_as(ctx, None)
    with haven.sessions() as session:
        found = session.get(Submission, submission_id)
    # Someone who may read only some organisations hears the same about a submission that
    # does not exist as about another organisation's (exit 13 either way): nothing leaks.
    require(
        haven, who, Permission.READ_SUBMISSIONS, found.org_code if found else None,
        message=f"There is no submission {submission_id} that you may read.",
    )
    folder = haven.paths.reports / submission_id
    if found is None or "/" in submission_id or not (folder / reports.SUMMARY_FILE).is_file():
        raise NotFoundError(f"There is no submission {submission_id} in this haven.")
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
    from carehaven.access.users import require
    from carehaven.control.models import Submission

    haven, who = open_as(ctx, None)
    with haven.sessions() as session:
        found = session.get(Submission, submission_id)
    require(
        haven, who, Permission.SUBMIT, found.org_code if found else None,
        message=f"There is no submission {submission_id} that you may confirm or withdraw.",
    )
    if found is None:
        raise NotFoundError(f"There is no submission {submission_id} in this haven.")
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
        emit_json({"submission_id": submission_id, "status": "accepted", "superseded": retired})
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
        emit_json({"submission_id": submission_id, "status": "withdrawn"})
        return
    out.print(f"[bold]WITHDRAWN[/] {submission_id}; the submission in force stays.")
