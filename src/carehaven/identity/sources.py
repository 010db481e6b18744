"""Where identities come from: each dataset's rows as standard identity records.

An identity record is one accepted row seen as evidence about a person. Every source gives the
same columns (``RECORD_SCHEMA``) so the rest of identity never looks at a dataset's own names.
A source reads identifiers (IDN-1), strong keys and the transfer fields, and never a
special-category field: ethnicity and the like identify no one (IDN-5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from carehaven.identity import standardise as std
from carehaven.specs import load_spec

RECORD_SCHEMA = ibis.schema(
    {
        "dataset": dt.string,
        "_submission_id": dt.string,
        "_row": dt.int64,
        "source": dt.string,  # ndtms, ips or cld: whose local references these are
        "org": dt.string,
        "local_ref": dt.string,
        "linkable": dt.boolean,  # false: counted, never linked (consent_ndtms = N)
        "initials": dt.string,
        "dob": dt.date,
        "sex": dt.string,  # M or F; anything else is missing for matching
        "district": dt.string,
        "sector": dt.string,
        "la": dt.string,
        "nhs": dt.string,
        "nino": dt.string,
        "episode_id": dt.string,
        "referral_date": dt.date,
        "transferred_from": dt.string,
        "discharge_date": dt.date,
        "transferred_out": dt.boolean,
    }
)

_SEX_NDTMS = {"1": "M", "2": "F"}
_SEX_CLD = {"Male": "M", "Female": "F"}


def _transfer_code() -> str:
    """The discharge_reason code for a transfer to another provider (not to prison)."""
    codes = load_spec("ndtms-episode").field("discharge_reason").codes or {}
    hits = [c for c, m in codes.items() if "transferred" in m.lower() and "prison" not in m]
    if len(hits) != 1:
        raise AssertionError("ndtms-episode must have exactly one transfer discharge reason")
    return hits[0]


def _null(kind: str) -> ir.Value:
    return ibis.null(kind)


#: A dataset's rows as the columns of RECORD_SCHEMA, by name.
Columns = dict[str, ir.Value]


def _ndtms(t: ir.Table) -> Columns:
    linkable = t.consent_ndtms == "Y"
    return {
        "dataset": ibis.literal("ndtms-episode"),
        "_submission_id": t._submission_id,
        "_row": t._row,
        "source": ibis.literal("ndtms"),
        "org": t.provider_code,
        "local_ref": t.client_ref,
        "linkable": linkable,
        "initials": ibis.cases((linkable, std.initials_expr(t.initials)), else_=_null("string")),
        "dob": ibis.cases((linkable, std.date_of_birth_expr(t.date_of_birth)), else_=_null("date")),
        "sex": std.code_expr(t.sex, _SEX_NDTMS),
        "district": std.district_expr(t.postcode_district),
        "sector": _null("string"),
        "la": t.la_of_residence,
        "nhs": _null("string"),
        "nino": _null("string"),
        "episode_id": t.episode_id,
        "referral_date": t.referral_date,
        "transferred_from": t.transferred_from_provider,
        "discharge_date": t.discharge_date,
        "transferred_out": (t.discharge_reason == _transfer_code()).fill_null(False),
    }


def _ips(t: ir.Table) -> Columns:
    return {
        "dataset": ibis.literal("ips-episode"),
        "_submission_id": t._submission_id,
        "_row": t._row,
        "source": ibis.literal("ndtms"),  # IPS providers are treatment providers: one client list
        "org": t.provider_code,
        "local_ref": t.client_ref,
        "linkable": ibis.literal(True),
        "initials": std.initials_expr(t.initials),
        "dob": std.date_of_birth_expr(t.date_of_birth),
        "sex": std.code_expr(t.sex, _SEX_NDTMS),
        "district": std.district_expr(t.postcode),
        "sector": std.sector_expr(t.postcode),
        "la": _null("string"),
        "nhs": _null("string"),
        "nino": std.nino_expr(t.nino),
        "episode_id": t.episode_id,
        "referral_date": _null("date"),
        "transferred_from": _null("string"),
        "discharge_date": _null("date"),
        "transferred_out": ibis.literal(False),
    }


def _cld(t: ir.Table) -> Columns:
    return {
        "dataset": ibis.literal("cld-event"),
        "_submission_id": t._submission_id,
        "_row": t._row,
        "source": ibis.literal("cld"),
        "org": t.LA_Code,
        "local_ref": t.LA_Person_Unique_Identifier,
        "linkable": ibis.literal(True),
        "initials": std.initials_from_names_expr(t.Given_Name, t.Family_Name),
        "dob": std.date_of_birth_expr(t.Date_of_Birth),
        "sex": std.code_expr(t.Gender, _SEX_CLD),
        "district": std.district_expr(t.Postcode),
        "sector": std.sector_expr(t.Postcode),
        "la": t.LA_Code,
        "nhs": std.nhs_number_expr(t.NHS_Number),
        "nino": _null("string"),
        "episode_id": _null("string"),
        "referral_date": _null("date"),
        "transferred_from": _null("string"),
        "discharge_date": _null("date"),
        "transferred_out": ibis.literal(False),
    }


@dataclass(frozen=True)
class Source:
    dataset: str
    columns: Callable[[ir.Table], Columns]

    def records(self, rows: ir.Table) -> ir.Table:
        """The dataset's ``rows`` as identity records, in RECORD_SCHEMA's order and types."""
        cols = self.columns(rows)
        if set(cols) != set(RECORD_SCHEMA.names):
            raise AssertionError(f"{self.dataset} must give exactly RECORD_SCHEMA's columns")
        return rows.select(**{n: cols[n] for n in RECORD_SCHEMA.names}).cast(RECORD_SCHEMA)


#: The datasets that carry identifiers, in the order they are read.
SOURCES: tuple[Source, ...] = (
    Source("ndtms-episode", _ndtms),
    Source("ips-episode", _ips),
    Source("cld-event", _cld),
)


def identity_records(tables: dict[str, ir.Table]) -> ir.Table:
    """One union of identity records from each dataset's in-force rows (``tables``)."""
    parts = [s.records(tables[s.dataset]) for s in SOURCES if s.dataset in tables]
    if not parts:
        raise ValueError("no dataset with identifiers was given")
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
