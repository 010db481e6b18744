"""Recipients and data sharing agreements (SHR-1, SHR-4, SHR-7, SHR-9, SHR-10, SHR-11).

An agreement names what a recipient may receive: the tier, each dataset's fields (data
minimisation), the purposes, the lawful bases, the dates, and what the recipient undertook.
The sharing policy (``governance.policy``) reads these terms; nothing here decides a release.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import AgreementAdded, AgreementRevoked, RecipientAdded
from carehaven.control.kinds import OrgKind
from carehaven.control.models import Agreement, Recipient, RecipientKind
from carehaven.errors import NotFoundError, UsageError
from carehaven.haven import Haven
from carehaven.pseudonymise.derive import columns
from carehaven.pseudonymise.extract import TIERS
from carehaven.specs import load_spec
from carehaven.specs.registry import available

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")
#: Lawful bases as the notices cite them: UK GDPR Art. 6(1)(a)-(f) and Art. 9(2)(a)-(j).
_BASIS = re.compile(r"^(6\.1\.[a-f]|9\.2\.[a-j])$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def add_recipient(
    haven: Haven, code: str, name: str, kind: str, *, actor: str, org_code: str | None = None
) -> Recipient:
    """Register a recipient. A local authority names the registered organisation it is
    (``org_code``), so that it can be held to its own rows (SHR-9)."""
    code = code.strip().upper()
    if not _CODE.match(code):
        raise UsageError(
            "A recipient code is 1-40 capital letters, digits or hyphens, e.g. NDEC."
        )
    kinds = [k.value for k in RecipientKind]
    if kind not in kinds:
        raise UsageError(f"Unknown recipient kind {kind!r}; use one of: {', '.join(kinds)}.")
    if org_code is not None:
        org = haven.organisation(org_code.strip())  # exit 5 when it is not registered
        if kind == RecipientKind.LOCAL_AUTHORITY and org.kind != OrgKind.LOCAL_AUTHORITY:
            raise UsageError(f"Organisation {org.code} is a {org.kind}, not a local authority.")
        org_code = org.code
    elif kind == RecipientKind.LOCAL_AUTHORITY:
        raise UsageError(
            "A local authority recipient names the organisation it is with --org (its LA "
            "code), so that it receives its own clients' rows only (SHR-9)."
        )
    with haven.transaction() as session:
        if session.get(Recipient, code) is not None:
            raise UsageError(f"Recipient {code} already exists.")
        row = Recipient(
            code=code, name=name.strip() or code, kind=kind, created_at=clock.now(),
            created_by=actor, org_code=org_code,
        )
        session.add(row)
        record(session, RecipientAdded(code=code, kind=kind, org=org_code or ""), actor=actor)
    return row


def recipient(session: Session, code: str) -> Recipient:
    row = session.get(Recipient, code.strip().upper())
    if row is None:
        raise NotFoundError(
            f"Recipient {code} is not registered; add it with 'carehaven recipients add'."
        )
    return row


def recipients(haven: Haven) -> list[Recipient]:
    with haven.sessions() as session:
        return list(session.scalars(select(Recipient).order_by(Recipient.code)))


@dataclass(frozen=True)
class Terms:
    """What an agreement is asked to record, before it is checked."""

    recipient: str
    tier: str
    datasets: Sequence[str]
    fields: Sequence[str]  # plain names (every dataset) or "dataset:field"; ["all"] = all
    purposes: Sequence[str]
    lawful_bases: Sequence[str]
    expires_on: date
    starts_on: date | None = None
    uk_only: bool = True
    onward_sharing: bool = False
    sub_licensing: bool = False
    no_reidentification_signed: bool = False
    #: Row scope (SHR-9): submitting organisations and periods covered; empty: every one.
    orgs: Sequence[str] = ()
    periods: Sequence[str] = ()
    #: The contract a processor works under (000 §5.1); personal data needs one (SHR-1).
    contract_ref: str | None = None


def _row_scope(haven: Haven, orgs: Sequence[str], periods: Sequence[str]) -> dict[str, list[str]]:
    """A row scope checked against what exists: registered organisations, real periods."""
    from carehaven.collection.period import parse_period

    chosen = [haven.organisation(o.strip()).code for o in orgs if o.strip()]
    labels = [parse_period(p.strip()).label for p in periods if p.strip()]
    return {"orgs": list(dict.fromkeys(chosen)), "periods": list(dict.fromkeys(labels))}


def _fields(tier: str, datasets: Sequence[str], asked: Sequence[str]) -> dict[str, list[str]]:
    """Each dataset's allowed fields, checked against the columns the tier holds."""
    known: dict[str, list[str]] = {}
    for name in datasets:
        spec = load_spec(name)
        known[name] = (
            [f.name for f in spec.fields]
            if tier == "personal"
            else [c.name for c in columns(spec, tier)]
        )
    if list(asked) == ["all"]:
        return known
    out: dict[str, list[str]] = {d: [] for d in datasets}
    for item in asked:
        dataset, _, field = item.rpartition(":")
        targets = [dataset] if dataset else list(datasets)
        if dataset and dataset not in known:
            raise UsageError(f"--fields names {dataset}, which is not in --datasets.")
        matched = False
        for d in targets:
            if field in known[d]:
                out[d].append(field)
                matched = True
        if not matched:
            raise UsageError(
                f"{field} is not a {tier} field of {' or '.join(targets)}; "
                "see 'carehaven spec show' for the fields."
            )
    empty = [d for d, fs in out.items() if not fs]
    if empty:
        raise UsageError(f"No field is allowed for {', '.join(empty)}; name some with --fields.")
    return out


