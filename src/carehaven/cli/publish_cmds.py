"""publish, disclosure check: statistical tables with small numbers protected (PSE-5, OUT-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import UsageError

disclosure_app = typer.Typer(help="Disclosure control of published tables.", no_args_is_help=True)
app.add_typer(disclosure_app, name="disclosure")


def _say(json: bool) -> object:
    return (lambda _m: None) if json or not err.is_terminal else (
        lambda m: err.print(f"  {escape(m)}")
    )


@app.command()
def publish(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The publication table (see --list).")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="A quarter like 2025Q2 or a month like 2025-06.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="The folder to write the files into.")
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the publication tables and stop.")
    ] = False,
    time_limit: Annotated[
        float,
        typer.Option("--time-limit", help="Seconds the exact suppression may take before the "
                     "heuristic finishes it."),
    ] = 60.0,
    json: JsonFlag = False,
) -> None:
    """Publish a table: count, suppress small cells and their complements, check, write.

    Writes a long-format CSV (with its structure file), an accessible spreadsheet and a chart
    (PNG and HTML); flow tables also get their financial year-to-date table. A table that fails
    the intruder check is not written.
    """
    from carehaven.publish.definitions import definitions

    if list_:
        if json:
            from carehaven.publish.public import DefinitionPublic

            emit_json([DefinitionPublic.of(d).as_json() for d in definitions().values()])
            return
        table("Publication tables", ["name", "dataset", "description"],
              [[d.name, d.dataset, d.description] for d in definitions().values()])
        return
    if name is None or period is None or out_dir is None:
        raise UsageError("publish needs a table NAME, --period and --out (or --list).")
    from carehaven.publish.publish import publish as run_publish

    haven, who = open_as(ctx, Permission.PUBLISH)
    result = run_publish(
        haven, name, period, out_dir, actor=who.label, progress=_say(json),  # type: ignore[arg-type]
        time_limit=time_limit,
    )
    if json:
        from carehaven.publish.public import PublishOutcome

        emit_json(PublishOutcome.of(result).as_json())
        return
    how = "optimal" if result.proven_optimal else f"{result.method}, not proven optimal"
    out.print(
        f"[bold green]PUBLISHED[/] {result.publication}: {name} for {result.period}, "
        f"{result.cells:,} cells; {result.suppressed_primary} suppressed as small, "
        f"{result.suppressed_secondary} more to protect them ({how}, {result.seconds:.2f} s). "
        "Intruder check passed."
    )
    if result.revision is not None:
        out.print(f"[bold yellow]REVISED[/] {escape(result.revision.note())}")
    for f in result.files:
        out.print(f"  {f}")


@disclosure_app.command("check")
def disclosure_check(
    file: Annotated[Path, typer.Argument(help="A published long-format CSV.")],
    json: JsonFlag = False,
) -> None:
    """Attack a published CSV as an intruder would: the interval of every suppressed cell."""
    from carehaven.publish.check import check_file
    from carehaven.publish.publish import UnsafeTableError

    result = check_file(file)
    if json:
        from carehaven.publish.public import CheckOutcome

        emit_json(CheckOutcome.of(result).as_json())
    else:
        for w in result.warnings:
            err.print(f"[yellow]note[/] {escape(w)}")
        verdict = "[bold green]SAFE[/]" if result.safe else "[bold red]UNSAFE[/]"
        level = result.protection_level
        width = f"an interval {level + 1} wide" if level else "a single value"
        out.print(
            f"{verdict} {file}: {result.cells_checked} suppressed cells checked; "
            f"{len(result.unsafe)} can be narrowed to less than {width}."
        )
        for u in result.unsafe[:20]:
            cell = ", ".join(f"{k}={v}" for k, v in u["cell"].items())
            lo, hi = u["interval"]
            out.print(
                f"  {cell}: between {lo} and {'unbounded' if hi is None else hi}"
            )
    if not result.safe:
        raise typer.Exit(UnsafeTableError.exit_code)
