"""Profiles: the distinct things sources say about people, and the strong keys between them.

A profile is one source's local reference for a person together with one set of standardised
identifier values. Many rows share a profile (every period's row for an unchanged episode), so
linkage works on profiles and rows follow. A profile id is a keyed hash of its content: the same
content gives the same id in every run, which is what lets decisions and person ids persist.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

#: The columns that make a profile what it is: identifiers only (IDN-1) and the strong keys.
#: No special-category field (ethnicity and the like, IDN-5) is part of a profile.
PROFILE_COLUMNS = (
    "source",
    "org",
    "local_ref",
    "linkable",
    "initials",
    "dob",
    "sex",
    "district",
    "sector",
    "la",
    "nhs",
    "nino",
)


def _text(col: ir.Value) -> ir.StringValue:
    return col.cast("string").fill_null("")


def with_profile_id(records: ir.Table, key_hex: str) -> ir.Table:
    """Records with the id of their profile (64-bit hex of a keyed SHA-256)."""
    content = ibis.literal(key_hex)
    for name in PROFILE_COLUMNS:
        content = content.concat("|", _text(records[name]))
    return records.mutate(profile_id=content.hexdigest("sha256").substr(0, 24))


def profiles(records: ir.Table) -> ir.Table:
    """One row per profile, with how many records carry it."""
    return records.group_by(["profile_id", *PROFILE_COLUMNS]).aggregate(records=records.count())


def strong_key_members(profiles: ir.Table, records: ir.Table) -> ir.Table:
    """``(key, profile_id)`` for every strong key a profile holds.

    Profiles sharing a key are the same person without needing the model: the same provider's
    client reference, a valid NHS number, a valid NI number with the date of birth, an IPS
    placement naming a treatment episode of the same provider. Profiles that may not be linked
    (consent_ndtms = N) get only their own provider's reference, kept apart from linkable ones.
    """
    p = profiles
    client = p.select(
        kind=ibis.literal("client"),
        key=p.source.concat("|", p.org, "|", p.local_ref, "|", p.linkable.cast("string")),
        profile_id=p.profile_id,
    )
    linkable = p.filter(p.linkable)
    nhs = linkable.filter(linkable.nhs.notnull()).select(
        kind=ibis.literal("nhs"), key=linkable.nhs, profile_id=linkable.profile_id
    )
    with_nino = linkable.filter(linkable.nino.notnull() & linkable.dob.notnull())
    nino = with_nino.select(
        kind=ibis.literal("nino"),
        key=with_nino.nino.concat("|", with_nino.dob.cast("string")),
        profile_id=with_nino.profile_id,
    )
    r = records.filter(records.linkable & records.episode_id.notnull())
    episode = r.select(
        kind=ibis.literal("episode"),
        key=r.org.concat("|", r.episode_id),
        profile_id=r.profile_id,
    ).distinct()
    return ibis.union(client, nhs, nino, episode)


def transfer_pairs(records: ir.Table, window_days: int = 14) -> ir.Table:
    """Pairs of profiles joined by a handover (COL-7): one provider discharged a person as
    transferred and another took them in, naming the first, within ``window_days``.

    The handover alone could join two people moved in the same fortnight; the pair must also
    agree on sex, and on date of birth or on initials and year of birth (a typo in one of them).
    """
    r = records.filter(records.linkable)
    out = r.filter(r.transferred_out & r.discharge_date.notnull()).select(
        lp=r.profile_id, lorg=r.org, lday=r.discharge_date, lsex=r.sex, ldob=r.dob,
        linit=r.initials,
    ).distinct()
    inn = r.filter(r.transferred_from.notnull() & r.referral_date.notnull()).select(
        rp=r.profile_id, rfrom=r.transferred_from, rday=r.referral_date, rsex=r.sex,
        rdob=r.dob, rinit=r.initials,
    ).distinct()
    j = out.join(
        inn,
        [
            out.lorg == inn.rfrom,
            inn.rday >= out.lday,
            inn.rday <= out.lday + ibis.interval(days=window_days),
            out.lsex == inn.rsex,
            (out.ldob == inn.rdob)
            | ((out.linit == inn.rinit) & (out.ldob.year() == inn.rdob.year())),
        ],
    )
    return j.select(left=j.lp, right=j.rp).distinct()
