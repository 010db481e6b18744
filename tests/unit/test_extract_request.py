"""What an extract request may ask for, checked before anything is read (SHR-7, CON-1)."""

from __future__ import annotations

import pytest

from carehaven.errors import UsageError
from carehaven.pseudonymise.extract import Request, _check, _sensitive


def test_fields_must_be_columns_of_the_tier() -> None:
    with pytest.raises(UsageError, match="initials is not a column of the de-personalised"):
        _check(Request("ndtms-episode", "de-personalised", "release", "NDEC",
                       fields=("sex", "initials")))
    with pytest.raises(UsageError, match="at least one field"):
        _check(Request("ndtms-episode", "de-personalised", "release", "NDEC", fields=()))


def test_consent_can_only_be_required_where_it_is_recorded() -> None:
    with pytest.raises(UsageError, match="records no consent"):
        _check(Request("cld-event", "de-personalised", "release", "NDEC", consenting_only=True))
    _check(Request("ips-episode", "de-personalised", "release", "HMRC", consenting_only=True))


def test_an_anonymised_extract_keeps_a_quasi_identifier() -> None:
    """Without one, there is nothing to generalise: a sentence, not a failed search."""
    with pytest.raises(UsageError, match="none of the quasi-identifiers"):
        _check(Request("ndtms-episode", "anonymised", fields=("substance_1",)))
    _check(Request("ndtms-episode", "anonymised", fields=("sex", "substance_1")))


def test_the_sensitive_field_counts_only_when_it_is_kept() -> None:
    spec = _check(Request("ndtms-episode", "anonymised"))
    assert _sensitive(Request("ndtms-episode", "anonymised"), spec) == spec.sensitive
    kept = Request("ndtms-episode", "anonymised", fields=("sex",))
    assert _sensitive(kept, spec) is None
