"""recipients, agreements, release, access review: who may receive what (SHR-1 to SHR-12)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carehaven import clock
from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import emit_json, err, out, table
from carehaven.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from carehaven.access.users import Actor
    from carehaven.haven import Haven

recipients_app = typer.Typer(help="Organisations that may receive data.", no_args_is_help=True)
agreements_app = typer.Typer(help="Data sharing agreements.", no_args_is_help=True)
release_app = typer.Typer(
    help="Releases: propose, approve (by another person), show.", no_args_is_help=True
)
access_app = typer.Typer(help="Who can get what; the regular review (SHR-7).",
                         no_args_is_help=True)
app.add_typer(recipients_app, name="recipients")
app.add_typer(agreements_app, name="agreements")
app.add_typer(release_app, name="release")
app.add_typer(access_app, name="access")

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this registered user, who must authenticate: their "
                 "token in CAREHAVEN_TOKEN or their password at the prompt [env: "
                 "CAREHAVEN_USER]."),
]


def _haven(ctx: typer.Context, permission: Permission, as_: str | None) -> tuple[Haven, Actor]:
    return open_as(ctx, permission, explicit=as_)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} takes a date like 2027-03-31, not {value!r}.") from None


# ---- recipients --------------------------------------------------------------------------------


@recipients_app.command("add")
def recipients_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="A short code, e.g. NDEC.")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="processor, research, government, local-authority, "
                     "partner, police, court or public."),
    ],
    name: Annotated[str, typer.Option("--name", help="The organisation's name.")] = "",
    org: Annotated[
        str | None,
        typer.Option("--org", help="The registered organisation it is (a local authority's "
                     "code; required for local authorities, SHR-9)."),
    ] = None,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Register a recipient: an organisation (or the public) that may receive data."""
    from carehaven.governance.public import RecipientPublic
    from carehaven.governance.sharing import add_recipient

    haven, who = _haven(ctx, Permission.MANAGE_SHARING, as_)
    row = add_recipient(haven, code, name, kind, actor=who.label, org_code=org)
    if json:
        emit_json(RecipientPublic.of(row).as_json())
        return
    out.print(f"[bold green]ADDED[/] recipient {row.code} ({row.kind}): {row.name}")


@recipients_app.command("list")
def recipients_list(ctx: typer.Context, as_: AsOption = None, json: JsonFlag = False) -> None:
    """List the recipients."""
    from carehaven.governance.public import RecipientPublic
    from carehaven.governance.sharing import recipients

    haven, _ = _haven(ctx, Permission.READ_GOVERNANCE, as_)
    rows = [RecipientPublic.of(r) for r in recipients(haven)]
    if json:
        emit_json([r.as_json() for r in rows])
        return
    table("Recipients", ["code", "kind", "name"], [[r.code, r.kind, r.name] for r in rows])


# ---- agreements --------------------------------------------------------------------------------


