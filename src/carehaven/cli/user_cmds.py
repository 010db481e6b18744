"""users add / grant / revoke / list: people, their roles and organisations (docs/access.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.control.kinds import Role
from carehaven.governance.permissions import Permission

users_app = typer.Typer(
    help="People who use the haven, their roles and organisations (docs/access.md).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

ROLES = ", ".join(r.value for r in Role)
ORG_HELP = (
    "The organisation an organisation role (submitter, authority-viewer) is for; default: the "
    "user's own. Other roles act across organisations and take no --org."
)


def _scope(org: str | None) -> str:
    return org or "every organisation"


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    username: Annotated[
        str, typer.Argument(help="1-95 letters, digits and . _ - @, e.g. a.khan@riverside.")
    ],
    name: Annotated[str, typer.Option("--name", help="The person's name, for people to read.")],
    org: Annotated[
        str | None,
        typer.Option("--org", help="The organisation the person works for (registered first)."),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help=f"A role to grant, repeatable: {ROLES}. Organisation roles are for --org. "
            "The first user of a haven must have data-team.",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Add a user, with their roles granted in the same step."""
    from carehaven.governance.access import USER_ENV, add_user, users

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    user = add_user(haven, username, name, org, roles=role or (), actor=who.label)
    added = next(u for u in users(haven) if u.username == user.username)
    if json:
        emit_json(added.as_json())
    else:
        roles = ", ".join(f"{g.role} ({_scope(g.org_code)})" for g in added.grants) or "none"
        out.print(f"Added user {added.username} ({added.org_code or 'no organisation'}); "
                  f"roles: {roles}.")
    if who.single_operator:
        err.print(
            f"This haven now has users, so every command acts as one: set {USER_ENV}="
            f"{added.username} (or another user's name) before the next command.",
            soft_wrap=True,
        )


@users_app.command("grant")
def users_grant(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help=f"One of: {ROLES}.")],
    org: Annotated[str | None, typer.Option("--org", help=ORG_HELP)] = None,
    json: JsonFlag = False,
) -> None:
    """Grant a role; nobody may grant one to themselves."""
    from carehaven.governance.access import grant

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    row = grant(haven, username, role, org, actor=who.label)
    if json:
        emit_json({"username": username, "role": row.role, "org": row.org_code})
    else:
        out.print(f"Granted {row.role} ({_scope(row.org_code)}) to {username}.")


@users_app.command("revoke")
def users_revoke(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help=f"One of: {ROLES}.")],
    org: Annotated[str | None, typer.Option("--org", help=ORG_HELP)] = None,
    json: JsonFlag = False,
) -> None:
    """Revoke a role; the grant stays on record, marked revoked."""
    from carehaven.governance.access import revoke

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    revoke(haven, username, role, org, actor=who.label)
    if json:
        emit_json({"username": username, "role": role, "org": org, "revoked": True})
    else:
        out.print(f"Revoked {role}{f' ({org})' if org else ''} from {username}.")


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    revoked: Annotated[
        bool, typer.Option("--revoked", help="Also show revoked grants.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Every user with their roles and when each was last used (for the access review)."""
    from carehaven.governance.access import users

    haven, _ = open_as(ctx, Permission.MANAGE_USERS)
    people = users(haven, include_revoked=revoked)
    if json:
        emit_json([u.as_json() for u in people])
        return
    if not people:
        out.print("No users yet: the haven is in single-operator mode (docs/access.md).")
        return

    def when(d: object) -> str:
        return "never" if d is None else str(d)[:16]

    rows: list[list[object]] = []
    for u in people:
        for i, g in enumerate(u.grants or (None,)):
            rows.append(
                [
                    u.username if i == 0 else "",
                    u.display_name if i == 0 else "",
                    (u.org_code or "") if i == 0 else "",
                    "" if g is None else g.role,
                    "" if g is None else _scope(g.org_code),
                    "" if g is None else when(g.last_used_at),
                    "" if g is None or g.revoked_at is None else when(g.revoked_at),
                ]
            )
    table(
        "Users",
        ["User", "Name", "Org", "Role", "For", "Last used", "Revoked"],
        rows,
    )
