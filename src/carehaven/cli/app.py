"""The Typer app, its global options, and ``main``: a sentence and exit code, never a traceback."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from carehaven import __version__
from carehaven.cli.output import emit_json, err
from carehaven.errors import CarehavenError, ExitCode

if TYPE_CHECKING:
    from carehaven.access.users import Actor, Permission
    from carehaven.config import Settings
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
ForceFlag = Annotated[
    bool,
    typer.Option("--force", help="Replace the --out file if it exists: a regular file outside "
                 "the haven or under its outputs folder; never a link or a folder."),
]


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
    # Imported here, not above: --help needs no settings (nor the haven they locate).
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
    from carehaven.access.users import acting_user

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
    from carehaven.access.users import require
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
        job_cmds,
        notice_cmds,
        publish_cmds,
        spec_cmds,
        synth_cmds,
        tier_cmds,
        user_cmds,
        web_cmds,
    )


_register()


def _command_word(args: list[str]) -> str | None:
    """The command a command line names (the first word after the root's own options)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--haven":
            i += 2
            continue
        if word.startswith("--haven="):
            i += 1
            continue
        return None if word.startswith("-") else word
    return None


def _for(args: list[str]) -> typer.Typer:
    """``app`` with only the command or group ``args`` runs, when it names one: Typer turns
    every registered command into a Click command on each run, evaluating every parameter's
    annotations, which was a third of a read-only command's start-up (issue 13 item 8). The
    whole app answers ``--help``, a command it does not know and anything else."""
    import copy

    from typer.main import get_command_name

    word = _command_word(args)
    if word is None:
        return app
    commands = [c for c in app.registered_commands
                if (c.name or get_command_name(c.callback.__name__ if c.callback else "")) == word]
    groups = [g for g in app.registered_groups if g.name == word]
    if not commands and not groups:
        return app
    slim = copy.copy(app)
    slim.registered_commands, slim.registered_groups = commands, groups
    return slim


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``carehaven`` console script."""
    os.umask(0o077)  # everything a haven writes is for its owner only
    args = sys.argv[1:] if argv is None else argv
    try:
        # Without standalone mode Typer returns typer.Exit's code instead of raising it.
        returned = _for(args)(args=args, prog_name="carehaven", standalone_mode=False)
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
        if _read_only(exc):
            if "--json" in args:
                emit_json({"error": {"exit_code": int(ExitCode.CONFIGURATION),
                                     "message": "the haven cannot be written (read-only)"}})
            err.print(
                "[bold red]Error:[/] the haven cannot be written (read-only), and this command "
                "changes it; nothing was changed. Read-only commands still work.",
                soft_wrap=True,
            )
            return int(ExitCode.CONFIGURATION)
        where = _log_internal(exc, args)
        if "--json" in args:  # the same JSON error shape as every other failure
            emit_json({"error": {"exit_code": int(ExitCode.INTERNAL), "message": (
                f"Internal error ({type(exc).__name__}); nothing was half-applied. Details "
                f"for the data team are in {where}.")}})
        err.print(
            f"[bold red]Internal error[/] ({type(exc).__name__}); nothing was half-applied. "
            f"Details for the data team are in {where}."
        )
        return int(ExitCode.INTERNAL)
    return returned if isinstance(returned, int) else 0


def _read_only(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a write refused by a read-only file or database.
    Only its kind is looked at: the text of a database error can quote the values written."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        # EROFS only: "permission denied" can come from a file the user named, and the haven's
        # own lock and database report a folder not ours by their own errors.
        if isinstance(seen, OSError) and seen.errno == errno.EROFS:
            return True
        if "readonly database" in str(getattr(seen, "orig", "") or "") or (
            type(seen).__name__ == "OperationalError" and "readonly database" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _log_internal(exc: BaseException, args: list[str]) -> str:
    """Log where it failed, without the exception's message: engines quote cell values in them.

    The log goes to the haven's ``logs`` folder (the haven ``--haven`` or ``--haven=`` names,
    else $CAREHAVEN_HAVEN or ./haven), else to the system's temporary folder; this never raises,
    so a user never sees a traceback even from a folder nobody may write (issue 13 item 13).
    """
    # Where, not what: file, line and function of each frame, without source lines or locals.
    frames = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n"
                     for f in traceback.extract_tb(exc.__traceback__))
    words = [a for i, a in enumerate(args)
             if not a.startswith("-") and (i == 0 or args[i - 1] != "--haven")]
    command = words[0] if words else ""
    for folder in _log_folders(args):
        target = folder / "carehaven.log"
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} internal error in "
                         f"{command!r}: {type(exc).__name__}\n{frames}")
        except OSError:
            continue
        return str(target)
    return "no log (neither the haven's logs folder nor the temporary folder can be written)"


def _log_folders(args: list[str]) -> list[Path]:
    """Where the internal-error log may go, best first."""
    from carehaven.config import Settings

    named: str | None = None
    for i, a in enumerate(args):
        if a == "--haven" and i + 1 < len(args):
            named = args[i + 1]
        elif a.startswith("--haven="):
            named = a.split("=", 1)[1]
    folders: list[Path] = []
    try:
        settings = Settings.load(haven=Path(named) if named else None)
        logs = settings.haven / "logs"
        if logs.is_dir():
            folders.append(logs)
    except (CarehavenError, OSError, ValueError):
        pass
    import tempfile  # here: only an internal error needs it (12 ms of every start otherwise)

    folders.append(Path(tempfile.gettempdir()))
    return folders
