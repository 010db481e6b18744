"""audit verify / show / checkpoint / prove."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as
from carehaven.cli.output import counter, emit_json, err, out, table
from carehaven.errors import CarehavenError, ExitCode, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="The audit signing public key (PEM) a witness pins; the checkpoint must be signed "
        "with it. Without it, with this haven's own signing key.",
        show_default=False,
    ),
]


def _pinned(path: Path | None) -> Ed25519PublicKey | None:
    from carehaven.audit.signing import load_public_file

    return None if path is None else load_public_file(path)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A witness's checkpoint file (from 'audit checkpoint'); repeat for several. "
            "Proves the log still holds what the witness saw and only grew since.",
            show_default=False,
        ),
    ] = None,
    public_key: PublicKeyOption = None,
    skip_landing: Annotated[
        bool, typer.Option("--skip-landing", help="Do not read the landed files back.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Check the chain, the append-only triggers, the checkpoints recorded and witnessed, and
    every landed file; exit 7 naming what failed."""
    from carehaven.audit.state import check

    haven, _ = open_as(ctx, Permission.READ_AUDIT)
    if public_key is not None and not checkpoint:
        raise UsageError("--public-key pins the key a --checkpoint is signed with; give one.")
    pinned = _pinned(public_key)

    def say(message: str) -> None:
        if not json and err.is_terminal:
            err.print(f"  {message}")

    with counter("reading landed files back", quiet=json or skip_landing) as progress:
        state = check(haven, list(checkpoint or []), pinned=pinned, skip_landing=skip_landing,
                      say=say, step=lambda done, total: progress(
                          "reading landed files back", done, total))
    chain, log, checked, failures = state.chain, state.log, state.checked, state.failures
    if json:
        from carehaven.audit.public import AuditStatePublic

        emit_json(AuditStatePublic.of(state).as_json())
        if failures:
            raise typer.Exit(int(ExitCode.AUDIT_FAILED))
        return
    if failures:
        where = f" after {chain.entries:,} entries" if not chain.ok else ""
        raise CarehavenError(
            f"Audit verification failed{where}: {failures[0]}."
            + (f" ({len(failures) - 1} more problem(s): use --json to list them.)"
               if len(failures) > 1 else ""),
            exit_code=ExitCode.AUDIT_FAILED,
        )
    out.print(f"Audit log intact: {chain.entries:,} entries, every link verified; the "
              "append-only triggers are in place.")
    if log.stored:
        out.print(f"The log gives the signed root of each of the haven's {len(log.stored):,} "
                  "recorded checkpoints.")
    for w in log.witnesses:
        grew = log.size - (w.size or 0)
        out.print(
            f"Checkpoint {w.file}: the first {w.size:,} entries match its signed "
            f"root, and the log only grew since ({grew:,} appended; consistency proof "
            "verified)."
        )
    if not skip_landing:
        out.print(f"Landing zone intact: {checked:,} landed files decrypt to their recorded "
                  "sha256.")


@audit_app.command("checkpoint")
def audit_checkpoint(
    ctx: typer.Context,
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where the witness file is written: outside the haven, a new file.",
            show_default=False,
        ),
    ],
    previous: Annotated[
        list[Path] | None,
        typer.Option(
            "--previous",
            help="A checkpoint file you kept from before (repeat for several): nothing is "
            "signed unless the log extends it. The haven's own record of its checkpoints is "
            "always checked, but whoever rewrote the log could have deleted it.",
            show_default=False,
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Sign the audit log's Merkle root as it is now, for a witness to keep outside the haven.
    Refused (exit 7) unless 'audit verify' would pass: the chain, the append-only triggers and
    every checkpoint signed before."""
    from carehaven.audit import checkpoint
    from carehaven.control.models import AuditCheckpoint

    haven, who = open_as(ctx, Permission.SIGN_CHECKPOINT)
    target = _witness_target(out_file, haven.paths.root)
    row = checkpoint.sign(haven, actor=who.label, previous=list(previous or []))
    with haven.sessions() as session:
        doc = checkpoint.document(session.get_one(AuditCheckpoint, row.id))
    _write_new(target, doc)
    if json:
        emit_json({**doc, "file": str(target)})
        return
    out.print(
        f"[bold green]SIGNED[/] checkpoint {doc['checkpoint']}: the first {row.size:,} entries, "
        f"root {row.root}, key {row.key_id}."
    )
    out.print(f"Wrote {target}; keep it outside the haven.")


def _witness_target(path: Path, haven_root: Path) -> Path:
    target = path.expanduser().absolute()
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists; a checkpoint is written to a new file.")
    if not target.parent.is_dir():
        raise UsageError(f"There is no folder {target.parent} to write the checkpoint into.")
    resolved = target.parent.resolve() / target.name
    if resolved.is_relative_to(haven_root.resolve()):
        raise UsageError(
            f"{target} is inside the haven: a witness copy kept there protects nothing. "
            "Write it outside the haven folder."
        )
    return target


def _write_new(target: Path, doc: dict[str, Any]) -> None:
    import json as jsonlib

    body = jsonlib.dumps(doc, indent=2) + "\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(
            f"{target} already exists; a checkpoint is written to a new file."
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(body)


@audit_app.command("prove")
def audit_prove(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The audit entry's sequence number.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="Prove the entry is in this witness's tree (whose signature is checked first) "
            "instead of today's.",
            show_default=False,
        ),
    ] = None,
    public_key: PublicKeyOption = None,
    json: JsonFlag = False,
) -> None:
    """The RFC 9162 inclusion proof of one entry: its leaf, the audit path and the root,
    verified before it is printed."""
    from carehaven.audit.witness import prove

    if seq < 1:
        raise UsageError("An audit entry's sequence number is a whole number from 1.")
    haven, _ = open_as(ctx, Permission.READ_AUDIT)
    proof = prove(haven, seq, checkpoint=checkpoint, pinned=_pinned(public_key))
    if json:
        from carehaven.audit.public import InclusionPublic

        emit_json(InclusionPublic.of(proof).as_json())
        return
    where = f"the tree {checkpoint} witnessed" if checkpoint else "today's tree"
    out.print(f"Entry {proof.seq:,} is leaf {proof.seq - 1:,} of {where} "
              f"({proof.tree_size:,} entries); the proof verifies.")
    out.print(f"leaf (chain hash) {proof.leaf}")
    out.print(f"leaf hash         {proof.leaf_hash}")
    for i, node in enumerate(proof.path):
        out.print(f"{f'path[{i}]':<18}{node}")
    out.print(f"root              {proof.root}")


@audit_app.command("show")
def audit_show(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, help="How many of the newest entries to show.")
    ] = 20,
    json: JsonFlag = False,
) -> None:
    """Show the newest entries of the audit log."""
    from carehaven.audit.state import newest

    haven, _ = open_as(ctx, Permission.READ_AUDIT)
    entries = newest(haven, limit)
    if json:
        from carehaven.audit.public import AuditEntryPublic

        emit_json([AuditEntryPublic(**asdict(e)).as_json() for e in entries])
    else:
        table(
            "Audit log",
            ["Seq", "At", "Actor", "Action", "Subject"],
            [[e.seq, e.at, e.actor, e.action, e.subject] for e in entries],
        )
