"""Privacy notices rendered from the rules the haven enforces (CON-3; docs/design/0008).

``content`` builds a notice's sections as data from what the system does: the datasets' fields
and their classes (specs), the sharing policy's rules (``governance.policy``), the recipients
whose agreements are in force and that the policy lets receive data, the retention schedule,
and what only the seed notices can say (``collections.json``: controller, purposes, lawful
bases, consent, rights, contacts). ``render`` turns the sections into HTML, Markdown or text.
``publish`` stores a version's sections with a change note generated from the difference with
the previous version, and audits it in the same transaction.

A notice promises only what runs (docs/design/0008, "Promises"): every statement is information
or a promise naming the mechanisms that enforce it; a statement whose mechanism does not exist
yet is left out, and ``publish`` refuses a notice with a promise nothing enforces
(``notice_promises.unenforced``).

Which policy rules a notice shows, and under which categories of data, is asked of the policy
itself: every rule that decides some share of one of the collection's datasets is shown, under
the tiers it decided (``rule_scopes``). No sharing sentence is written here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from carehaven import clock
from carehaven.audit import record
from carehaven.audit.events import NoticePublished
from carehaven.control.models import (
    Agreement,
    NoticeDocument,
    NoticeVersionRecord,
    Recipient,
)
from carehaven.errors import ConfigurationError, NotFoundError, UsageError
from carehaven.governance.collections import (
    TIER_ORDER,
    Collection,
    Required,
    catalogue,
    load_collection,
)
from carehaven.governance.notice_changes import change_note
from carehaven.governance.notice_model import (
    _CLASS_ORDER,
    CLASS_LABELS,
    Basis,
    ClassGroup,
    ContactEntry,
    DatasetEntry,
    FieldEntry,
    NoticeContent,
    Processor,
    PublishedVersion,
    Purpose,
    RecipientEntry,
    RetentionEntry,
    RuleEntry,
    RuleGroup,
    Sections,
    Statement,
    TierDefinition,
    VersionNote,
    WhoWeAre,
)
from carehaven.governance.notice_promises import Unenforced, pending, unenforced
from carehaven.governance.policy import (
    AgreementTerms,
    Reason,
    Rule,
    ShareRequest,
    decide,
    rules,
)
from carehaven.governance.policy.engine import partners
from carehaven.governance.policy.model import RECIPIENT_KINDS, RowScope
from carehaven.haven import Haven
from carehaven.retention import rules_for
from carehaven.specs import load_spec

Format = Literal["html", "markdown", "text"]
FORMATS: tuple[Format, ...] = ("html", "markdown", "text")

_VERSION = re.compile(r"^\d{1,4}(\.\d{1,4}){0,3}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---- which policy rules concern which tiers of which datasets -----------------------------------


def _probe_agreements(
    tier: str, dataset: str, fields: Sequence[str], on: date
) -> Iterator[AgreementTerms | None]:
    """No agreement, one that meets every term, and each term broken in turn."""
    good = AgreementTerms(
        id="A-probe",
        tier=tier,
        fields={dataset: list(fields)},
        purposes=["probe", *sorted({p for n in partners() for p in n.purposes})],
        lawful_bases=["6.1.e", "9.2.h", "9.2.i", "9.2.j"],
        starts_on=on - timedelta(days=1),
        expires_on=on + timedelta(days=1),
        revoked_on=None,
        uk_only=True,
        onward_sharing=False,
        sub_licensing=True,
        no_reidentification_signed=True,
        contract_ref="C-probe",
    )
    yield None
    yield good
    yield replace(good, contract_ref=None)
    yield replace(good, row_scope=RowScope(orgs=(PROBE_ORG,)))
    lower = TIER_ORDER[TIER_ORDER.index(tier) + 1 :]
    if lower:
        yield replace(good, tier=lower[0])
    yield replace(good, fields={dataset: []})
    yield replace(good, fields={"another-dataset": list(fields)})
    yield replace(good, purposes=["another-purpose"])
    yield replace(good, lawful_bases=["9.2.h", "9.2.i", "9.2.j"])
    yield replace(good, lawful_bases=["6.1.e"])
    yield replace(good, starts_on=on + timedelta(days=1), expires_on=on + timedelta(days=2))
    yield replace(good, starts_on=on - timedelta(days=2), expires_on=on - timedelta(days=1))
    yield replace(good, revoked_on=on)
    yield replace(good, uk_only=False)
    yield replace(good, onward_sharing=True)
    yield replace(good, sub_licensing=False)
    yield replace(good, no_reidentification_signed=False)


def _rule_ids(reasons: Iterable[Reason]) -> list[str]:
    """The ids of the policy rules behind a decision's reasons (a reason carries its text)."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for rule in rules():
        by_reason.setdefault((rule.requirement, rule.text), []).append(rule.id)
    return [i for r in reasons for i in by_reason.get((r.requirement, r.text), ())]


