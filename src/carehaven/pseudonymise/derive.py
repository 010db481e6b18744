"""De-personalised rows (PSE-2, PSE-3), derived from the field classes in the dataset spec.

Every D field is dropped; what a D field declares under ``carehaven:derive`` takes its place
(age at an event date, year-month of birth, postcode district); rows whose person may not be
shared (consent_ndtms = N) are left out; ``person_id`` stays until the caller swaps it for a
pseudonym. Everything here is an Ibis expression, so DuckDB and Spark run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from carehaven.specs import FieldClass, Spec
from carehaven.specs.model import Derivation

ROW_KEY = ("_submission_id", "_row")


@dataclass(frozen=True)
class Column:
    """One output column and its class: D/Q/S/O as in the spec, or ``pseudonym``."""

    name: str
    cls: str
    hierarchy: str | None = None
    source: str | None = None  # the spec field it comes from


def columns(spec: Spec, tier: str) -> list[Column]:
    """The columns a tier of ``spec`` carries, in spec order, derived values in their source's
    place. The anonymised tier keeps quasi-identifiers (which it generalises) and coded S and O
    fields; free text, references, numbers and exact dates are not kept there."""
    out: list[Column] = []
    for f in spec.fields:
        if f.field_class == FieldClass.DIRECT and tier == "personal":
            # Only a processor under contract receives these (000 §5.1, SHR-1).
            out.append(Column(f.name, "D", None, f.name))
            continue
        if f.field_class == FieldClass.DIRECT:
            out.extend(
                Column(d.name, "Q", d.hierarchy, f.name) for d in f.derive if tier in d.tiers
            )
            continue
        if tier == "anonymised":
            if f.field_class == FieldClass.QUASI and f.hierarchy is None:
                continue  # a quasi-identifier with no way to generalise it is not released
            if f.hierarchy is None and f.enum is None and f.name != spec.sensitive:
                continue
        out.append(Column(f.name, f.field_class.value, f.hierarchy, f.name))
    return out


def age_at(dob: ir.DateValue, at: ir.DateValue) -> ir.IntegerValue:
    """Whole years from ``dob`` to ``at`` (null if either is missing or ``at`` is before birth)."""
    years = at.year() - dob.year()
    before_birthday = (at.month() < dob.month()) | (
        (at.month() == dob.month()) & (at.day() < dob.day())
    )
    age = years - ibis.ifelse(before_birthday, 1, 0)
    return ibis.ifelse(age >= 0, age, ibis.null("int64")).cast("int64")


def district_of(postcode: ir.StringValue) -> ir.StringValue:
    """The outward code of a full postcode (upper case, spaces ignored)."""
    tight = postcode.upper().re_replace(r"\s+", "")
    return ibis.ifelse(tight.length() >= 5, tight.substr(0, tight.length() - 3), tight)


def _derived(d: Derivation, source: ir.Value, rows: ir.Table) -> ir.Value:
    if d.kind == "age":
        return age_at(source.cast("date"), rows[d.at].cast("date"))
    if d.kind == "year-month":
        return source.cast("date").strftime("%Y-%m")
    return district_of(source.cast("string"))


def depersonalised(spec: Spec, events: ir.Table, identifiers: ir.Table, tier: str) -> ir.Table:
    """``events`` (the personal tier's rows of ``spec``) with D fields replaced by what they
    declare for ``tier`` (or, for the personal tier, the identifiers themselves); keeps
    ``person_id``; leaves out rows that may not be shared."""
    rows = events.filter(events.linkable)
    sources = sorted(
        {c.source for c in columns(spec, tier) if c.source and (c.name != c.source or c.cls == "D")}
    )
    for name in sources:
        ids = identifiers.filter(
            (identifiers.dataset == spec.name) & (identifiers.field == name)
        ).select(*ROW_KEY, **{f"__{name}": identifiers.value})
        rows = rows.left_join(ids, list(ROW_KEY)).drop(*(f"{k}_right" for k in ROW_KEY))
    values: dict[str, ir.Value] = {"person_id": rows.person_id}
    for c in columns(spec, tier):
        if c.cls == "D":
            values[c.name] = rows[f"__{c.name}"]
        elif c.source is not None and c.name != c.source:
            derivation = next(d for d in spec.field(c.source).derive if d.name == c.name)
            values[c.name] = _derived(derivation, rows[f"__{c.source}"], rows)
        else:
            values[c.name] = rows[c.name]
    return rows.select(**values)


def with_pseudonyms(rows: ir.Table, pseudonyms: ir.Table) -> ir.Table:
    """``rows`` with ``pseudonym`` first in place of ``person_id`` (``pseudonyms`` maps one to
    the other for every person in ``rows``)."""
    joined = rows.join(pseudonyms, "person_id")
    rest = [c for c in rows.columns if c != "person_id"]
    return joined.select("pseudonym", *rest)


__all__ = ["Column", "age_at", "columns", "depersonalised", "district_of", "with_pseudonyms"]
