"""init and orgs."""

from __future__ import annotations

from typing import Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, actor, app, open_as, settings_of
from carehaven.cli.output import emit_json, out, table
from carehaven.control.kinds import OrgKind


@app.command()
def init(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Create a new haven: folders, key file (owner-only), control database, audit log."""
    from carehaven.haven import init_haven

    # A new haven has no users: whoever creates it owns it (single-operator mode).
    haven = init_haven(settings_of(ctx), actor=actor())
    result = {
        "haven": str(haven.paths.root),
        "key_id": haven.master_key.key_id,
        "control": haven.engine.dialect.name,
    }
    if json:
        emit_json(result)
    else:
        out.print(f"Haven created at {result['haven']} (key {result['key_id']}).")


orgs = typer.Typer(
    help="Organisations that submit to, receive from, or partner with the haven.",
    no_args_is_help=True,
)
app.add_typer(orgs, name="orgs")

KINDS = ", ".join(k.value for k in OrgKind)


@orgs.command("add")
def orgs_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The organisation's code, e.g. P001 or E08000025.")],
    kind: Annotated[str, typer.Option(help=f"One of: {KINDS}.")],
    name: Annotated[str, typer.Option(help="The organisation's name.")],
    json: JsonFlag = False,
) -> None:
    """Register an organisation."""
    haven, who = open_as(ctx, Permission.RUN_PIPELINE)
    org = haven.add_organisation(code, kind, name, actor=who.label)
    if json:
        emit_json({"code": org.code, "kind": org.kind, "name": org.name})
    else:
        out.print(f"Added {org.code} ({org.kind}): {org.name}")


@orgs.command("list")
def orgs_list(ctx: typer.Context, json: JsonFlag = False) -> None:
    """List the registered organisations (any user may: they are not personal data)."""
    haven, _ = open_as(ctx, None)
    rows = [{"code": o.code, "kind": o.kind, "name": o.name} for o in haven.organisations()]
    if json:
        emit_json(rows)
    else:
        table("Organisations", ["Code", "Kind", "Name"], [list(r.values()) for r in rows])