#: The organisation a probed local authority is, and whose rows it asks for.
PROBE_ORG = "E09000000"


def _probe_recipients(
    kind: str, dataset: str, fields: Sequence[str]
) -> Iterator[tuple[str, str, RowScope, Sequence[str]]]:
    """(recipient code, purpose, rows, fields) to probe for a kind: any recipient with every
    row and field; a named partner (HMRC) for its own purpose, with every field and with its
    own; a local authority asking its own rows."""
    yield "PROBE", "probe", RowScope(), fields
    for partner in partners():
        if partner.kind == kind:
            own = [f.split("/", 1)[1] for f in sorted(partner.fields)
                   if f.startswith(f"{dataset}/")]
            for purpose in ("probe", *sorted(partner.purposes)):
                yield partner.recipient, purpose, RowScope(), fields
                if own:
                    yield partner.recipient, purpose, RowScope(), own
    if kind == "local-authority":
        yield "PROBE", "probe", RowScope(orgs=(PROBE_ORG,)), fields


@cache
def _decided_tiers(dataset: str) -> dict[str, frozenset[str]]:
    """Rule id -> the tiers of ``dataset`` in which the rule decided some probe request."""
    fields = load_spec(dataset).field_names
    on = date(2000, 6, 15)
    found: dict[str, set[str]] = {}
    for tier in TIER_ORDER:
        for kind in RECIPIENT_KINDS:
            for code, purpose, rows, asked in _probe_recipients(kind, dataset, fields):
                for consent in (False, True):
                    for terms in _probe_agreements(tier, dataset, asked, on):
                        request = ShareRequest(
                            recipient=code,
                            recipient_kind=kind,
                            tier=tier,
                            dataset=dataset,
                            fields=asked,
                            purpose=purpose,
                            on=on,
                            agreement=terms,
                            consent=consent,
                            rows=rows,
                            recipient_org=PROBE_ORG if kind == "local-authority" else None,
                        )
                        for rule_id in _rule_ids(decide(request).reasons):
                            found.setdefault(rule_id, set()).add(tier)
    return {k: frozenset(v) for k, v in found.items()}


def rule_scopes(datasets: Iterable[str]) -> list[tuple[Rule, tuple[str, ...]]]:
    """The policy rules that decide some share of any of ``datasets``, each with the tiers it
    decides, in policy order. (A test checks that every rule of the policy is reached by the
    probes of some collection, so a rule the probes cannot reach is noticed, not dropped.)"""
    decided = [_decided_tiers(d) for d in datasets]
    out: list[tuple[Rule, tuple[str, ...]]] = []
    for rule in rules():
        tiers: set[str] = set().union(*(d.get(rule.id, frozenset()) for d in decided))
        if tiers:
            out.append((rule, tuple(t for t in TIER_ORDER if t in tiers)))
    return out


def _tiers_label(tiers: Sequence[str]) -> str:
    """A group's heading: "Personal data", "Personal and de-personalised data", ..."""
    if tuple(tiers) == TIER_ORDER:
        return "All data, whatever its category"
    names = list(tiers)
    joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{joined[0].upper()}{joined[1:]} data"


def _tier_definitions() -> tuple[TierDefinition, ...]:
    return tuple(
        TierDefinition(tier=t, label=d.label, text=d.text, kind=d.kind, enforced_by=d.enforced_by)
        for t, d in catalogue().tiers.items()
        if d.kind != "pending"
    )


