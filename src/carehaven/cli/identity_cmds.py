"""link (and its review queue), persons count, feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import UsageError

link_app = typer.Typer(
    help="Resolve every accepted row to a person; review the uncertain pairs.",
    invoke_without_command=True,
    no_args_is_help=False,
)
persons_app = typer.Typer(help="Unique people (IDN-1).", no_args_is_help=True)
app.add_typer(link_app, name="link")
app.add_typer(persons_app, name="persons")


@link_app.callback()
def link(
    ctx: typer.Context,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write the quality report (Splink's charts, cluster sizes, the estimated "
            "false-match rate) into this new or empty folder, outside the haven or under its "
            "outputs folder.",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Retrain the model and rescore every pair, instead of scoring only what is "
            "new since the last run with its model.",
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Link every accepted row with identifiers to a person, keeping person ids stable."""
    if ctx.invoked_subcommand is not None:
        return
    from carehaven.haven import outpath
    from carehaven.identity.link import link as run_link

    haven, who = open_as(ctx, Permission.RUN_PIPELINE)
    if report is not None:  # before any work: never into the haven's own folders, never over
        report = outpath.new_folder(haven, report)
    say = (lambda _m: None) if json or not err.is_terminal else (lambda m: err.print(f"  {m}"))
    result = run_link(
        haven, actor=who.label, progress=say, keep_resolution=report is not None, full=full
    )
    files: list[Path] = []
    if report is not None:
        from carehaven.identity.quality import write_report

        files = write_report(result, report)
    if json:
        from carehaven.identity.public import LinkRunPublic

        emit_json(LinkRunPublic.of(result).as_json())
        return
    out.print(
        f"[bold green]LINKED[/] run {result.run}: {result.records:,} records, "
        f"{result.profiles:,} profiles, {result.people:,} people."
    )
    out.print(
        f"Joined by strong keys {result.merged_by_rule:,}, by the model "
        f"{result.merged_by_model:,}, by a person's decision {result.merged_by_decision:,}."
    )
    if result.merges or result.splits:
        out.print(
            f"Person ids: {result.merges:,} merged, {result.splits:,} split "
            "(each recorded in the audit log with its reason)."
        )
    if result.incremental:
        out.print(
            f"Scored {result.new_profiles:,} new profiles with the last run's model "
            "(--full retrains it)."
        )
    if not result.model_used:
        out.print("Too few records for the model to learn from: strong keys only this run.")
    if result.waiting_review:
        out.print(
            f"{result.waiting_review:,} uncertain pairs wait for a decision: "
            "carehaven link review"
        )
    if files:
        out.print(f"Quality report: {report / 'index.html' if report else ''}")


@link_app.command("review")
def review(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show at most this many pairs.")] = 50,
    json: JsonFlag = False,
) -> None:
    """The uncertain pairs waiting for a person's decision, with the evidence (no identifiers)."""
    from carehaven.identity.public import LinkPairPublic
    from carehaven.identity.review import waiting

    haven, _ = open_as(ctx, Permission.RUN_PIPELINE)
    pairs = waiting(haven, limit=limit)
    if json:
        emit_json([LinkPairPublic.of(p).as_json() for p in pairs])
        return
    if not pairs:
        out.print("No pairs are waiting for a decision.")
        return

    def side(s: object) -> str:
        from carehaven.identity.review import Side

        return f"{s.org} ({s.source}, {s.records} rows)" if isinstance(s, Side) else "(gone)"

    table(
        "Pairs waiting for a decision",
        ["Pair", "p", "Left", "Right", "Evidence"],
        [
            [
                p.pair_id,
                f"{p.probability:.3f}",
                side(p.left),
                side(p.right),
                "; ".join(f"{k}: {v}" for k, v in p.evidence.items()),
            ]
            for p in pairs
        ],
    )
    out.print("Decide with: carehaven link decide PAIR --same | --different")


