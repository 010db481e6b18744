"""extract, scan, keys rotate, extracts list: the tiers below personal (PSE-1 to PSE-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.governance.permissions import Permission

keys_app = typer.Typer(help="Pseudonym keys: generations and rotation.", no_args_is_help=True)
extracts_app = typer.Typer(help="Extracts written so far.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(extracts_app, name="extracts")


def _say(json: bool) -> object:
    return (lambda _m: None) if json or not err.is_terminal else (lambda m: err.print(f"  {m}"))


@app.command()
def extract(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset to extract.")],
    tier: Annotated[
        str, typer.Option("--tier", help="de-personalised (pseudonymised rows) or anonymised.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the files into.")],
    recipient: Annotated[
        str | None,
        typer.Option("--recipient", help="Who the extract is for; names the pseudonym key."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Anonymised: people per class, at least.")] = 10,
    l_div: Annotated[
        int, typer.Option("--l", help="Anonymised: distinct sensitive values per class.")
    ] = 2,
    sensitive: Annotated[
        str | None,
        typer.Option("--sensitive", help="Anonymised: the sensitive field (default: the spec's)."),
    ] = None,
    max_suppression: Annotated[
        float,
        typer.Option(
            "--max-suppression", help="Anonymised: the share of rows the search may suppress."
        ),
    ] = 0.05,
    json: JsonFlag = False,
) -> None:
    """Write a dataset at a tier below personal: Parquet, CSV and a manifest, scanned first."""
    from carehaven.pseudonymise.extract import Request
    from carehaven.pseudonymise.extract import extract as run_extract

    haven, who = open_as(ctx, Permission.EXTRACT)
    req = Request(dataset, tier, recipient, k, l_div, max_suppression, sensitive)
    result = run_extract(haven, req, out_dir, actor=who.label, progress=_say(json))  # type: ignore[arg-type]
    if json:
        emit_json(result.as_json())
        return
    out.print(
        f"[bold green]WRITTEN[/] {result.extract_id}: {result.rows:,} {tier} rows of {dataset}"
        + (f", pseudonyms under key {result.key_id}" if result.key_id else "")
        + "."
    )
    for f in [*result.files, result.manifest]:
        out.print(f"  {f}")
    out.print(f"Leak scan: {result.scan.summary()}")
    a = result.anonymisation
    if a is not None:
        report = a.report()
        chosen, base = report["chosen"], report["baseline_global_recoding"]
        assert isinstance(chosen, dict) and isinstance(base, dict)
        levels = ", ".join(f"{n} {lvl}" for n, lvl in chosen["levels"].items())
        out.print(f"k = {a.k}, l = {a.l_div} on {a.sensitive}; levels: {levels}.")
        out.print(
            f"Information lost {chosen['information_loss']:.3f} "
            f"(generalisation {chosen['generalisation_loss']:.3f}, "
            f"{a.suppressed_actual:,} rows suppressed); simple global recoding would lose "
            f"{base['information_loss']:.3f}."
        )


@app.command()
def scan(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .parquet or .csv file.")],
    json: JsonFlag = False,
) -> None:
    """Check a file for identifiers, person ids, tokens and other recipients' pseudonyms."""
    from carehaven.pseudonymise.scan import LeakFoundError, scan_file

    haven, _ = open_as(ctx, Permission.EXTRACT)
    result = scan_file(haven, file, progress=_say(json))  # type: ignore[arg-type]
    if json:
        emit_json({"ok": result.ok, "hits": result.hits})
    elif result.ok:
        out.print(f"[bold green]CLEAN[/] {file}: {result.summary()}")
    else:
        out.print(f"[bold red]LEAK[/] {file}: {result.summary()}")
    if not result.ok:
        raise typer.Exit(LeakFoundError.exit_code)


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Start a new generation of pseudonym keys; earlier releases stay searchable."""
    from carehaven.pseudonymise.keys import rotate

    haven, who = open_as(ctx, Permission.RUN_PIPELINE)
    gen = rotate(haven, actor=who.label)
    if json:
        emit_json({"generation": gen.id, "created_at": gen.created_at.isoformat()})
        return
    out.print(
        f"[bold green]ROTATED[/] pseudonym keys are now generation {gen.id}; later extracts "
        "get new pseudonyms, earlier ones keep theirs."
    )


@extracts_app.command("list")
def extracts_list(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every extract written, with its tier, recipient and key id."""
    from carehaven.pseudonymise.lookup import list_extracts

    haven, _ = open_as(ctx, Permission.EXTRACT)
    rows = list_extracts(haven)
    if json:
        emit_json(rows)
        return
    table(
        "Extracts",
        ["id", "dataset", "tier", "recipient", "key id", "rows", "written"],
        [
            [
                r["id"],
                r["dataset"],
                r["tier"],
                r["recipient"] or "",
                r["key_id"] or "",
                f"{r['rows']:,}",
                r["created_at"],
            ]
            for r in rows
        ],
    )


@extracts_app.command("find")
def extracts_find(
    ctx: typer.Context,
    person: Annotated[str, typer.Option("--person", help="The person_id to look for.")],
    json: JsonFlag = False,
) -> None:
    """The extracts that hold rows about a person, and how many (for a rights request)."""
    from carehaven.pseudonymise.lookup import find_person

    haven, _ = open_as(ctx, Permission.EXTRACT)
    found = find_person(haven, person)
    if json:
        emit_json(found)
        return
    if not found:
        out.print("No extract holds rows about this person.")
        return
    table(
        "Extracts holding the person",
        ["id", "dataset", "tier", "recipient", "rows"],
        [[f["id"], f["dataset"], f["tier"], f["recipient"] or "", f["rows"]] for f in found],
    )