def _sharing(datasets: Sequence[str]) -> tuple[RuleGroup, ...]:
    groups: dict[tuple[str, ...], list[RuleEntry]] = {}
    for rule, tiers in rule_scopes(datasets):
        groups.setdefault(tiers, []).append(
            RuleEntry(id=rule.id, requirement=rule.requirement, text=rule.text, effect=rule.effect)
        )
    order = sorted(groups, key=lambda ts: (TIER_ORDER.index(ts[0]), len(ts)))
    return tuple(
        RuleGroup(tiers=ts, label=_tiers_label(ts), rules=tuple(groups[ts])) for ts in order
    )


# ---- recipients in force -------------------------------------------------------------------------


def _terms(row: Agreement) -> AgreementTerms:
    from carehaven.governance.release import terms_of

    return terms_of(row)


def _needs_consent(who: Recipient, dataset: str) -> bool:
    """As a release asks it: consent holds for everyone only for the named partner, where the
    dataset records it."""
    from carehaven.governance.release import consent_for

    return consent_for(who, dataset)


def release_scope(row: Agreement, who: Recipient) -> RowScope:
    from carehaven.governance.release import release_scope as scope

    return scope(row, who)


def recipients_in_force(
    session: Session, datasets: Sequence[str], on: date
) -> tuple[list[RecipientEntry], list[str]]:
    """Recipients whose agreement is in force on ``on`` for any of ``datasets``, one entry per
    recipient and tier, with the datasets and purposes the policy would let them receive and the
    permits that let them; and, for the data team, a sentence for each agreement in force that
    the policy refuses."""
    from carehaven.governance.sharing import state

    merged: dict[tuple[str, str], tuple[Recipient, set[str], set[str], set[str]]] = {}
    refused: list[str] = []
    query = select(Agreement, Recipient).join(Recipient, Agreement.recipient == Recipient.code)
    for row, who in session.execute(query.order_by(Agreement.id)):
        covered = [d for d in datasets if d in row.fields]
        if not covered or state(row, on) != "active":
            continue
        terms = _terms(row)
        allowed: list[tuple[str, str]] = []
        permits: set[str] = set()
        why = ""
        for dataset in covered:
            for purpose in row.purposes:
                decision = decide(
                    ShareRequest(
                        recipient=who.code,
                        recipient_kind=who.kind,
                        tier=row.tier,
                        dataset=dataset,
                        fields=tuple(row.fields[dataset]),
                        purpose=purpose,
                        on=on,
                        agreement=terms,
                        consent=_needs_consent(who, dataset),
                        rows=release_scope(row, who),
                        recipient_org=who.org_code,
                    )
                )
                if decision.allow:
                    allowed.append((dataset, purpose))
                    permits.update(_rule_ids(decision.reasons))
                elif not why and decision.reasons:
                    why = decision.reasons[0].text
        if not allowed:
            refused.append(
                f"Agreement {row.label} with {who.code} is in force but the sharing policy "
                f"refuses every share under it ({why or 'no rule permits it'}); the notice "
                "does not list it."
            )
            continue
        entry = merged.setdefault((who.code, row.tier), (who, set(), set(), set()))
        entry[1].update(d for d, _ in allowed)
        entry[2].update(p for _, p in allowed)
        entry[3].update(permits)
    out = [
        RecipientEntry(
            code=who.code,
            name=_clean(who.name),
            kind=who.kind,
            tier=tier,
            datasets=tuple(d for d in datasets if d in ds),
            purposes=tuple(sorted(ps)),
            enforced_by=tuple(f"policy:{i}" for i in sorted(ids)),
        )
        for (_, tier), (who, ds, ps, ids) in merged.items()
    ]
    out.sort(key=lambda r: (TIER_ORDER.index(r.tier), r.name.lower(), r.code))
    return out, refused


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


# ---- content ------------------------------------------------------------------------------------