@agreements_app.command("add")
def agreements_add(
    ctx: typer.Context,
    recipient: Annotated[str, typer.Option("--recipient", help="The recipient's code.")],
    tier: Annotated[
        str,
        typer.Option("--tier", help="personal, de-personalised, anonymised or aggregate."),
    ],
    datasets: Annotated[str, typer.Option("--datasets", help="Comma-separated dataset names.")],
    fields: Annotated[
        str,
        typer.Option("--fields", help="Comma-separated fields allowed (data minimisation): "
                     "'field' for every dataset, 'dataset:field' for one; 'all' for every "
                     "field of the tier."),
    ],
    purposes: Annotated[
        str, typer.Option("--purposes", help="Comma-separated purposes, e.g. research,statistics.")
    ],
    lawful_basis: Annotated[
        str,
        typer.Option("--lawful-basis", help="UK GDPR articles, e.g. 6.1.e,9.2.j (SHR-11)."),
    ],
    expires: Annotated[str, typer.Option("--expires", help="The last day it is in force.")],
    starts: Annotated[
        str | None, typer.Option("--starts", help="The first day it is in force [today].")
    ] = None,
    uk_only: Annotated[
        bool,
        typer.Option("--uk-only/--not-uk-only", help="Data stored in the UK only (SHR-10)."),
    ] = True,
    onward_sharing: Annotated[
        bool, typer.Option("--onward-sharing", help="The recipient may share it on.")
    ] = False,
    sub_licensing: Annotated[
        bool,
        typer.Option("--sub-licensing", help="A sub-licence, as local authorities hold "
                     "(SHR-9)."),
    ] = False,
    no_reidentification: Annotated[
        bool,
        typer.Option("--no-reidentification-signed",
                     help="The recipient signed the undertaking not to re-identify (SHR-4)."),
    ] = False,
    orgs: Annotated[
        str | None,
        typer.Option("--orgs", help="Only rows submitted by these organisations "
                     "(comma-separated codes; SHR-9) [every organisation]."),
    ] = None,
    periods: Annotated[
        str | None,
        typer.Option("--periods", help="Only rows of these periods, e.g. 2025Q1,2025Q2 "
                     "[every period]."),
    ] = None,
    contract: Annotated[
        str | None,
        typer.Option("--contract", help="The contract a processor works under; personal "
                     "data goes only to a processor under one (SHR-1)."),
    ] = None,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Record a data sharing agreement with a recipient."""
    from carehaven.governance.public import AgreementPublic
    from carehaven.governance.sharing import Terms, add_agreement

    haven, who = _haven(ctx, Permission.MANAGE_SHARING, as_)
    terms = Terms(
        recipient=recipient,
        tier=tier,
        datasets=_csv(datasets),
        fields=_csv(fields),
        purposes=_csv(purposes),
        lawful_bases=_csv(lawful_basis),
        expires_on=_date(expires, "--expires"),
        starts_on=_date(starts, "--starts") if starts else None,
        uk_only=uk_only,
        onward_sharing=onward_sharing,
        sub_licensing=sub_licensing,
        no_reidentification_signed=no_reidentification,
        orgs=_csv(orgs or ""),
        periods=_csv(periods or ""),
        contract_ref=contract,
    )
    row = add_agreement(haven, terms, actor=who.label)
    if json:
        emit_json(AgreementPublic.of(row, clock.today()).as_json())
        return
    out.print(
        f"[bold green]ADDED[/] agreement {row.label}: {row.recipient} may receive {row.tier} "
        f"{', '.join(sorted(row.fields))} for {', '.join(row.purposes)} until {row.expires_on}."
    )


@agreements_app.command("list")
def agreements_list(
    ctx: typer.Context,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Only this recipient's.")
    ] = None,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """List the agreements and their state today."""
    from carehaven.governance.public import AgreementPublic
    from carehaven.governance.sharing import agreements

    haven, _ = _haven(ctx, Permission.READ_GOVERNANCE, as_)
    rows = [AgreementPublic.of(a, clock.today()) for a in agreements(haven, recipient)]
    if json:
        emit_json([r.as_json() for r in rows])
        return
    table(
        "Agreements",
        ["agreement", "recipient", "tier", "datasets", "purposes", "expires", "state"],
        [[r.agreement_id, r.recipient, r.tier, ", ".join(r.datasets), ", ".join(r.purposes),
          r.expires_on, r.state] for r in rows],
    )


@agreements_app.command("revoke")
def agreements_revoke(
    ctx: typer.Context,
    agreement: Annotated[str, typer.Argument(help="The agreement, e.g. A-7.")],
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Revoke an agreement from today: no release is approved under it again."""
    from carehaven.governance.public import AgreementPublic
    from carehaven.governance.sharing import revoke_agreement

    haven, who = _haven(ctx, Permission.MANAGE_SHARING, as_)
    row = revoke_agreement(haven, agreement, actor=who.label)
    if json:
        emit_json(AgreementPublic.of(row, clock.today()).as_json())
        return
    out.print(f"[bold yellow]REVOKED[/] agreement {row.label} from {row.revoked_on}.")


# ---- releases ----------------------------------------------------------------------------------


@release_app.command("propose")
def release_propose(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="The dataset to release.")],
    agreement: Annotated[
        str | None, typer.Option("--agreement", help="The agreement it falls under, e.g. A-7.")
    ] = None,
    recipient: Annotated[
        str | None,
        typer.Option("--recipient", help="The recipient (implied by --agreement)."),
    ] = None,
    tier: Annotated[
        str | None, typer.Option("--tier", help="The tier [the agreement's].")
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option("--purpose", help="Why [the agreement's first purpose]."),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="Comma-separated fields [those the agreement allows]."),
    ] = None,
    orgs: Annotated[
        str | None,
        typer.Option("--orgs", help="Only rows submitted by these organisations [the "
                     "agreement's; a local authority's own]."),
    ] = None,
    periods: Annotated[
        str | None, typer.Option("--periods", help="Only rows of these periods [the agreement's].")
    ] = None,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Propose a release; the sharing policy decides now, with its reasons.

    An allowed release waits for approval by another person. Exit code 14 when denied.
    """
    from carehaven.governance.release import propose

    haven, who = _haven(ctx, Permission.PROPOSE_RELEASE, as_)
    proposal = propose(
        haven,
        dataset=dataset,
        who=who,
        agreement_label=agreement,
        recipient_code=recipient,
        tier=tier,
        purpose=purpose,
        fields=_csv(fields) if fields else None,
        orgs=_csv(orgs) if orgs else None,
        periods=_csv(periods) if periods else None,
    )
    if json:
        emit_json(proposal.as_json())
    else:
        row, decision = proposal.release, proposal.decision
        if decision.allow:
            out.print(f"[bold green]ALLOWED[/] {row.label}: {row.tier} {row.dataset} for "
                      f"{row.recipient} ({row.purpose}); it now needs another person's approval.")
        else:
            out.print(f"[bold red]DENIED[/] {row.tier} {row.dataset} for {row.recipient} "
                      f"({row.purpose}); recorded as {row.label}.")
        for reason in decision.reasons:
            out.print(f"  {reason.requirement}: {reason.text}")
    if not proposal.decision.allow:
        raise typer.Exit(int(ExitCode.POLICY_DENIED))


@release_app.command("approve")
def release_approve(
    ctx: typer.Context,
    release: Annotated[str, typer.Argument(help="The release, e.g. R-12.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="The folder to write it into, outside the haven or under "
                     "its outputs [<haven>/outputs/releases/R-n]."),
    ] = None,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Approve a proposed release (not your own) and write it with its manifest."""
    from carehaven.governance.public import ApprovedPublic
    from carehaven.governance.release import approve

    haven, who = _haven(ctx, Permission.APPROVE_RELEASE, as_)
    say = (lambda _m: None) if json or not err.is_terminal else (lambda m: err.print(f"  {m}"))
    row = approve(haven, release, approver=who, out=out_dir, progress=say)
    if json:
        emit_json(ApprovedPublic.of(row).as_json())
        return
    out.print(f"[bold green]WRITTEN[/] {row.label}: {row.rows:,} rows about "
              f"{row.people:,} people, {row.tier} {row.dataset} for {row.recipient}.")
    for f in [*row.files, row.manifest]:
        out.print(f"  {f}")


