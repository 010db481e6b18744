"""audit verify / audit show."""

from __future__ import annotations

from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, out, table
from carehaven.errors import CarehavenError, ExitCode
from carehaven.governance.permissions import Permission

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Check the whole chain; exit 7 naming the first entry that was tampered with."""
    from carehaven.audit import verify

    haven, _ = open_as(ctx, Permission.READ_AUDIT)
    result = verify(haven.engine)
    if json:
        emit_json(result.as_json())
        if not result.ok:
            raise typer.Exit(int(ExitCode.AUDIT_FAILED))
        return
    if not result.ok:
        raise CarehavenError(
            f"Audit log verification failed after {result.entries:,} entries: {result.reason}.",
            exit_code=ExitCode.AUDIT_FAILED,
        )
    out.print(f"Audit log intact: {result.entries:,} entries, every link verified.")


@audit_app.command("show")
def audit_show(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest entries to show.")] = 20,
    json: JsonFlag = False,
) -> None:
    """Show the newest entries of the audit log."""
    from sqlalchemy import select

    from carehaven.control.models import AuditEntry

    haven, _ = open_as(ctx, Permission.READ_AUDIT)
    with haven.sessions() as session:
        entries = list(
            session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit))
        )
    rows = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "details": e.details,
        }
        for e in reversed(entries)
    ]
    if json:
        emit_json(rows)
    else:
        table(
            "Audit log",
            ["Seq", "At", "Actor", "Action", "Subject"],
            [[r["seq"], r["at"], r["actor"], r["action"], r["subject"]] for r in rows],
        )
