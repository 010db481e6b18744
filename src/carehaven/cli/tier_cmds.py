"""preview, scan, keys rotate, artefacts list / find: the tiers and what has left the haven."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import ExitCode

keys_app = typer.Typer(help="Pseudonym keys: generations and rotation.", no_args_is_help=True)
artefacts_app = typer.Typer(
    help="What was written through the one door out, and who is in it.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(artefacts_app, name="artefacts")


def _say(json: bool) -> object:
    return (lambda _m: None) if json or not err.is_terminal else (lambda m: err.print(f"  {m}"))


@app.command()
def preview(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset to preview.")],
    tier: Annotated[
        str, typer.Option("--tier", help="de-personalised (pseudonymised rows) or anonymised.")
    ],
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="Comma-separated columns to keep [every column of the "
                     "tier]."),
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
    """Preview a tier inside the haven (under previews/, marked not for release).

    Data leaves the haven only through a release: 'carehaven release propose'.
    """
    from carehaven.pseudonymise.extract import Request, extract, preview_folder

    haven, who = open_as(ctx, Permission.EXTRACT)
    chosen = tuple(f.strip() for f in fields.split(",") if f.strip()) if fields else None
    req = Request(dataset, tier, "preview", None, k, l_div, max_suppression, sensitive, chosen)
    result = extract(haven, req, preview_folder(haven, req), who=who, progress=_say(json))  # type: ignore[arg-type]
    if json:
        from carehaven.pseudonymise.public import ExtractPublic

        emit_json(ExtractPublic.of(result).as_json())
        return
    out.print(
        f"[bold green]PREVIEW[/] {result.artefact}: {result.rows:,} {tier} rows of {dataset}, "
        "inside the haven and not for release"
        + (f"; pseudonyms under the preview key {result.key_id}" if result.key_id else "")
        + "."
    )
    for f in [*result.files, result.manifest]:
        out.print(f"  {f}")
    out.print(f"Leak scan: {result.scan.summary()}")
    a = result.anonymisation
    if a is not None:
        report = a.report()
        chosen_node, base = report["chosen"], report["baseline_global_recoding"]
        assert isinstance(chosen_node, dict) and isinstance(base, dict)
        levels = ", ".join(f"{n} {lvl}" for n, lvl in chosen_node["levels"].items())
        out.print(f"k = {a.k}, l = {a.l_div} on {a.sensitive}; levels: {levels}.")
        out.print(
            f"Information lost {chosen_node['information_loss']:.3f} "
            f"(generalisation {chosen_node['generalisation_loss']:.3f}, "
            f"{a.suppressed_actual:,} rows suppressed); simple global recoding would lose "
            f"{base['information_loss']:.3f}."
        )


@app.command()
def scan(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .parquet or .csv file.")],
    json: JsonFlag = False,
) -> None:
    """Check a file for identifiers, person ids, tokens and other recipients' pseudonyms.

    A file the haven did not write gets only a yes or no, and every scan is audited.
    """
    from carehaven.pseudonymise.scan import LeakFoundError, scan_file

    haven, who = open_as(ctx, Permission.EXTRACT)
    result = scan_file(haven, file, who=who, progress=_say(json))  # type: ignore[arg-type]
    if json:
        emit_json({"ok": result.ok, "hits": None if result.coarse_only else result.hits})
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


@artefacts_app.command("list")
def artefacts_list(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Re-hash every file against its record.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Everything written through the one artefact writer: releases, publications, feedback,
    previews; with --check, any file missing or changed since."""
    from carehaven.pseudonymise.lookup import list_artefacts

    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    rows = list_artefacts(haven, check=check)
    if json:
        emit_json(rows)
        return
    table(
        "Artefacts",
        ["id", "kind", "for", "tier", "recipient", "rows", "people", "written"]
        + (["check"] if check else []),
        [
            [
                r["id"],
                r["kind"],
                r["for"] or "",
                r["tier"],
                r["recipient"] or "",
                f"{r['rows']:,}",
                f"{r['people']:,}",
                r["created_at"],
            ]
            + (["; ".join(r["problems"]) or "ok"] if check else [])
            for r in rows
        ],
    )
    if check and any(r["problems"] for r in rows):
        raise typer.Exit(int(ExitCode.AUDIT_FAILED))


@artefacts_app.command("find")
def artefacts_find(
    ctx: typer.Context,
    person: Annotated[str, typer.Option("--person", help="The person_id to look for.")],
    json: JsonFlag = False,
) -> None:
    """Every artefact that holds rows about a person, from the lineage (rights requests)."""
    from carehaven.pseudonymise.lookup import find_person

    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    found = find_person(haven, person)
    if json:
        emit_json(found)
        return
    if not found:
        out.print("No artefact holds rows about this person.")
        return
    table(
        "Artefacts holding the person",
        ["id", "kind", "for", "tier", "recipient", "written"],
        [[f["id"], f["kind"], f["for"] or "", f["tier"], f["recipient"] or "", f["created_at"]]
         for f in found],
    )
