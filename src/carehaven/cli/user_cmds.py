"""users add / grant / revoke / list: people, their roles and organisations (docs/access.md)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.control.kinds import Role
from carehaven.errors import UsageError

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
            "The haven's first two users (its founders) must have data-team; ips-team and "
            "auditor are granted later, by someone independent of the account.",
        ),
    ] = None,
    password_prompt: Annotated[
        bool,
        typer.Option("--password-prompt", help="Ask for the person's first password, twice, on "
                     "the terminal (at least 12 characters; they change it with 'carehaven auth "
                     "password')."),
    ] = False,
    token_out: Annotated[
        Path | None,
        typer.Option("--token-out", help="Write a first personal token for the person to this "
                     "new file, readable by its owner only (for scripts; an existing file is "
                     "refused)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Add a user, with their roles granted in the same step.

    A user acts only after proving who they are, so give them a first password
    (--password-prompt) or token (--token-out); each of the haven's two founders must have one.
    """
    from carehaven.access.auth import (
        ask_new_password,
        hash_password,
        issue_token,
        new_private_file,
        terminal_prompt,
    )
    from carehaven.access.users import FOUNDERS, add_user, founders, users

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    if who.single_operator and not (password_prompt or token_out):
        raise UsageError(
            "The haven's first two users (its founders) must be able to prove who they "
            "are, or nobody could act in this haven once they are added: add --password-prompt "
            "(on a terminal) or --token-out FILE."
        )
    hashed = None
    if password_prompt:
        ask = terminal_prompt()
        if ask is None:
            raise UsageError("--password-prompt asks on a terminal, never from a pipe; use "
                             "--token-out FILE in a script.")
        hashed = hash_password(ask_new_password(ask, username))
    with ExitStack() as stack:
        # The token file is made first, so that an existing one refuses before anything changes.
        handle = stack.enter_context(new_private_file(token_out)) if token_out else None
        user = add_user(haven, username, name, org, roles=role or (), actor=who.label,
                        password_hash=hashed)
        if handle is not None:
            issued = issue_token(haven, user.username, actor=who.label, label="first token")
            handle.write(issued.token + "\n")
    added = next(u for u in users(haven) if u.username == user.username)
    if json:
        from carehaven.access.public import UserPublic

        emit_json(UserPublic.of(added).as_json())
    else:
        roles = ", ".join(f"{g.role} ({_scope(g.org_code)})" for g in added.grants) or "none"
        out.print(f"Added user {added.username} ({added.org_code or 'no organisation'}); "
                  f"roles: {roles}.")
    if token_out is not None:
        err.print(
            f"A first token for {added.username} is in {token_out} (owner-only). Keep it "
            f"secret and hand it to them; they act with CAREHAVEN_TOKEN=$(cat {token_out}), "
            "can make their own with 'carehaven auth token create' and revoke this one.",
            soft_wrap=True,
        )
    elif not password_prompt:
        err.print(
            f"{added.username} has no password or token, so cannot act in the haven (an "
            "analyst never needs to).",
            soft_wrap=True,
        )
    if who.single_operator:
        with haven.sessions() as session:
            count = founders(session)
        if count < FOUNDERS:
            err.print(
                f"{added.username} is founder {count} of {FOUNDERS}. Until a second founder, a "
                "different person, is added the same way, a command without a token still "
                "acts as the haven's owner: the two-person rule needs two people independent "
                "of each other from the start (docs/access.md).",
                soft_wrap=True,
            )
        else:
            err.print(
                "This haven now has its two founders, so single-operator mode is over: "
                "a command acts for a person only when they prove who they are. Set "
                "CAREHAVEN_TOKEN to their token, or run commands in a terminal and type their "
                "password (docs/access.md).",
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
    """Grant a role; nobody may grant one to themselves, nor through an account they made.

    ips-team and auditor come only from someone independent of the grantee (not among its
    creators, not made by the same user), and nobody holds auditor with data-team.
    """
    from carehaven.access.users import grant

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
    from carehaven.access.users import revoke

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    revoke(haven, username, role, org, actor=who.label)
    if json:
        emit_json({"username": username, "role": role, "org": org, "revoked": True})
    else:
        out.print(f"Revoked {role}{f' ({org})' if org else ''} from {username}.")


@users_app.command("unlock")
def users_unlock(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user whose account is locked.")],
    json: JsonFlag = False,
) -> None:
    """Unlock an account that too many wrong passwords locked (audited); its count of wrong
    passwords starts again from nought and its open web sessions end."""
    from carehaven.access.signin import unlock

    haven, who = open_as(ctx, Permission.MANAGE_USERS)
    unlock(haven, username, actor=who.label)
    if json:
        emit_json({"username": username, "unlocked": True})
    else:
        out.print(f"Unlocked {username}; they can sign in again.")


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    revoked: Annotated[
        bool, typer.Option("--revoked", help="Also show revoked grants.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Every user with their roles and when each was last used (for the access review)."""
    from carehaven.access.users import users

    haven, _ = open_as(ctx, Permission.MANAGE_USERS)
    people = users(haven, include_revoked=revoked)
    if json:
        from carehaven.access.public import UserPublic

        emit_json([UserPublic.of(u).as_json() for u in people])
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
