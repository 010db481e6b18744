"""notice render/publish/diff/list and register: privacy notices and the record of processing
rendered from the rules the haven enforces (CON-3, SHR-11, SEC-3; docs/design/0008)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from carehaven import clock
from carehaven.access.permissions import Permission
from carehaven.cli.app import ForceFlag, JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import UsageError

if TYPE_CHECKING:
    from carehaven.haven import Haven

notice_app = typer.Typer(
    help="Privacy notices rendered from the rules: render, publish versions, compare them.",
    no_args_is_help=True,
)
app.add_typer(notice_app, name="notice")

CollectionOption = Annotated[
    str, typer.Option("--collection", help="The notice's collection: ndtms, ips or cld.")
]
OnOption = Annotated[
    str | None,
    typer.Option("--on", help="The day to describe, like 2026-04-01 [default: today]."),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write to this new file instead of printing it: outside the haven or under its "
        "outputs folder; never over an existing file without --force.",
    ),
]


def _day(value: str | None) -> date:
    if value is None:
        return clock.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--on takes a date like 2026-04-01, not {value!r}.") from None


def _check_out(haven: Haven, target: Path | None, force: bool = False) -> None:
    """Refuse a bad --out before any work (it is checked again as the file is made)."""
    if target is not None:
        from carehaven.haven import outpath

        outpath.check_file(haven, target, force=force)


def _write(haven: Haven, text: str, target: Path | None, force: bool = False) -> None:
    """Print ``text``, or write it to a new file (outside the haven or under its outputs)."""
    if target is None:
        sys.stdout.write(text)
        return
    from carehaven.haven import outpath

    written = outpath.write_new(haven, target, text, force=force)
    err.print(f"Wrote {escape(str(written))}")


@notice_app.command("render")
def notice_render(
    ctx: typer.Context,
    collection: CollectionOption,
    format: Annotated[
        str, typer.Option("--format", help="html (accessible page), markdown or text.")
    ] = "html",
    out_file: OutOption = None,
    force: ForceFlag = False,
    on: OnOption = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A published version exactly as published, instead."),
    ] = None,
) -> None:
    """Render a collection's privacy notice from the rules in force (or a published version).

    The notice lists the datasets' fields by class, the sharing policy's rules for the
    collection, the recipients whose agreements are in force, the lawful bases, the retention
    schedule, rights and contacts. If it differs from the latest published version it is marked
    as a draft.
    """
    from carehaven.governance.notice import FORMATS, content, render, stored

    if format not in FORMATS:
        raise UsageError(f"Unknown format {format!r}; use one of: {', '.join(FORMATS)}.")
    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    _check_out(haven, out_file, force)
    if version is not None:
        if on is not None:
            raise UsageError("Give --version or --on, not both.")
        notice = stored(haven, collection, version)
    else:
        notice = content(haven, collection, _day(on))
    for warning in notice.warnings:
        err.print(f"[yellow]note[/] {escape(warning)}", soft_wrap=True)
    _write(haven, render(notice, format), out_file, force)


@notice_app.command("publish")
def notice_publish(
    ctx: typer.Context,
    collection: CollectionOption,
    version: Annotated[str, typer.Option("--version", help="The new version, e.g. 1.1.")],
    on: OnOption = None,
    json: JsonFlag = False,
) -> None:
    """Publish a new version of a collection's notice, with a change note generated from the
    difference with the previous version. Versions must increase."""
    from carehaven.governance.notice import publish

    haven, acting = open_as(ctx, Permission.PUBLISH_NOTICE)
    doc = publish(haven, collection, version, _day(on), actor=acting.label)
    note = doc.change_note.splitlines()
    if json:
        emit_json(
            {
                "collection": doc.collection,
                "version": doc.version,
                "published_on": doc.published_on.isoformat(),
                "sha256": doc.sha256,
                "change_note": note,
            }
        )
        return
    out.print(
        f"[bold green]PUBLISHED[/] the {doc.collection} notice, version {doc.version}, "
        f"on {doc.published_on.isoformat()} (sha256 {doc.sha256[:16]}…). Change note:"
    )
    for line in note:
        out.print(f"  - {line}", soft_wrap=True)


@notice_app.command("diff")
def notice_diff(
    ctx: typer.Context,
    v1: Annotated[str, typer.Argument(help="The earlier published version.")],
    v2: Annotated[str, typer.Argument(help="The later published version.")],
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            help="The notice's collection [default: the only one with both versions].",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """The change note between two published versions of a notice."""
    from carehaven.governance.notice import diff, versions

    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    if collection is None:
        rendered = [v for v in versions(haven) if v.rendered]
        having = sorted(
            {v.collection for v in rendered if v.version == v1}
            & {v.collection for v in rendered if v.version == v2}
        )
        if len(having) != 1:
            raise UsageError(
                f"Name the notice with --collection: {' and '.join(having)} both have versions "
                f"{v1} and {v2}."
                if having
                else f"No notice has both versions {v1} and {v2} published; see 'carehaven "
                "notice list'."
            )
        collection = having[0]
    changes = diff(haven, collection, v1, v2)
    if json:
        emit_json({"collection": collection, "from": v1, "to": v2, "changes": changes})
        return
    out.print(f"The {collection} notice from version {v1} to {v2}:")
    for line in changes or ["No change to what the notice says."]:
        out.print(f"  - {line}", soft_wrap=True)


@notice_app.command("list")
def notice_list(
    ctx: typer.Context,
    collection: Annotated[
        str | None, typer.Option("--collection", help="Only this collection's notice.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Every published version of every notice, with its change note."""
    from carehaven.governance.notice import versions

    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    found = versions(haven, collection)
    if json:
        emit_json([v.as_json() for v in found])
        return
    table(
        "Privacy notice versions",
        ["collection", "version", "published", "how", "change note"],
        [
            [
                v.collection,
                v.version,
                v.published_on.isoformat(),
                "rendered" if v.rendered else "by hand",
                " ".join(v.change_note),
            ]
            for v in found
        ],
    )


@app.command("register")
def register_cmd(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="json, csv or markdown.")] = "markdown",
    out_file: OutOption = None,
    force: ForceFlag = False,
    on: OnOption = None,
) -> None:
    """The record of processing activities (UK GDPR Article 30(1)), one per collection."""
    from carehaven.governance.register import REGISTER_FORMATS, export, register

    if format not in REGISTER_FORMATS:
        raise UsageError(f"Unknown format {format!r}; use one of: {', '.join(REGISTER_FORMATS)}.")
    haven, _ = open_as(ctx, Permission.READ_GOVERNANCE)
    _check_out(haven, out_file, force)
    reg = register(haven, _day(on))
    _write(haven, export(reg, format), out_file, force)
