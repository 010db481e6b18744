"""synth: synthetic returns with known truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carehaven.access.permissions import Permission
from carehaven.cli.app import JsonFlag, app, open_as, settings_of
from carehaven.cli.output import counter, emit_json, out, table
from carehaven.errors import UsageError


@app.command()
def synth(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the returns.")],
    people: Annotated[int, typer.Option(help="How many real people to simulate.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    invalid_rate: Annotated[
        float,
        typer.Option(help="Share of rows given one planted error, recorded in truth/invalid.csv."),
    ] = 0.0,
    register: Annotated[
        bool, typer.Option("--register", help="Also add the synthetic organisations to the haven.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into a folder that already holds files, replacing "
                     "returns of the same names."),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Write synthetic returns for every dataset, a manifest.json, and the truth under truth/."""
    from carehaven.synth import synthesise

    _check_out(settings_of(ctx).haven, out_dir, force)
    if people < 1:
        raise UsageError("--people must be at least 1.")
    if not 0 <= invalid_rate <= 0.5:
        raise UsageError("--invalid-rate must be between 0 and 0.5.")
    # Writing files needs no haven; registering their organisations in one is pipeline work.
    haven, who = open_as(ctx, Permission.RUN_PIPELINE) if register else (None, None)
    with counter("synthesising", quiet=json) as progress:
        result = synthesise(
            out_dir, people=people, seed=seed, invalid_rate=invalid_rate, progress=progress
        )
    added = []
    if haven is not None and who is not None:
        known = {o.code for o in haven.organisations()}
        for org in result.organisations:
            if org.code not in known:
                haven.add_organisation(org.code, org.kind, org.name, actor=who.label)
                added.append(org.code)
    summary = {
        "out": str(out_dir),
        "manifest": str(out_dir / "manifest.json"),
        "people": result.people,
        "files": len(result.files),
        "rows": sum(f.rows for f in result.files),
        "planted_invalid": result.planted_invalid,
        "registered": added,
    }
    if json:
        emit_json(summary)
        return
    by_dataset: dict[str, list[int]] = {}
    for f in result.files:
        by_dataset.setdefault(f.dataset, []).append(f.rows)
    table(
        f"Synthetic returns in {out_dir}",
        ["Dataset", "Files", "Rows"],
        [[d, len(r), sum(r)] for d, r in sorted(by_dataset.items())],
    )
    out.print(
        f"{result.people:,} people; manifest at {summary['manifest']}; "
        f"truth kept apart under {out_dir / 'truth'}."
    )
    if added:
        out.print(f"Registered {len(added)} organisations in the haven.")


def _check_out(haven_root: Path, out_dir: Path, force: bool) -> None:
    """The returns folder: never inside the haven (its outputs folder too), never a link or a
    file, and new or empty unless --force (issue 13 item 11)."""
    target = out_dir.expanduser().absolute()
    if target.is_symlink():
        raise UsageError(f"{target} is a symbolic link; name a real folder for the returns.")
    root = haven_root.expanduser().resolve()
    where = target.resolve()
    if where.is_relative_to(root):  # outputs/ too: synthetic returns are not artefacts
        raise UsageError(
            f"{target} is inside the haven at {root}; write synthetic returns outside it."
        )
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file; name a new or empty folder for the returns.")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} already holds files; name a new or empty folder, or add --force to "
            "write the returns over those of the same names."
        )
