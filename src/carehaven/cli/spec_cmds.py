"""spec list / spec show."""

from __future__ import annotations

from typing import Annotated

import typer

from carehaven.cli.app import JsonFlag, app
from carehaven.cli.output import emit_json, out, table

spec_app = typer.Typer(
    help="The dataset specifications carehaven validates against.", no_args_is_help=True
)
app.add_typer(spec_app, name="spec")


@spec_app.command("list")
def spec_list(json: JsonFlag = False) -> None:
    """List the dataset specifications."""
    from carehaven.specs import available, load_spec

    specs = [load_spec(name) for name in available()]
    rows = [
        {
            "name": s.name,
            "version": s.version,
            "title": s.title,
            "submitted_by": [k.value for k in s.submitter_kinds],
            "fields": len(s.fields),
            "rules": len(s.rules),
        }
        for s in specs
    ]
    if json:
        emit_json(rows)
    else:
        table(
            "Dataset specifications",
            ["Name", "Version", "Title", "Submitted by", "Fields", "Rules"],
            [
                [s.name, s.version, s.title, ", ".join(s.submitter_kinds), len(s.fields),
                 len(s.rules)]
                for s in specs
            ],
        )


@spec_app.command("show")
def spec_show(
    name: Annotated[str, typer.Argument(help="A dataset name, e.g. cld-event.")],
    json: JsonFlag = False,
) -> None:
    """Show one specification: who submits it, its fields, classes, constraints and rules."""
    from carehaven.specs import load_spec

    spec = load_spec(name)
    if json:
        emit_json(spec.descriptor())
        return
    out.print(f"[bold]{spec.name}[/] {spec.version}: {spec.title}")
    if spec.description:
        out.print(spec.description)
    kinds = ", ".join(k.value for k in spec.submitter_kinds)
    out.print(f"Submitted by organisations of kind: {kinds} (COL-9)")
    rows = []
    for f in spec.fields:
        k = f.constraints
        notes = []
        if k.enum:
            notes.append("codes " + ", ".join(k.enum[:8]) + (" …" if len(k.enum) > 8 else ""))
        if k.pattern:
            notes.append(f"pattern {k.pattern}")
        if k.minimum is not None or k.maximum is not None:
            notes.append(
                f"range {k.minimum if k.minimum is not None else ''}.."
                f"{k.maximum if k.maximum is not None else ''}"
            )
        if f.list:
            notes.append(f"up to {f.list.max_items} codes separated by {f.list.separator}")
        if f.check:
            notes.append(f"check {f.check}")
        rows.append(
            [f.name, f.type, "yes" if f.required else "", f.field_class.value, "; ".join(notes)]
        )
    table("Fields", ["Field", "Type", "Required", "Class", "Constraints"], rows)
    # "Applies when" is derived from the rule's condition (and, or, not in words) or, for a
    # reference, what it names, so what is shown is what the validator runs, whatever the
    # message says.
    table(
        "Rules",
        ["Rule", "Kind", "Applies when", "Says"],
        [
            [r.id, r.kind, r.applies(), r.message or r.sentence()]
            for r in spec.rules
        ],
    )
    if spec.primary_key:
        out.print(f"Unique within a file: {' + '.join(spec.primary_key)}")