def _dataset(name: str) -> DatasetEntry:
    spec = load_spec(name)
    wording = catalogue().wording
    groups = []
    for cls in _CLASS_ORDER:
        fields = tuple(
            FieldEntry(
                name=f.name, description=f.description, replaced_by=tuple(d.name for d in f.derive)
            )
            for f in spec.fields
            if f.field_class == cls
        )
        if fields:
            said = wording[f"class-{cls.value}"]
            groups.append(
                ClassGroup(
                    field_class=cls.value,
                    label=CLASS_LABELS[cls],
                    explanation=said.text,
                    fields=fields,
                    kind=said.kind,
                    enforced_by=said.enforced_by,
                )
            )
    first = spec.description.split(". ")[0].rstrip(".") + "." if spec.description else ""
    return DatasetEntry(
        name=spec.name,
        title=spec.title,
        version=spec.version,
        description=first,
        classes=tuple(groups),
    )


def sections(collection: Collection, recipients: Sequence[RecipientEntry]) -> Sections:
    """A collection's notice sections: the seed notices' statements, the specs' fields, the
    policy's rules, the retention rules that are acted on, and ``recipients`` (see
    ``recipients_in_force``). Statements still pending their mechanism are left out."""
    return Sections(
        who_we_are=WhoWeAre(
            summary=collection.summary.text,
            controller=collection.controller.name,
            controller_statement=collection.controller.statement,
            processors=tuple(Processor(name=p.name, role=p.role) for p in collection.processors),
        ),
        data_subjects=tuple(s.text for s in collection.data_subjects),
        sources=tuple(s.text for s in collection.sources),
        datasets=tuple(_dataset(d) for d in collection.datasets),
        purposes=tuple(Purpose(code=p.code, text=p.text) for p in collection.purposes),
        lawful_bases=tuple(
            Basis(code=b.code, article=b.article, text=b.text) for b in collection.lawful_bases
        ),
        tiers=_tier_definitions(),
        sharing=_sharing(collection.datasets),
        recipients=tuple(recipients),
        retention=tuple(
            RetentionEntry(
                id=r.id,
                requirement=r.requirement,
                record_type=r.record_type,
                period_years=r.period_years,
                from_event=r.from_event,
                text=r.text,
                enforced_by=(f"retention:{r.id}",),
            )
            for r in rules_for(collection.datasets)
            if r.kind == "promise"
        ),
        consent=_statements(collection.consent),
        rights=_statements(collection.rights),
        contacts=tuple(
            ContactEntry(
                role=c.role, name=c.name, for_=c.for_, email=c.email, web=c.web, address=c.address
            )
            for c in collection.contacts
        ),
    )


def _statements(items: Iterable[Required]) -> tuple[Statement, ...]:
    return tuple(
        Statement(requirement=s.requirement, text=s.text, kind=s.kind, enforced_by=s.enforced_by)
        for s in items
        if s.kind != "pending"
    )


def content(haven: Haven, collection: str, on: date) -> NoticeContent:
    """The notice for ``collection`` as the rules, recipients and agreements stand on ``on``.
    It carries the number of the latest version published by ``on`` if it says the same, and
    is a draft otherwise."""
    found = load_collection(collection)
    with haven.sessions() as session:
        recipients, warnings = recipients_in_force(session, found.datasets, on)
        body = sections(found, recipients)
        history = _history(session, collection, on=on)
        latest = _latest_document(session, collection, on)
    same = latest is not None and _stored_sections(latest) == body
    warnings += [f"Promise without a working mechanism: {u.sentence()}." for u in unenforced(body)]
    return NoticeContent(
        collection=collection,
        title=found.title,
        on=on,
        version=latest.version if same and latest else None,
        published_on=latest.published_on if same and latest else None,
        sections=body,
        history=history,
        warnings=tuple(warnings),
    )


def stored(haven: Haven, collection: str, version: str) -> NoticeContent:
    """A published version exactly as it was published."""
    found = load_collection(collection)
    with haven.sessions() as session:
        doc = _document(session, collection, version)
        history = _history(session, collection, upto=doc.version)
    return NoticeContent(
        collection=collection,
        title=str(doc.content.get("title", found.title)),
        on=doc.published_on,
        version=doc.version,
        published_on=doc.published_on,
        sections=_stored_sections(doc),
        history=history,
    )


# ---- versions -----------------------------------------------------------------------------------