@link_app.command("decide")
def decide(
    ctx: typer.Context,
    pair: Annotated[
        str, typer.Argument(help="The pair id from 'link review', e.g. LP-1a2b3c4d5e6f.")
    ],
    same: Annotated[bool, typer.Option("--same", help="They are the same person.")] = False,
    different: Annotated[
        bool, typer.Option("--different", help="They are different people.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Record your decision on a pair; it overrides the model from the next link run."""
    from carehaven.identity.review import decide as record_decision

    if same == different:
        raise UsageError("Say either --same or --different.")
    haven, who = open_as(ctx, Permission.RUN_PIPELINE)
    decided = record_decision(haven, pair, same=same, actor=who.label)
    earlier, now = decided.previous, decided.decision
    if json:
        emit_json(decided.as_json())
        return
    change = f" (was {earlier})" if earlier and earlier != now else ""
    out.print(f"[bold]{pair}[/]: {now}{change}. It applies from the next 'carehaven link'.")


@persons_app.command("count")
def count(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="The dataset, e.g. ndtms-episode.")],
    by: Annotated[
        str | None,
        typer.Option(help="Group by any of period, provider, authority (comma-separated)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Count unique people in a dataset, over all time or by period, provider or authority."""
    from carehaven.identity.counts import count_people, parse_by

    groups = parse_by(by)
    haven, _ = open_as(ctx, Permission.RUN_PIPELINE)
    result = count_people(haven, dataset, groups)
    if result.unlinked_rows:
        err.print(
            f"Note: {result.unlinked_rows:,} rows accepted since the last link run are not "
            "counted; run 'carehaven link'."
        )
    if json:
        emit_json(result.rows)  # one row per group: its values and the people counted
        return
    cols = [*groups, "people"]
    table(
        f"Unique people in {dataset}",
        [c.capitalize() for c in cols],
        [[r[c] for c in cols] for r in result.rows],
    )


feedback_app = typer.Typer(
    help="Tell a provider which of its clients other providers treat now (IDN-2); the data "
    "team's held matches.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(feedback_app, name="feedback")


@feedback_app.callback()
def feedback(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="The treatment provider to tell.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the CSV (outside the haven).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Tell a provider which of its clients in treatment another provider is treating now.

    A match that was not there at the previous link run (a new client, a new episode, a row
    made up) is held for the data team ('carehaven feedback holds') until a person decides.
    """
    if ctx.invoked_subcommand is not None:
        return
    if org is None or out_file is None:
        raise UsageError("Name the provider (--org) and the CSV to write (--out).")
    from carehaven.identity.feedback import feedback as build

    haven, who = open_as(ctx, Permission.READ_SUBMISSIONS, org)
    say = (lambda _m: None) if json or not err.is_terminal else (lambda m: err.print(f"  {m}"))
    result = build(haven, org, out_file, actor=who.label, progress=say)
    if json:
        from carehaven.identity.public import FeedbackPublic

        emit_json(FeedbackPublic.of(result).as_json())
        return
    out.print(
        f"{result.clients_shared:,} of {result.org}'s {result.open_clients:,} open clients "
        f"are also open at another provider; written to {out_file} ({result.artefact})."
    )


@feedback_app.command("holds")
def feedback_holds(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Decided holds too.")] = False,
    json: JsonFlag = False,
) -> None:
    """Matches held because they were not there at the previous link run, with the evidence
    (which returns, periods and dates each side's episodes came in; no person's data)."""
    from carehaven.identity.feedback import holds

    haven, _ = open_as(ctx, Permission.APPROVE_RELEASE)
    rows = holds(haven, status=None if all_ else "waiting")
    if json:
        from carehaven.identity.public import HoldPublic

        emit_json([HoldPublic.of(h).as_json() for h in rows])
        return
    if not rows:
        out.print("No feedback match is waiting for a decision.")
        return
    def side(e: object) -> str:
        if not isinstance(e, dict):
            return ""
        return (f"{e.get('episodes', 0)} ep., {','.join(e.get('periods', []))}, since "
                f"{e.get('first_received') or '?'}"
                + (", by resubmission" if e.get("by_resubmission") else ""))

    table(
        "Held feedback matches",
        ["hold", "told to", "about", "status", "link run", "here", "there", "decided by"],
        [[h.label, h.org, h.other_org, h.status, h.link_run, side(h.evidence.get("here")),
          side(h.evidence.get("other")), h.decided_by or ""] for h in rows],
    )
    out.print("Decide with: carehaven feedback release HOLD | carehaven feedback refuse HOLD")


@feedback_app.command("release")
def feedback_release(
    ctx: typer.Context,
    holds: Annotated[list[str], typer.Argument(help="The holds, e.g. FH-3 FH-4.")],
    json: JsonFlag = False,
) -> None:
    """Both treatment relationships are confirmed: tell the provider in its next feedback."""
    _decide_holds(ctx, holds, release=True, json=json)


@feedback_app.command("refuse")
def feedback_refuse(
    ctx: typer.Context,
    holds: Annotated[list[str], typer.Argument(help="The holds, e.g. FH-3 FH-4.")],
    json: JsonFlag = False,
) -> None:
    """Never tell the provider about these matches."""
    _decide_holds(ctx, holds, release=False, json=json)


def _decide_holds(ctx: typer.Context, holds: list[str], *, release: bool, json: bool) -> None:
    from carehaven.identity.feedback import decide as decide_hold

    haven, who = open_as(ctx, Permission.APPROVE_RELEASE)
    views = [decide_hold(haven, h, release=release, actor=who.label) for h in holds]
    if json:
        from carehaven.identity.public import HoldPublic

        emit_json([HoldPublic.of(v).as_json() for v in views])
        return
    for view in views:
        out.print(f"[bold]{view.label}[/] ({view.org} about {view.other_org}): {view.status}.")
