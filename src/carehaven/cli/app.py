"""The Typer app, its global options, and ``main``: a sentence and exit code, never a traceback."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from carehaven import __version__
from carehaven.cli.output import emit_json, err
from carehaven.errors import CarehavenError, ExitCode

if TYPE_CHECKING:
    from carehaven.config import Settings
    from carehaven.governance.access import Actor, Permission
    from carehaven.haven import Haven

app = typer.Typer(
    name="carehaven",
    help="A safe haven for health and social care data. Exit codes: docs/exit-codes.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

HavenOption = Annotated[
    Path | None,
    typer.Option(
        "--haven",
        help="The haven folder [env: CAREHAVEN_HAVEN; default ./haven].",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts; no progress bar.")]


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"carehaven {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    haven: HavenOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # Imported here, not above: pydantic-settings is most of ``--help``'s start-up.
    from carehaven.config import Settings

    ctx.obj = Settings.load(haven=haven)


def actor() -> str:
    """Who the audit log records for work done from the command line: the OS account."""
    return "cli:" + (os.environ.get("USER") or os.environ.get("LOGNAME") or "operator")


def settings_of(ctx: typer.Context) -> Settings:
    from carehaven.config import Settings

    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def who(ctx: typer.Context, haven: Haven, explicit: str | None = None) -> Actor:
    """Who is acting, proved (docs/access.md): the user of the token in $CAREHAVEN_TOKEN, who
    must be ``explicit`` (a command's --as) or $CAREHAVEN_USER when either is given; else, on a
    terminal, whoever of those (or the OS account) types their password. The command line
    offers no other way: no password on the command line or from a pipe. While the haven has
    no users, whoever runs the command owns it (single-operator mode)."""
    from carehaven.governance.access import acting_user

    return acting_user(haven, explicit)


def open_as(
    ctx: typer.Context,
    permission: Permission | None,
    org: str | None = None,
    *,
    explicit: str | None = None,
) -> tuple[Haven, Actor]:
    """Open the haven, resolve who is acting and check they hold ``permission`` for ``org``
    before anything else happens (exit 13 if not). ``None``: any active user may."""
    from carehaven.governance.access import require
    from carehaven.haven import open_haven

    haven = open_haven(settings_of(ctx))
    acting = who(ctx, haven, explicit)
    if permission is not None:
        require(haven, acting, permission, org)
    return haven, acting


def _register() -> None:
    # Importing the command modules attaches their commands to ``app``.
    from carehaven.cli import (  # noqa: F401
        audit_cmds,
        auth_cmds,
        collection_cmds,
        demo_cmds,
        governance_cmds,
        haven_cmds,
        identity_cmds,
        notice_cmds,
        publish_cmds,
        spec_cmds,
        synth_cmds,
        tier_cmds,
        user_cmds,
    )


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``carehaven`` console script."""
    os.umask(0o077)  # everything a haven writes is for its owner only
    args = sys.argv[1:] if argv is None else argv
    try:
        # Without standalone mode Typer returns typer.Exit's code instead of raising it.
        returned = app(args=args, prog_name="carehaven", standalone_mode=False)
    except CarehavenError as exc:
        if "--json" in args:  # scripts get one JSON error shape on stdout
            emit_json({"error": {"exit_code": int(exc.exit_code), "message": exc.message}})
        # The message can hold text the user typed ("R-[/x]"): never read as Rich markup.
        err.print(f"[bold red]Error:[/] {escape(exc.message)}", soft_wrap=True)
        return int(exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # a usage error: Typer shows usage and the problem
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[bold red]Usage error:[/] {escape(exc.format_message())}", soft_wrap=True)
        return int(ExitCode.USAGE)
    except (typer.Abort, KeyboardInterrupt):
        err.print("Interrupted; the haven is unchanged or will be made consistent on the next run.")
        return 130
    except Exception as exc:  # the last line of defence: a sentence, never a traceback
        where = _log_internal(exc, args)
        err.print(
            f"[bold red]Internal error[/] ({type(exc).__name__}); nothing was half-applied. "
            f"Details for the data team are in {where}."
        )
        return int(ExitCode.INTERNAL)
    return returned if isinstance(returned, int) else 0


def _log_internal(exc: BaseException, args: list[str]) -> str:
    """Log where it failed, without the exception's message: engines quote cell values in them."""
    from carehaven.config import Settings

    try:
        named = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--haven"), None)
        settings = Settings.load(haven=Path(named) if named else None)
        folder = settings.haven / "logs"
        if not folder.is_dir():
            folder = Path.cwd()
    except CarehavenError:
        folder = Path.cwd()
    target = folder / "carehaven.log"
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger = logging.getLogger("carehaven.internal")
    handler = logging.FileHandler(target)
    logger.addHandler(handler)
    try:
        command = args[0] if args else ""
        logger.error("internal error in %r: %s\n%s", command, type(exc).__name__, frames)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return str(target)
