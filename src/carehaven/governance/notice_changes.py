"""Change notes between two versions of a notice, generated from the difference of their
sections, in sentences (CON-3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from carehaven.governance.notice_model import (
    CLASS_LABELS,
    ContactEntry,
    DatasetEntry,
    RecipientEntry,
    RuleGroup,
    Sections,
    Statement,
)
from carehaven.specs import FieldClass

# ---- change notes ---------------------------------------------------------------------------


def _listed(what: str, old: Iterable[str], new: Iterable[str]) -> list[str]:
    before, after = list(old), list(new)
    out = [f"Added {what}: {t}" for t in after if t not in before]
    out += [f"Removed {what}: {t}" for t in before if t not in after]
    return [_sentence(s) for s in out]


def _texts(items: Iterable[Statement]) -> list[str]:
    return [s.text for s in items]


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def change_note(old: Sections, new: Sections) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence per change, section by section."""
    out: list[str] = []
    a, b = old.who_we_are, new.who_we_are
    if a.controller != b.controller:
        out.append(_sentence(f"The controller is now {b.controller} (was {a.controller})"))
    if (a.summary, a.controller_statement) != (b.summary, b.controller_statement):
        out.append("Changed the description of who we are.")
    out += _listed("processor", [p.name for p in a.processors], [p.name for p in b.processors])
    out += _listed("people this notice is about", old.data_subjects, new.data_subjects)
    out += _listed("source of information", old.sources, new.sources)
    out += _datasets(old.datasets, new.datasets)
    out += _keyed(
        "purpose", {p.code: p.text for p in old.purposes}, {p.code: p.text for p in new.purposes}
    )
    out += _keyed(
        "lawful basis",
        {b.article: b.text for b in old.lawful_bases},
        {b.article: b.text for b in new.lawful_bases},
    )
    for t_old in old.tiers:
        t_new = next((t for t in new.tiers if t.tier == t_old.tier), None)
        if t_new is not None and t_new.text != t_old.text:
            out.append(f"Changed the description of {t_new.label.lower()}.")
    out += _rules(old.sharing, new.sharing)
    out += _recipients(old.recipients, new.recipients)
    out += _keyed(
        "retention rule",
        {r.id: r.text for r in old.retention},
        {r.id: r.text for r in new.retention},
        show_key=False,
    )
    out += _listed("consent statement", _texts(old.consent), _texts(new.consent))
    out += _listed("right", _texts(old.rights), _texts(new.rights))
    out += _contacts(old.contacts, new.contacts)
    return out


def _keyed(
    what: str, old: dict[str, str], new: dict[str, str], *, show_key: bool = True
) -> list[str]:
    """Items matched by key: added, changed (same key, new text) and removed."""

    def say(verb: str, key: str, text: str) -> str:
        return _sentence(f"{verb} {what} {key}: {text}" if show_key else f"{verb} {what}: {text}")

    out = [say("Added", k, t) for k, t in new.items() if k not in old]
    out += [say("Changed", k, t) for k, t in new.items() if k in old and old[k] != t]
    out += [say("Removed", k, t) for k, t in old.items() if k not in new]
    return out


def _datasets(old: Sequence[DatasetEntry], new: Sequence[DatasetEntry]) -> list[str]:
    out: list[str] = []
    before = {d.name: d for d in old}
    after = {d.name: d for d in new}
    out += [f"Added dataset {n} ({d.title})." for n, d in after.items() if n not in before]
    out += [f"Removed dataset {n} ({d.title})." for n, d in before.items() if n not in after]
    for name in (n for n in after if n in before):
        was, now = before[name].fields(), after[name].fields()
        for field, (cls, entry) in now.items():
            label = CLASS_LABELS[FieldClass(cls)].lower()
            if field not in was:
                out.append(f"Added field {field} to {name} ({label}).")
                continue
            old_cls, old_entry = was[field]
            if old_cls != cls:
                old_label = CLASS_LABELS[FieldClass(old_cls)].lower()
                out.append(f"Field {field} of {name} is now among {label} (was {old_label}).")
            if old_entry.description != entry.description:
                out.append(f"Changed the description of field {field} of {name}.")
            if old_entry.replaced_by != entry.replaced_by:
                now_by = ", ".join(entry.replaced_by) or "nothing"
                out.append(
                    f"In data without direct identifiers, {field} of {name} is now replaced "
                    f"by {now_by}."
                )
        out += [f"Removed field {f} from {name}." for f in was if f not in now]
        if before[name].version != after[name].version:
            out.append(
                f"Dataset {name} is now version {after[name].version} (was {before[name].version})."
            )
    return out


def _rules(old: Sequence[RuleGroup], new: Sequence[RuleGroup]) -> list[str]:
    before = {r.id: (r, g) for g in old for r in g.rules}
    after = {r.id: (r, g) for g in new for r in g.rules}
    out = [
        _sentence(f"Added sharing rule for {g.label.lower()}: {r.text}")
        for i, (r, g) in after.items()
        if i not in before
    ]
    for i, (r, g) in after.items():
        if i not in before:
            continue
        was, was_group = before[i]
        if was.text != r.text:
            out.append(_sentence(f"Changed sharing rule: {r.text} (was: {was.text})"))
        if was_group.tiers != g.tiers:
            out.append(_sentence(f"Sharing rule now applies to {g.label.lower()}: {r.text}"))
    out += [
        _sentence(f"Removed sharing rule: {r.text}")
        for i, (r, _) in before.items()
        if i not in after
    ]
    return out


def _recipients(old: Sequence[RecipientEntry], new: Sequence[RecipientEntry]) -> list[str]:
    before = {r.key: r for r in old}
    after = {r.key: r for r in new}
    out = [f"Added recipient {r.label}." for k, r in after.items() if k not in before]
    out += [f"Removed recipient {r.label}." for k, r in before.items() if k not in after]
    for key, now in after.items():
        was = before.get(key)
        if was is None:
            continue
        if (was.name, was.kind) != (now.name, now.kind):
            out.append(f"Recipient {was.label} is now {now.label}.")
        if was.purposes != now.purposes:
            out.append(
                f"Recipient {now.label} now receives data for {', '.join(now.purposes)} "
                f"(was {', '.join(was.purposes)})."
            )
        if was.datasets != now.datasets:
            out.append(
                f"Recipient {now.label} now receives {', '.join(now.datasets)} "
                f"(was {', '.join(was.datasets)})."
            )
    return out


def _contacts(old: Sequence[ContactEntry], new: Sequence[ContactEntry]) -> list[str]:
    before = {(c.role, c.name): c for c in old}
    after = {(c.role, c.name): c for c in new}
    out = [f"Added contact {c.name}." for k, c in after.items() if k not in before]
    out += [f"Removed contact {c.name}." for k, c in before.items() if k not in after]
    out += [
        f"Changed the contact details of {c.name}."
        for k, c in after.items()
        if k in before and before[k] != c
    ]
    return out
