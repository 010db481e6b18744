"""The record of processing activities (UK GDPR Article 30(1)), one activity per collection.

Built from the same sources as the privacy notices: the controller, contacts, purposes, lawful
bases and data subjects from ``collections.json``; the categories of personal data from the
specs' field classes; the categories of recipients from the sharing policy's permits and the
recipients whose agreements are in force; transfers to third countries from the agreements
(SHR-10); retention from the schedule. The security measures are a fixed list of what carehaven
itself does, each naming the module that does it (docs/security.md) and the commands through
which it happens.

It keeps the notices' rule (docs/design/0008, "Promises"): what it says the haven does names a
mechanism that exists. Retention rules nothing acts on yet are listed apart, as not yet
enforced, and the statements the notices leave out for want of a mechanism are notes for the
data protection officer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date

from pydantic import ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven.collection.report import neutralise
from carehaven.control.models import Agreement, Recipient
from carehaven.errors import UsageError
from carehaven.governance.collections import catalogue
from carehaven.governance.notice import markdown_escape as _md
from carehaven.governance.notice import recipients_in_force, rule_scopes, sections
from carehaven.governance.notice_model import Basis, ContactEntry, Purpose, RetentionEntry
from carehaven.governance.notice_promises import pending, problem
from carehaven.haven import Haven
from carehaven.public import Public
from carehaven.retention import rules_for
from carehaven.specs import FieldClass

REGISTER_FORMATS = ("json", "csv", "markdown")
#: The field classes of DATASETS.md, as a register names categories of personal data.
CLASS_LABELS: dict[str, str] = {
    FieldClass.DIRECT: "direct identifiers (D)",
    FieldClass.QUASI: "quasi-identifiers (Q)",
    FieldClass.SPECIAL: "special category data, UK GDPR Art. 9 (S)",
    FieldClass.OPERATIONAL: "operational data (O)",
}


class _Model(Public):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SecurityMeasure(_Model):
    measure: str
    module: str  # where carehaven does it; a test imports every one
    #: The commands through which it happens (``command:<path>``); a test checks they exist.
    enforced_by: tuple[str, ...]


#: Art. 30(1)(g): what carehaven does to protect the data. Only what exists (docs/security.md).
SECURITY_MEASURES: tuple[SecurityMeasure, ...] = (
    SecurityMeasure(
        measure="Raw submitted files are encrypted at rest with AES-256-GCM under a key derived "
        "(HKDF-SHA256) from the haven's master key, bound to the submission id.",
        module="carehaven.collection.landing",
        enforced_by=("command:submit",),
    ),
    SecurityMeasure(
        measure="The master key is held in an owner-only key file or given by the platform's "
        "key service; only key fingerprints are ever recorded.",
        module="carehaven.haven.keys",
        enforced_by=("command:init",),
    ),
    SecurityMeasure(
        measure="Every release and publication is built from the personal tier, where direct "
        "identifiers sit in their own table keyed by an internal person id that never leaves "
        "the haven.",
        module="carehaven.pseudonymise.personal",
        enforced_by=("command:release approve", "command:publish"),
    ),
    SecurityMeasure(
        measure="Each recipient gets its own keyed pseudonyms (HMAC-SHA256 under a per-recipient "
        "key derived from the master key), in key generations that can be rotated.",
        module="carehaven.pseudonymise.keys",
        enforced_by=("command:release approve", "command:keys rotate"),
    ),
    SecurityMeasure(
        measure="De-personalised data drops every direct identifier; anonymised data is "
        "generalised until it is k-anonymous and l-diverse.",
        module="carehaven.pseudonymise.anonymise",
        enforced_by=("command:release approve",),
    ),
    SecurityMeasure(
        measure="Every extract is scanned for identifiers, person ids and other recipients' "
        "pseudonyms before it is written; a hit stops it.",
        module="carehaven.pseudonymise.scan",
        enforced_by=("command:release approve", "command:scan"),
    ),
    SecurityMeasure(
        measure="Published statistics hide small counts and the further cells needed to protect "
        "them, and pass an intruder check before they are written.",
        module="carehaven.publish.check",
        enforced_by=("command:publish", "command:disclosure check"),
    ),
    SecurityMeasure(
        measure="Every release is decided by the sharing policy against the recipient's "
        "agreement and approved by a person other than the one who proposed it.",
        module="carehaven.governance.release",
        enforced_by=("command:release propose", "command:release approve"),
    ),
    SecurityMeasure(
        measure="Once people are registered as users, each acts through roles (data team, IPS "
        "team, analyst, auditor, submitter, local-authority viewer) allowing only what the role "
        "needs, for one organisation where that applies; refusals are audited. Until then only "
        "the owner of the haven's folder can use it.",
        module="carehaven.access.users",
        enforced_by=("command:users grant", "command:access review"),
    ),
    SecurityMeasure(
        measure="An append-only, hash-chained audit log records every change in the same "
        "transaction as the change; the database refuses updates and deletes, and the "
        "verifier names the first entry that was tampered with.",
        module="carehaven.audit.verification",
        enforced_by=("command:audit verify",),
    ),
    SecurityMeasure(
        measure="Identifier values never reach logs, error messages, audit entries or "
        "validation reports: reports show an identifier only as its shape.",
        module="carehaven.collection.masking",
        enforced_by=("command:submit", "command:report"),
    ),
)


def unenforced(
    measures: Iterable[SecurityMeasure] = SECURITY_MEASURES,
) -> list[tuple[SecurityMeasure, tuple[str, ...]]]:
    """The security measures with no mechanism or one that does not exist, and why."""
    out = []
    for m in measures:
        found = tuple(p for p in map(problem, m.enforced_by) if p) or (
            () if m.enforced_by else ("it names no mechanism",)
        )
        if found:
            out.append((m, found))
    return out


class DataCategory(_Model):
    dataset: str
    field_class: str
    label: str
    fields: tuple[str, ...]


class RecipientCategory(_Model):
    kind: str
    tier: str
    organisations: tuple[str, ...]
    datasets: tuple[str, ...]
    purposes: tuple[str, ...]


class Activity(_Model):
    collection: str
    name: str
    controller: str
    processors: tuple[str, ...]
    contacts: tuple[ContactEntry, ...]
    purposes: tuple[Purpose, ...]
    lawful_bases: tuple[Basis, ...]
    data_subjects: tuple[str, ...]
    personal_data: tuple[DataCategory, ...]
    special_category_data: bool
    #: The permits of the sharing policy that concern the collection: who may receive what.
    recipient_rules: tuple[str, ...]
    recipients: tuple[RecipientCategory, ...]
    third_country_transfers: tuple[str, ...]
    transfers: str
    #: The retention rules the haven acts on.
    retention: tuple[RetentionEntry, ...]
    #: The schedule's rules for the collection that nothing acts on yet: envisaged time limits
    #: (Art. 30(1)(f)), not something the haven does.
    retention_not_yet_enforced: tuple[RetentionEntry, ...]
    security_measures: tuple[str, ...]
    #: For the data protection officer: agreements in force that the policy refuses, and
    #: agreements whose lawful bases the collection's notice does not state.
    notes: tuple[str, ...] = ()


class Register(_Model):
    """The register's ``Public`` model: what ``carehaven register --format json`` prints and
    ``/api/register`` returns, with the same keys (a contact's ``for``, by its alias)."""

    on: date
    activities: tuple[Activity, ...]

    def as_json(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


def register(haven: Haven, on: date) -> Register:
    """The record of processing activities as the haven stands on ``on``."""
    activities = []
    with haven.sessions() as session:
        for code, collection in catalogue().collections.items():
            recipients, refused = recipients_in_force(session, collection.datasets, on)
            body = sections(collection, recipients)
            transfers, odd_bases = _agreement_checks(session, collection.datasets,
                                                     {b.code for b in collection.lawful_bases}, on)
            categories = tuple(
                DataCategory(
                    dataset=d.name, field_class=g.field_class,
                    label=CLASS_LABELS[FieldClass(g.field_class)],
                    fields=tuple(f.name for f in g.fields),
                )
                for d in body.datasets
                for g in d.classes
            )
            permits = tuple(
                rule.text for rule, _ in rule_scopes(collection.datasets)
                if rule.effect == "permit"
            )
            activities.append(
                Activity(
                    collection=code,
                    name=collection.title,
                    controller=collection.controller.name,
                    processors=tuple(p.name for p in collection.processors),
                    contacts=body.contacts,
                    purposes=body.purposes,
                    lawful_bases=body.lawful_bases,
                    data_subjects=body.data_subjects,
                    personal_data=categories,
                    special_category_data=any(
                        c.field_class == FieldClass.SPECIAL for c in categories
                    ),
                    recipient_rules=permits,
                    recipients=tuple(
                        RecipientCategory(
                            kind=r.kind, tier=r.tier, organisations=(r.name,),
                            datasets=r.datasets, purposes=r.purposes,
                        )
                        for r in body.recipients
                    ),
                    third_country_transfers=tuple(transfers),
                    transfers=(
                        "None. Every agreement in force keeps the data in the UK, and the sharing "
                        "policy refuses any share with a recipient outside it (SHR-10)."
                        if not transfers
                        else "Agreements in force allow data outside the UK; see the list."
                    ),
                    retention=body.retention,
                    retention_not_yet_enforced=_not_yet_enforced(collection.datasets),
                    security_measures=tuple(m.measure for m in SECURITY_MEASURES),
                    notes=tuple(refused + odd_bases + _left_out(code)),
                )
            )
    return Register(on=on, activities=tuple(activities))


def _not_yet_enforced(datasets: Sequence[str]) -> tuple[RetentionEntry, ...]:
    return tuple(
        RetentionEntry(
            id=r.id,
            requirement=r.requirement,
            record_type=r.record_type,
            period_years=r.period_years,
            from_event=r.from_event,
            text=r.text,
            enforced_by=r.enforced_by,  # what it waits for
        )
        for r in rules_for(datasets)
        if r.kind != "promise"
    )


def _left_out(collection: str) -> list[str]:
    """A note for each statement of the collection's notice left out for want of a mechanism."""
    return [
        f"The notice leaves out \"{c.text}\" ({c.where}): nothing in carehaven enforces it "
        f"yet; it returns when {', '.join(m.partition(':')[2] for m in c.enforced_by)} exists."
        for c in pending(collection)
        if not c.where.startswith("retention rule")  # listed as retention not yet enforced
    ]


def _agreement_checks(
    session: Session, datasets: Sequence[str], bases: set[str], on: date
) -> tuple[list[str], list[str]]:
    """Agreements in force for ``datasets`` that allow data outside the UK, and sentences on
    agreements that cite a lawful basis the collection's notice does not state."""
    from carehaven.governance.sharing import state

    transfers: list[str] = []
    odd: list[str] = []
    query = select(Agreement, Recipient).join(Recipient, Agreement.recipient == Recipient.code)
    for row, who in session.execute(query.order_by(Agreement.id)):
        if not any(d in row.fields for d in datasets) or state(row, on) != "active":
            continue
        if not row.uk_only:
            transfers.append(f"{row.label}: {who.name} ({who.code})")
        extra = sorted(set(row.lawful_bases) - bases)
        if extra:
            odd.append(
                f"Agreement {row.label} with {who.code} cites {', '.join(extra)}, which the "
                "notice for this collection does not state."
            )
    return transfers, odd


# ---- exports ------------------------------------------------------------------------------------


def as_json(reg: Register) -> str:
    return json.dumps(reg.as_json(), indent=2, ensure_ascii=False)


_CSV_COLUMNS = (
    "collection", "name", "controller", "processors", "contacts", "purposes", "lawful_bases",
    "data_subjects", "personal_data", "special_category_data", "recipient_rules", "recipients",
    "third_country_transfers", "retention", "retention_not_yet_enforced", "security_measures",
    "notes",
)


def as_csv(reg: Register) -> str:
    """One row per activity; a cell with several items separates them with ' | '. Cells a
    spreadsheet would run as a formula are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for a in reg.activities:
        cells = {
            "collection": a.collection,
            "name": a.name,
            "controller": a.controller,
            "processors": _join(a.processors),
            "contacts": _join(_contact(c) for c in a.contacts),
            "purposes": _join(f"{p.code}: {p.text}" for p in a.purposes),
            "lawful_bases": _join(f"{b.article}: {b.text}" for b in a.lawful_bases),
            "data_subjects": _join(a.data_subjects),
            "personal_data": _join(
                f"{c.dataset} {c.label}: {', '.join(c.fields)}" for c in a.personal_data
            ),
            "special_category_data": "yes" if a.special_category_data else "no",
            "recipient_rules": _join(a.recipient_rules),
            "recipients": _join(_recipient(r) for r in a.recipients),
            "third_country_transfers": _join(a.third_country_transfers) or "none",
            "retention": _join(r.text for r in a.retention) or "none acted on yet",
            "retention_not_yet_enforced": _join(r.text for r in a.retention_not_yet_enforced),
            "security_measures": _join(a.security_measures),
            "notes": _join(a.notes),
        }
        writer.writerow([neutralise(cells[c]) for c in _CSV_COLUMNS])
    return out.getvalue()


def _join(items: Iterable[object]) -> str:
    return " | ".join(str(i) for i in items)


def _contact(c: ContactEntry) -> str:
    how = c.email or c.web or ", ".join(c.address)
    return f"{c.name} ({how})" if how else c.name


def _recipient(r: RecipientCategory) -> str:
    return (
        f"{', '.join(r.organisations)} ({r.kind}, {r.tier}): {', '.join(r.datasets)} for "
        f"{', '.join(r.purposes)}"
    )


def as_markdown(reg: Register) -> str:
    lines = [
        "# Record of processing activities",
        "",
        f"UK GDPR Article 30(1), as the haven stands on {reg.on.isoformat()}.",
    ]
    for a in reg.activities:
        lines += ["", f"## {_md(a.name)} (`{a.collection}`)", ""]
        lines += [f"- **Controller**: {_md(a.controller)}"]
        if a.processors:
            lines += [f"- **Processors**: {_md('; '.join(a.processors))}"]
        lines += ["", "### Contacts", ""] + [f"- {_md(_contact(c))}" for c in a.contacts]
        lines += ["", "### Purposes", ""] + [
            f"- `{p.code}`: {_md(p.text)}" for p in a.purposes
        ]
        lines += ["", "### Lawful bases", ""] + [
            f"- {_md(b.article)}: {_md(b.text)}" for b in a.lawful_bases
        ]
        lines += ["", "### Categories of data subjects", ""] + [
            f"- {_md(s)}" for s in a.data_subjects
        ]
        lines += ["", "### Categories of personal data", ""] + [
            f"- `{c.dataset}`, {_md(c.label)}: {', '.join(f'`{f}`' for f in c.fields)}"
            for c in a.personal_data
        ]
        lines += ["", "### Categories of recipients", "", "What the sharing policy permits:", ""]
        lines += [f"- {_md(t)}" for t in a.recipient_rules]
        lines += ["", "Recipients with an agreement in force:", ""]
        lines += [f"- {_md(_recipient(r))}" for r in a.recipients] or ["- none"]
        lines += ["", "### Transfers to third countries", "", _md(a.transfers)]
        lines += [f"- {_md(t)}" for t in a.third_country_transfers]
        lines += ["", "### Retention", ""]
        lines += [f"- {_md(r.text)}" for r in a.retention] or ["- none acted on yet"]
        if a.retention_not_yet_enforced:
            lines += ["", "Envisaged by the retention schedule, not yet acted on by carehaven:", ""]
            lines += [f"- {_md(r.text)}" for r in a.retention_not_yet_enforced]
        lines += ["", "### Security measures", ""] + [f"- {_md(m)}" for m in a.security_measures]
        if a.notes:
            lines += ["", "### Notes for the data protection officer", ""]
            lines += [f"- {_md(n)}" for n in a.notes]
    return "\n".join(lines) + "\n"


def export(reg: Register, format: str) -> str:
    if format == "json":
        return as_json(reg) + "\n"
    if format == "csv":
        return as_csv(reg)
    if format == "markdown":
        return as_markdown(reg)
    raise UsageError(
        f"Unknown register format {format!r}; use one of: {', '.join(REGISTER_FORMATS)}."
    )


__all__ = [
    "REGISTER_FORMATS",
    "SECURITY_MEASURES",
    "Activity",
    "Register",
    "as_csv",
    "as_json",
    "as_markdown",
    "export",
    "register",
    "unenforced",
]