def _key(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _documents(session: Session, collection: str) -> list[NoticeDocument]:
    docs = session.scalars(select(NoticeDocument).where(NoticeDocument.collection == collection))
    return sorted(docs, key=lambda d: _key(d.version))


def _hand_written(session: Session, collection: str) -> list[NoticeVersionRecord]:
    rendered = {d.version for d in _documents(session, collection)}
    rows = session.scalars(
        select(NoticeVersionRecord).where(NoticeVersionRecord.notice == collection)
    )
    return sorted((r for r in rows if r.version not in rendered), key=lambda r: _key(r.version))


def _latest_document(session: Session, collection: str, on: date) -> NoticeDocument | None:
    docs = [d for d in _documents(session, collection) if d.published_on <= on]
    return docs[-1] if docs else None


def _document(session: Session, collection: str, version: str) -> NoticeDocument:
    for doc in _documents(session, collection):
        if doc.version == version:
            return doc
    hand = [r.version for r in _hand_written(session, collection)]
    if version in hand:
        raise NotFoundError(
            f"Version {version} of the {collection} notice was written by hand before carehaven "
            "rendered notices, so there is no content to show or compare."
        )
    known = [d.version for d in _documents(session, collection)]
    raise NotFoundError(
        f"Version {version} of the {collection} notice has not been published. "
        + (f"Published versions: {', '.join(known)}." if known else "None has been published.")
    )


def _stored_sections(doc: NoticeDocument) -> Sections:
    return Sections.model_validate(doc.content["sections"])


def _note(text: str) -> tuple[str, ...]:
    return tuple(line for line in text.splitlines() if line.strip())


def _all_versions(session: Session, collection: str) -> list[PublishedVersion]:
    out = [
        PublishedVersion(
            collection=collection,
            version=r.version,
            published_on=r.published_on,
            change_note=_note(r.change_note),
            rendered=False,
            sha256=None,
            created_by=None,
            created_at=None,
        )
        for r in _hand_written(session, collection)
    ]
    out += [
        PublishedVersion(
            collection=collection,
            version=d.version,
            published_on=d.published_on,
            change_note=_note(d.change_note),
            rendered=True,
            sha256=d.sha256,
            created_by=d.created_by,
            created_at=d.created_at,
        )
        for d in _documents(session, collection)
    ]
    return sorted(out, key=lambda v: _key(v.version))


def _history(
    session: Session, collection: str, *, on: date | None = None, upto: str | None = None
) -> tuple[VersionNote, ...]:
    chosen = [
        v
        for v in _all_versions(session, collection)
        if (on is None or v.published_on <= on) and (upto is None or _key(v.version) <= _key(upto))
    ]
    return tuple(
        VersionNote(
            version=v.version,
            published_on=v.published_on,
            change_note=v.change_note,
            rendered=v.rendered,
        )
        for v in reversed(chosen)
    )


def versions(haven: Haven, collection: str | None = None) -> list[PublishedVersion]:
    """Every published version of one collection's notice (or of every collection's), oldest
    first; versions written by hand before carehaven rendered notices have ``rendered`` False."""
    chosen = [load_collection(collection).code] if collection else list(catalogue().collections)
    with haven.sessions() as session:
        return [v for c in chosen for v in _all_versions(session, c)]


def publish(haven: Haven, collection: str, version: str, on: date, *, actor: str) -> NoticeDocument:
    """Publish ``version`` of the collection's notice as the rules stand on ``on``: the sections
    are stored with a generated change note, the version is added to the notice versions a
    consent may cite, and ``NoticePublished`` is audited, all in one transaction."""
    found = load_collection(collection)
    version = version.strip()
    if not _VERSION.match(version):
        raise UsageError(
            f"{version!r} is not a notice version; write it as numbers with dots, such as 1.1."
        )
    with haven.transaction() as session:
        _check_order(session, collection, version, on)
        body = sections(found, recipients_in_force(session, found.datasets, on)[0])
        _refuse_unenforced(collection, unenforced(body))
        docs = _documents(session, collection)
        previous = docs[-1] if docs else None
        if previous is not None:
            note = change_note(_stored_sections(previous), body) or [
                f"No change to what the notice says since version {previous.version}."
            ]
        else:
            earlier = _hand_written(session, collection)
            note = ["First version rendered from the rules."] + (
                [
                    f"Versions {earlier[0].version} to {earlier[-1].version} were written by hand "
                    "and are not compared."
                ]
                if earlier
                else []
            )
        stored_content: dict[str, object] = {
            "collection": collection,
            "title": found.title,
            "version": version,
            "published_on": on.isoformat(),
            "sections": body.model_dump(mode="json", by_alias=True),
        }
        digest = hashlib.sha256(_canonical(stored_content).encode()).hexdigest()
        doc = NoticeDocument(
            collection=collection,
            version=version,
            published_on=on,
            content=stored_content,
            change_note="\n".join(note),
            sha256=digest,
            created_at=clock.now(),
            created_by=actor,
        )
        session.add(doc)
        session.add(
            NoticeVersionRecord(
                notice=collection,
                version=version,
                published_on=on,
                change_note="\n".join(note),
                date_stated=True,
            )
        )
        record(
            session,
            NoticePublished(
                collection=collection,
                version=version,
                published_on=on.isoformat(),
                sha256=digest,
            ),
            actor=actor,
        )
    return doc


def _refuse_unenforced(collection: str, bad: Sequence[Unenforced]) -> None:
    """A notice that would promise what nothing enforces is not published (docs/design/0008)."""
    if bad:
        raise ConfigurationError(
            f"The {collection} notice would promise what nothing enforces, so it was not "
            f"published: {' | '.join(u.sentence() for u in bad)}. Give each promise a mechanism "
            "that exists, or mark it pending, in collections.json or the retention schedule."
        )


def _check_order(session: Session, collection: str, version: str, on: date) -> None:
    known = _all_versions(session, collection)
    for v in known:
        if _key(v.version) == _key(version):
            raise UsageError(
                f"Version {v.version} of the {collection} notice was already published on "
                f"{v.published_on.isoformat()}; publish a higher version."
            )
    if known:
        latest = known[-1]
        if _key(version) < _key(latest.version):
            raise UsageError(
                f"Version {version} is lower than {latest.version}, the latest version of the "
                f"{collection} notice; versions must increase."
            )
        newest = max(v.published_on for v in known)
        if on < newest:
            raise UsageError(
                f"A version of the {collection} notice was published on {newest.isoformat()}; "
                f"a later version cannot be published on an earlier day ({on.isoformat()})."
            )


def diff(haven: Haven, collection: str, v1: str, v2: str) -> list[str]:
    """The change note from stored version ``v1`` to stored version ``v2``."""
    load_collection(collection)
    with haven.sessions() as session:
        old, new = _document(session, collection, v1), _document(session, collection, v2)
        return change_note(_stored_sections(old), _stored_sections(new))


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ---- rendering -------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!&])")


