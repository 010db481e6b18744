"""A descriptor that contradicts itself is refused when it loads, with the reason."""

import copy
import json
from importlib import resources

import pytest
from pydantic import ValidationError

from carehaven.specs import Spec, load_spec


def _descriptor(name: str = "ndtms-episode") -> dict:
    path = resources.files("carehaven.specs") / "descriptors" / f"{name}.json"
    return json.loads(path.read_text())


def test_the_published_descriptor_is_shown_unchanged():
    assert load_spec("ndtms-review").descriptor() == _descriptor("ndtms-review")


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda d: d.update({"carehaven:submitterField": "provider"}), "submitterField"),
    # COL-9: every descriptor names the kinds that submit it, each a known OrgKind, once.
    (lambda d: d.update({"carehaven:submitterKinds": ["treatment-service", "bank"]}),
     "carehaven:submitterKinds"),
    (lambda d: d.pop("carehaven:submitterKinds"), "carehaven:submitterKinds"),
    (lambda d: d.update({"carehaven:submitterKinds": []}), "submitterKinds names each kind"),
    (lambda d: d.update({"carehaven:submitterKinds": ["prison", "prison"]}),
     "submitterKinds names each kind"),
    (lambda d: d["schema"]["fields"].append(copy.deepcopy(d["schema"]["fields"][0])),
     "repeated"),
    (lambda d: d["schema"].update({"primaryKey": ["nope"]}), "primary key"),
    (lambda d: d["carehaven:rules"].append(
        {"id": "x", "kind": "date-order", "field": "sex", "notBefore": "referral_date"}),
     "to be a date"),
    (lambda d: d["carehaven:rules"].append(
        {"id": "y", "kind": "required-if", "fields": ["nope"],
         "when": {"field": "sex", "equals": "1"}}), "unknown field"),
    (lambda d: d["carehaven:rules"].append(
        {"id": "z", "kind": "required-if", "fields": ["sex"],
         "when": {"field": "sex", "equals": "1", "notEmpty": True}}), "exactly one"),
])
def test_inconsistent_descriptors_are_refused(edit, reason):
    d = _descriptor()
    edit(d)
    with pytest.raises(ValidationError, match=reason):
        Spec.from_descriptor(d)
