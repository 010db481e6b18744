"""auth token create / list / revoke, auth password, auth whoami: proving who you are
(docs/access.md, "Acting as a user")."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import UsageError

if TYPE_CHECKING:
    from carehaven.access.users import Actor

auth_app = typer.Typer(
    help="Prove who you are: personal tokens and your password (docs/access.md).",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="Personal access tokens: each acts for you alone until it expires or is revoked.",
    no_args_is_help=True,
)
app.add_typer(auth_app, name="auth")
auth_app.add_typer(token_app, name="token")


def _person(acting: Actor) -> None:
    """Tokens and passwords belong to users; the owner in single-operator mode proves nothing."""
    if acting.single_operator:
        raise UsageError(
            "This command ran as the haven's owner (single-operator mode, which lasts until "
            "the haven has two founders), and tokens and passwords are for users: add one with "
            "'carehaven users add NAME ... --token-out FILE' or '--password-prompt', or act as "
            "one with CAREHAVEN_TOKEN or CAREHAVEN_USER."
        )


def _when(d: object) -> str:
    return "never" if d is None else str(d)[:16]


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    label: Annotated[
        str, typer.Option("--label", help="What the token is for, e.g. 'nightly link job'.")
    ] = "",
    expires_days: Annotated[
        int, typer.Option("--expires-days", help="Days until it stops working (1-366).")
    ] = 90,
    json: JsonFlag = False,
) -> None:
    """Make a personal token for yourself; it is shown once, and only its hash is kept."""
    from carehaven.access.auth import issue_token, token

    haven, who = open_as(ctx, None)
    _person(who)
    # A token made with a token lasts no longer than it: a stolen one cannot renew itself.
    used = token(haven, who.token_id) if who.token_id else None
    issued = issue_token(haven, who.username, actor=who.label, label=label, days=expires_days,
                         not_after=used.expires_at if used else None)
    if json:
        from carehaven.access.public import IssuedTokenPublic

        emit_json(IssuedTokenPublic.of(issued).as_json())
    else:
        sys.stdout.write(issued.token + "\n")
    if used is not None and issued.expires_at == used.expires_at:
        err.print(f"It expires with the token you used ({used.id}): a token cannot outlive the "
                  "one that made it. Sign in with your password to make a longer one.",
                  soft_wrap=True)
    err.print(
        f"Token {issued.id} ({issued.label}) acts as {issued.username} until "
        f"{issued.expires_at:%Y-%m-%d %H:%M} UTC. Keep it secret: it is shown only now, and "
        f"anyone holding it acts as you. Use it as CAREHAVEN_TOKEN; revoke it with "
        f"'carehaven auth token revoke {issued.id}'.",
        soft_wrap=True,
    )


@token_app.command("list")
def token_list(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Your tokens: id, label, expiry, last use, whether revoked. Never a secret."""
    from carehaven.access.auth import tokens

    haven, who = open_as(ctx, None)
    _person(who)
    mine = tokens(haven, who.username)
    if json:
        from carehaven.access.public import TokenPublic

        emit_json([TokenPublic.of(t).as_json() for t in mine])
        return
    if not mine:
        out.print(f"{who.username} has no tokens; make one with 'carehaven auth token create'.")
        return
    table(
        f"Tokens of {who.username}",
        ["Id", "Label", "State", "Created", "Expires", "Last used"],
        [[t.id, t.label, t.state, _when(t.created_at), _when(t.expires_at),
          _when(t.last_used_at)] for t in mine],
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id, e.g. tk-0123456789abcdef.")],
    json: JsonFlag = False,
) -> None:
    """Revoke one of your tokens (a user who manages users may revoke anyone's)."""
    from carehaven.access.auth import revoke_token, token
    from carehaven.access.users import require

    haven, who = open_as(ctx, None)
    _person(who)
    found = token(haven, token_id)
    if found is None or found.username != who.username:
        # Someone else's token, or none: the same answer unless you may manage users.
        require(haven, who, Permission.MANAGE_USERS,
                message=f"You hold no token {token_id}; revoking another user's token needs "
                        "the manage-users permission.")
    revoked = revoke_token(haven, token_id, actor=who.label)
    if json:
        from carehaven.access.public import TokenPublic

        emit_json(TokenPublic.of(revoked).as_json())
    else:
        out.print(f"Revoked token {revoked.id} of {revoked.username}; it acts for nobody now.")


@auth_app.command("password")
def auth_password(ctx: typer.Context) -> None:
    """Set or change your own password, typed twice on the terminal (at least 12 characters)."""
    from carehaven.access.auth import (
        VIA_PASSWORD,
        ask_new_password,
        check_password,
        has_password,
        set_password,
        terminal_prompt,
    )
    from carehaven.access.users import AUTHENTICATE, refuse_authentication

    haven, who = open_as(ctx, None)
    _person(who)
    ask = terminal_prompt()
    if ask is None:
        raise UsageError("A password is typed on a terminal, never read from a pipe or a file; "
                         "run 'carehaven auth password' in one.")
    # Someone who signed in with a token proves the current password too, when there is one.
    if who.via != VIA_PASSWORD and has_password(haven, who.username):
        typed = ask(f"Current carehaven password for {who.username}: ")
        with haven.transaction() as session:
            ok = check_password(session, who.username, typed) is not None
        if not ok:
            raise refuse_authentication(
                haven, who.username, who.label,
                f"That is not the current password of {who.username} ({AUTHENTICATE} failed); "
                "nothing was changed.",
            )
    set_password(haven, who.username, ask_new_password(ask, who.username), actor=who.label)
    out.print(f"Password of {who.username} set.")


@auth_app.command("whoami")
def auth_whoami(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Who this command acts as, and how that was proved."""
    _, who = open_as(ctx, None)
    data = {"username": who.username, "actor": who.label, "via": who.via,
            "org": who.org_code, "roles": [{"role": r, "org": o} for r, o in who.roles]}
    if json:
        emit_json(data)
        return
    roles = ", ".join(f"{r} ({o or 'every organisation'})" for r, o in who.roles) or "none"
    if who.single_operator:
        roles = "every permission (the haven's owner, single-operator mode: docs/access.md)"
    out.print(f"{who.label} ({who.via}); roles: {roles}.")