@release_app.command("show")
def release_show(
    ctx: typer.Context,
    release: Annotated[str, typer.Argument(help="The release, e.g. R-12.")],
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """A release: what, for whom, the decision and its reasons, who approved, the files."""
    from carehaven.governance.public import ReleasePublic
    from carehaven.governance.release import get

    haven, _ = _haven(ctx, Permission.READ_GOVERNANCE, as_)
    data = ReleasePublic.of(get(haven, release)).as_json()
    if json:
        emit_json(data)
        return
    for key in ("release_id", "status", "decision", "agreement", "recipient", "dataset", "tier",
                "purpose", "proposed_by", "proposed_at", "approved_by", "approved_at", "rows",
                "people", "artefact", "manifest"):
        out.print(f"{key:>12}: {data[key] if data[key] is not None else '-'}")
    out.print(f"{'fields':>12}: {', '.join(data['fields'])}")  # type: ignore[arg-type]
    scope = data["row_scope"]
    assert isinstance(scope, dict)
    out.print(f"{'rows of':>12}: {', '.join(scope['orgs']) or 'every organisation'}; "
              f"{', '.join(scope['periods']) or 'every period'}")
    for reason in data["reasons"]:  # type: ignore[attr-defined]
        out.print(f"{'reason':>12}: {reason['requirement']}: {reason['text']}")


@release_app.command("list")
def release_list(ctx: typer.Context, as_: AsOption = None, json: JsonFlag = False) -> None:
    """List the releases."""
    from carehaven.governance.public import ReleasePublic
    from carehaven.governance.release import releases

    haven, _ = _haven(ctx, Permission.READ_GOVERNANCE, as_)
    rows = [ReleasePublic.of(r) for r in releases(haven)]
    if json:
        emit_json([r.as_json() for r in rows])
        return
    table("Releases", ["release", "status", "recipient", "dataset", "tier", "rows", "people"],
          [[r.release_id, r.status, r.recipient, r.dataset, r.tier, r.rows, r.people]
           for r in rows])


# ---- access review -----------------------------------------------------------------------------


@access_app.command("review")
def access_review(
    ctx: typer.Context,
    soon: Annotated[
        int, typer.Option("--soon", help="Days ahead in which an expiry is reported.")
    ] = 90,
    idle: Annotated[
        int, typer.Option("--idle", help="Days without use after which a role is reported.")
    ] = 90,
    as_: AsOption = None,
    json: JsonFlag = False,
) -> None:
    """Who can get what, what expires soon, who had nothing for a year, roles unused."""
    from carehaven.governance.public import AccessReviewPublic
    from carehaven.governance.review import review

    haven, _ = _haven(ctx, Permission.READ_GOVERNANCE, as_)
    result = review(haven, soon=soon, idle=idle)
    if json:
        emit_json(AccessReviewPublic.of(result).as_json())
        return
    table(f"Access in force on {result.on}",
          ["recipient", "agreement", "tier", "datasets", "expires"],
          [[a["recipient"], a["agreement"], a["tier"], ", ".join(a["datasets"]),  # type: ignore[arg-type]
            a["expires_on"]] for a in result.access])
    table(f"Agreements expiring within {soon} days or lapsed",
          ["agreement", "recipient", "expires", "days left", "state"],
          [[e["agreement"], e["recipient"], e["expires_on"], e["days_left"], e["state"]]
           for e in result.expiring])
    table("Recipients with nothing released for a year", ["recipient", "kind", "last release"],
          [[q["recipient"], q["kind"], q["last_release"] or "never"]
           for q in result.quiet_recipients])
    table(f"Roles unused for {idle} days", ["user", "role", "organisation", "last used"],
          [[r["user"], r["role"], r["org"], r["last_used"] or "never"]
           for r in result.idle_roles])