def markdown_escape(value: object) -> str:
    """Markdown text: every character Markdown or HTML would act on is escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _clean(str(value)))


def _code(value: object) -> str:
    return "`" + _clean(str(value)).replace("`", "'") + "`"


def _long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("carehaven.governance", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_escape
    env.filters["code"] = _code
    env.filters["long_date"] = _long_date
    env.filters["clean"] = _clean
    return env


_TEMPLATES: dict[str, str] = {
    "html": "notice.html",
    "markdown": "notice.md",
    "text": "notice.txt",
}


def render(notice: NoticeContent, format: str) -> str:
    """The notice as an accessible HTML page, Markdown or plain text."""
    if format not in _TEMPLATES:
        raise UsageError(f"Unknown notice format {format!r}; use one of: {', '.join(FORMATS)}.")
    purposes = {p.code: p.text for p in notice.sections.purposes}
    wording = {k: w.text for k, w in catalogue().wording.items()}
    return (
        _environment()
        .get_template(_TEMPLATES[format])
        .render(c=notice, s=notice.sections, purposes=purposes, w=wording)
    )


__all__ = [
    "CLASS_LABELS",
    "FORMATS",
    "NoticeContent",
    "PublishedVersion",
    "Sections",
    "change_note",
    "content",
    "diff",
    "markdown_escape",
    "pending",
    "publish",
    "recipients_in_force",
    "render",
    "rule_scopes",
    "sections",
    "stored",
    "unenforced",
    "versions",
]
