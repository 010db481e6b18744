"""What a notice promises, and whether something enforces each promise (issue 12 item 10;
docs/design/0008, "Promises").

A notice's statements are information or promises. A promise names the mechanisms that make it
true (``notice_model.MECHANISM``): a rule of the sharing policy, a validation rule of a dataset
spec, a retention rule that is acted on, or a registered command. ``claims`` lists every
statement a rendered notice makes, section by section; ``unenforced`` the promises whose
mechanism is missing or does not exist. A statement whose mechanism does not exist yet is
``pending`` in the data and never rendered; ``pending`` lists them and ``landed`` those whose
mechanism now exists, so a statement returns to the notices when its capability lands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from carehaven.governance.collections import Catalogue, Claimed, catalogue
from carehaven.governance.notice_model import MECHANISM, Sections
from carehaven.retention import rules as retention_rules
from carehaven.specs import available, load_spec


@dataclass(frozen=True)
class Claim:
    """One statement of a notice: where it is, what it says, what it is, what enforces it."""

    where: str
    text: str
    kind: str
    enforced_by: tuple[str, ...]


@dataclass(frozen=True)
class Unenforced:
    """A promise without a working mechanism, and why each of its mechanisms does not work."""

    claim: Claim
    problems: tuple[str, ...]

    def sentence(self) -> str:
        text = self.claim.text
        quoted = text if len(text) <= 60 else text[:57].rstrip() + "..."
        return f"{self.claim.where} (\"{quoted}\"): {'; '.join(self.problems)}"


# ---- which mechanisms exist -------------------------------------------------------------------


@cache
def commands() -> frozenset[str]:
    """Every command path the command line registers ("audit verify", "notice", ...)."""
    import typer

    from carehaven.cli.app import app  # the command line registers its commands on import

    found: set[str] = set()

    def walk(group: object, prefix: tuple[str, ...]) -> None:
        if prefix:
            found.add(" ".join(prefix))
        for name, command in getattr(group, "commands", {}).items():
            walk(command, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return frozenset(found)


def _policy_ids() -> frozenset[str]:
    from carehaven.governance.policy import rules

    return frozenset(r.id for r in rules())


def problem(mechanism: str) -> str | None:
    """Why ``mechanism`` does not enforce anything, or None when it exists and works."""
    if not MECHANISM.match(mechanism):
        return f"{mechanism!r} is not a mechanism"
    what, _, ref = mechanism.partition(":")
    if what == "policy":
        return None if ref in _policy_ids() else f"sharing.cedar has no rule {ref}"
    if what == "rule":
        dataset, _, rule = ref.partition("/")
        if dataset not in available():
            return f"there is no dataset {dataset}"
        ids = {r.id for r in load_spec(dataset).rules}
        return None if rule in ids else f"{dataset} has no validation rule {rule}"
    if what == "retention":
        found = next((r for r in retention_rules() if r.id == ref), None)
        if found is None:
            return f"the retention schedule has no rule {ref}"
        if found.kind != "promise":
            return f"retention rule {ref} is not acted on yet"
        missing = [p for p in map(problem, found.enforced_by) if p]
        return f"retention rule {ref}: {'; '.join(missing)}" if missing else None
    return None if ref in commands() else f"there is no command '{ref}'"


# ---- the statements of a notice ------------------------------------------------------------------


def _info(where: str, texts: Iterable[str]) -> Iterator[Claim]:
    for text in texts:
        yield Claim(where, text, "information", ())


def _who(s: Sections) -> Iterator[Claim]:
    w = s.who_we_are
    yield from _info("who we are", [w.summary, w.controller, w.controller_statement])
    yield from _info("processor", [f"{p.name}: {p.role}" for p in w.processors])


def _datasets(s: Sections) -> Iterator[Claim]:
    derived = catalogue().wording["derived"]
    for d in s.datasets:
        yield from _info(f"dataset {d.name}", [d.title, d.description])
        for g in d.classes:
            yield Claim(f"{d.name} class {g.field_class}", g.explanation, g.kind, g.enforced_by)
            for f in g.fields:
                # A field's description says what is collected; its replacement is a promise.
                yield from _info(f"field {d.name}.{f.name}", [f.description])
                if f.replaced_by:
                    text = f"{derived.text} {', '.join(f.replaced_by)}."
                    yield Claim(f"field {d.name}.{f.name} replaced", text, derived.kind,
                                derived.enforced_by)


def _recipients(s: Sections) -> Iterator[Claim]:
    for r in s.recipients:
        text = f"{r.label} receives {', '.join(r.datasets)} for {', '.join(r.purposes)}."
        yield Claim(f"recipient {r.code} ({r.tier})", text, "promise", r.enforced_by)


#: How each section of ``Sections`` is read into claims; a test checks every section is here,
#: so a new section cannot render statements nothing classifies.
SECTIONS: dict[str, Callable[[Sections], Iterable[Claim]]] = {
    "who_we_are": _who,
    "data_subjects": lambda s: _info("about", s.data_subjects),
    "sources": lambda s: _info("source", s.sources),
    "datasets": _datasets,
    "purposes": lambda s: _info("purpose", [p.text for p in s.purposes]),
    "lawful_bases": lambda s: _info("lawful basis", [f"{b.article}: {b.text}"
                                                     for b in s.lawful_bases]),
    "tiers": lambda s: (Claim(f"tier {t.tier}", t.text, t.kind, t.enforced_by) for t in s.tiers),
    "sharing": lambda s: (
        Claim(f"sharing rule {r.id}", r.text, "promise", r.enforced_by)
        for g in s.sharing
        for r in g.rules
    ),
    "recipients": _recipients,
    "retention": lambda s: (
        Claim(f"retention rule {r.id}", r.text, "promise", r.enforced_by) for r in s.retention
    ),
    "consent": lambda s: (
        Claim(f"consent {st.requirement}", st.text, st.kind, st.enforced_by) for st in s.consent
    ),
    "rights": lambda s: (
        Claim(f"right {st.requirement}", st.text, st.kind, st.enforced_by) for st in s.rights
    ),
    "contacts": lambda s: _info("contact", [f"{c.name}: {c.for_}" for c in s.contacts]),
}

#: The notice's own sentences the templates show whatever the sections hold.
_ALWAYS = ("sharing-rules", "changes")


def claims(sections: Sections) -> list[Claim]:
    """Every statement a notice with these sections renders, with what it is and what enforces
    it: the sections' statements, then the templates' own sentences."""
    out = [c for read in SECTIONS.values() for c in read(sections)]
    wording = catalogue().wording
    shown = [*_ALWAYS, *(() if sections.recipients else ("no-recipients",))]
    out += [Claim(f"wording {k}", wording[k].text, wording[k].kind, wording[k].enforced_by)
            for k in shown]
    return out


def unenforced(sections: Sections) -> list[Unenforced]:
    """The promises of a notice with no mechanism, or naming one that does not exist."""
    out = []
    for claim in claims(sections):
        if claim.kind == "information":
            continue
        if claim.kind != "promise":
            out.append(Unenforced(claim, (f"a {claim.kind} statement is never rendered",)))
            continue
        found = tuple(p for p in map(problem, claim.enforced_by) if p)
        if not claim.enforced_by:
            found = ("it names no mechanism",)
        if found:
            out.append(Unenforced(claim, found))
    return out


# ---- statements waiting for their mechanism ------------------------------------------------------


def _statements(cat: Catalogue) -> Iterator[tuple[str | None, str, Claimed]]:
    """Every statement of the data that says what it is: (collection or None, where, it)."""
    for key, tier in cat.tiers.items():
        yield None, f"tier {key}", tier
    for code, c in cat.collections.items():
        for st in c.consent:
            yield code, f"{code} consent {st.requirement}", st
        for st in c.rights:
            yield code, f"{code} right {st.requirement}", st


def pending(collection: str | None = None) -> list[Claim]:
    """The statements the data holds but no notice renders, because the mechanism that would
    enforce them does not exist yet, with the mechanisms they wait for: those of one collection
    (with the tiers and retention rules it has), or all of them."""
    cat = catalogue()
    out = [
        Claim(where, st.text, st.kind, st.enforced_by)
        for owner, where, st in _statements(cat)
        if st.kind == "pending" and (collection is None or owner in (None, collection))
    ]
    datasets = set(cat.collections[collection].datasets) if collection else None
    out += [
        Claim(f"retention rule {r.id}", r.text, r.kind, r.enforced_by)
        for r in retention_rules()
        if r.kind == "pending" and (datasets is None or datasets.intersection(r.datasets))
    ]
    return out


def landed() -> list[Claim]:
    """Pending statements whose every mechanism now exists: make them promises."""
    return [c for c in pending() if not any(map(problem, c.enforced_by))]


__all__ = [
    "SECTIONS",
    "Claim",
    "Unenforced",
    "claims",
    "commands",
    "landed",
    "pending",
    "problem",
    "unenforced",
]
