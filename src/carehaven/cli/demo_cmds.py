"""demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, actor, app, settings_of
from carehaven.cli.output import counter, emit_json, out, table


@app.command()
def demo(
    ctx: typer.Context,
    haven: Annotated[
        Path, typer.Option("--haven-dir", help="Where to build the demo haven.")
    ] = Path("./haven-demo"),
    people: Annotated[int, typer.Option(help="Size of the synthetic population.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    invalid_rate: Annotated[float, typer.Option(help="Share of rows with a planted error.")] = 0.01,
    json: JsonFlag = False,
) -> None:
    """Build a demo haven, synthesise returns, submit and link every file, print a summary."""
    from dataclasses import replace

    from carehaven import demo as demo_run

    base = settings_of(ctx)
    settings = replace(base, haven=haven, control_url=None)
    with counter("demo", quiet=json) as progress:
        result = demo_run.run(
            settings,
            people=people,
            seed=seed,
            invalid_rate=invalid_rate,
            progress=progress,
            actor=actor(),
        )
    if json:
        emit_json(result.as_json())
        return
    table(
        f"carehaven demo: {result.people:,} synthetic people",
        ["Dataset", "Files", "Rows", "Accepted", "Rejected", "Findings"],
        [
            [name, t.files, t.rows, t.accepted, t.rejected, t.findings]
            for name, t in sorted(result.datasets.items())
        ],
    )
    table(
        f"Unique people found by linking {result.linked_records:,} records",
        ["Dataset", "People"],
        [[name, n] for name, n in result.people_found.items()],
    )
    out.print(
        f"The synthetic population is {result.people:,} people; treatment episodes without "
        "consent are counted but never linked, so each counts on its own."
    )
    if result.waiting_review:
        out.print(
            f"{result.waiting_review:,} uncertain pairs wait for a person's decision: "
            f"carehaven --haven {result.haven} link review"
        )
    if result.published:
        table(
            f"Headline tables published to {result.publications}",
            ["Table", "Cells", "Small (primary)", "Protecting them (secondary)"],
            [[n, c, p, q] for n, (c, p, q) in result.published.items()],
        )
    rel = result.release
    if rel.get("status") == "written":
        out.print(
            f"Release {rel['release_id']} ({rel['decision']}: "
            f"{', '.join(str(r['requirement']) for r in rel['reasons'])}) proposed by one person, "  # type: ignore[attr-defined]
            f"approved by {rel['approved_by']}: {rel['rows']:,} de-personalised rows about "
            f"{rel['people']:,} people for NDEC; manifest {rel['manifest']}"
        )
    if result.notice:
        out.print(f"NDTMS privacy notice, rendered from the rules: {result.notice}")
    state = "intact" if result.audit_ok else "FAILED VERIFICATION"
    out.print(f"Audit log {state}: {result.audit_entries:,} entries.")
    if result.checkpoint:
        out.print(
            f"Signed audit checkpoint {result.checkpoint}: every publication and the release "
            "carry a copy; keep one outside the haven with 'carehaven audit checkpoint --out "
            "FILE' (an auditor) and check later with 'audit verify --checkpoint FILE'."
        )
    out.print(f"Haven: {result.haven}   Returns: {result.returns}")
    if result.passwords is not None:
        names = ", ".join(f"{n} ({r})" for n, r in result.portal_users.items())
        out.print(
            f"Web portal: carehaven --haven {result.haven} serve, then open "
            f"http://127.0.0.1:8000/ and sign in as one of {names}; their passwords are in "
            f"{result.passwords} (owner-only; keep it secret).", soft_wrap=True)
    tokens = result.haven / demo_run.DEMO_TOKENS
    if tokens.exists():
        out.print(
            f"The haven now has users, so a command acts for a person who proves who they are: "
            f"{tokens} holds a personal token for each demo user (keep it secret). "
            f"Act as the operator with: . {tokens}"
        )
        out.print(f"Next: . {tokens} && carehaven --haven {result.haven} submissions")
    else:
        out.print(f"Next: carehaven --haven {result.haven} submissions")