def add_agreement(haven: Haven, terms: Terms, *, actor: str) -> Agreement:
    if terms.tier not in TIERS:
        raise UsageError(f"Unknown tier {terms.tier!r}; use one of: {', '.join(TIERS)}.")
    datasets = list(dict.fromkeys(terms.datasets))
    unknown = [d for d in datasets if d not in available()]
    if not datasets or unknown:
        raise UsageError(
            f"Unknown dataset {unknown[0]!r}." if unknown else "An agreement names its datasets."
        )
    purposes = list(dict.fromkeys(p.strip() for p in terms.purposes if p.strip()))
    if not purposes or not all(_PURPOSE.match(p) for p in purposes):
        raise UsageError("Name the purposes as short codes, e.g. --purposes research,statistics.")
    bases = list(dict.fromkeys(b.strip() for b in terms.lawful_bases if b.strip()))
    bad = [b for b in bases if not _BASIS.match(b)]
    if not bases or bad:
        raise UsageError(
            "Lawful bases are UK GDPR articles written like 6.1.e or 9.2.j"
            + (f"; {bad[0]!r} is not one." if bad else ".")
        )
    starts = terms.starts_on or clock.today()
    if terms.expires_on <= starts:
        raise UsageError("An agreement must expire after it starts.")
    allowed = _fields(terms.tier, datasets, terms.fields)
    scope = _row_scope(haven, terms.orgs, terms.periods)
    contract = (terms.contract_ref or "").strip() or None
    if contract is not None and (len(contract) > 60 or not contract.isprintable()):
        raise UsageError("A contract reference is 1-60 printable characters.")
    with haven.transaction() as session:
        who = recipient(session, terms.recipient)
        row = Agreement(
            recipient=who.code,
            tier=terms.tier,
            fields=allowed,
            purposes=purposes,
            lawful_bases=bases,
            starts_on=starts,
            expires_on=terms.expires_on,
            uk_only=terms.uk_only,
            onward_sharing=terms.onward_sharing,
            sub_licensing=terms.sub_licensing,
            no_reidentification_signed=terms.no_reidentification_signed,
            created_at=clock.now(),
            created_by=actor,
            row_scope=scope,
            contract_ref=contract,
        )
        session.add(row)
        session.flush()
        record(
            session,
            AgreementAdded(
                agreement=row.label,
                recipient=who.code,
                tier=terms.tier,
                datasets=",".join(datasets),
                purposes=",".join(purposes),
                lawful_bases=",".join(bases),
                expires_on=terms.expires_on.isoformat(),
                orgs=",".join(scope["orgs"]),
                periods=",".join(scope["periods"]),
                contract_ref=contract or "",
            ),
            actor=actor,
        )
    return row


def label_number(label: str, prefix: str) -> int:
    """The number of a label such as A-7 (or plain 7): ASCII digits, at most nine of them, so
    it always fits the databases' integer ids (a longer one names nothing that exists)."""
    text = label.strip().upper()
    if text.startswith(prefix + "-"):
        text = text[len(prefix) + 1 :]
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise UsageError(
            f"{label!r} is not a {prefix}-number such as {prefix}-7 (at most nine digits)."
        )
    return int(text)


def agreement(session: Session, label: str) -> Agreement:
    row = session.get(Agreement, label_number(label, "A"))
    if row is None:
        raise NotFoundError(f"Agreement {label} does not exist.")
    return row


def agreements(haven: Haven, recipient_code: str | None = None) -> list[Agreement]:
    with haven.sessions() as session:
        query = select(Agreement).order_by(Agreement.id)
        if recipient_code:
            query = query.where(Agreement.recipient == recipient_code.upper())
        return list(session.scalars(query))


def revoke_agreement(haven: Haven, label: str, *, actor: str) -> Agreement:
    with haven.transaction() as session:
        row = agreement(session, label)
        if row.revoked_on is not None:
            raise UsageError(f"Agreement {row.label} was already revoked on {row.revoked_on}.")
        row.revoked_on = clock.today()
        record(session, AgreementRevoked(row.label, row.revoked_on.isoformat()), actor=actor)
    return row


def state(row: Agreement, on: date) -> str:
    """active, not-started, expired or revoked on ``on``."""
    if row.revoked_on is not None and row.revoked_on <= on:
        return "revoked"
    if on < row.starts_on:
        return "not-started"
    if on > row.expires_on:
        return "expired"
    return "active"


__all__ = [
    "Terms",
    "add_agreement",
    "add_recipient",
    "agreement",
    "agreements",
    "label_number",
    "recipient",
    "recipients",
    "revoke_agreement",
    "state",
]
