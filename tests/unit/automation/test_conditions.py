"""The condition language: every operator, validation errors naming the exact part, and failing
closed on facts that are unknown or of the wrong type."""

from __future__ import annotations

import pytest

from helpline.domains.automation.conditions import FIELDS, OPERATORS, matches, validate
from helpline.errors import Invalid

CUSTOM = {"plan": "dropdown", "seats": "number", "renewal": "date", "trial": "checkbox", "note": "text"}
FACTS = {
    "priority": "high",
    "status": "open",
    "type": None,
    "channel": "email",
    "group_id": 7,
    "organization_id": 3,
    "assignee_id": None,
    "requester_id": 11,
    "tags": ["vip", "billing"],
    "custom": {
        "plan": "Gold",
        "seats": 25,
        "renewal": "2027-03-01",
        "trial": False,
        "note": "Call before noon",
    },
    "key_account_level": "Platinum",
}


def one(field, operator, value=None, facts=FACTS) -> bool:
    conds = validate({"all": [{"field": field, "operator": operator, "value": value}]}, custom_fields=CUSTOM)
    return matches(conds, facts)


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("priority", "is", "high", True),
        ("priority", "is", "low", False),
        ("priority", "is_not", "low", True),
        ("priority", "in", ["urgent", "high"], True),
        ("priority", "not_in", ["urgent", "high"], False),
        ("status", "present", None, True),
        ("type", "absent", None, True),
        ("type", "present", None, False),
        ("type", "is_not", "question", True),  # no type is "not a question"
        ("type", "in", ["question"], False),
        ("channel", "is", "email", True),
        ("group_id", "is", 7, True),
        ("group_id", "in", [1, 7], True),
        ("group_id", "not_in", [1, 7], False),
        ("assignee_id", "absent", None, True),
        ("assignee_id", "is", 5, False),
        ("requester_id", "is_not", 11, False),
        ("organization_id", "present", None, True),
        ("tags", "includes_any", ["vip", "x"], True),
        ("tags", "includes_any", ["x"], False),
        ("tags", "includes_all", ["vip", "billing"], True),
        ("tags", "includes_all", ["vip", "x"], False),
        ("tags", "includes_none", ["x", "y"], True),
        ("tags", "includes_none", ["vip"], False),
        ("key_account_level", "is", "Platinum", True),
        ("key_account_level", "contains", "plat", True),  # contains ignores case
        ("key_account_level", "not_contains", "Gold", True),
        ("custom.plan", "is", "Gold", True),
        ("custom.plan", "is_not", "Gold", False),
        ("custom.seats", "is", 25, True),
        ("custom.seats", "lt", 30, True),
        ("custom.seats", "lte", 25, True),
        ("custom.seats", "gt", 25, False),
        ("custom.seats", "gte", 25, True),
        ("custom.renewal", "lt", "2027-04-01", True),
        ("custom.renewal", "gte", "2027-03-02", False),
        ("custom.renewal", "is", "2027-03-01", True),
        ("custom.trial", "is", False, True),
        ("custom.trial", "is", True, False),
        ("custom.note", "contains", "NOON", True),
        ("custom.note", "absent", None, False),
    ],
)
def test_every_operator(field, operator, value, expected):
    assert one(field, operator, value) is expected


def test_registry_kinds_all_have_operators():
    assert {spec.kind for spec in FIELDS.values()} <= set(OPERATORS)


def test_all_and_any():
    assert matches(validate({}, custom_fields={}), FACTS)  # empty: every ticket
    assert matches(validate(None, custom_fields={}), {})
    conds = validate(
        {
            "all": [{"field": "status", "operator": "is", "value": "open"}],
            "any": [
                {"field": "priority", "operator": "is", "value": "urgent"},
                {"field": "tags", "operator": "includes_any", "value": ["vip"]},
            ],
        },
        custom_fields={},
    )
    assert matches(conds, FACTS)
    assert not matches(conds, {**FACTS, "tags": []})
    assert not matches(conds, {**FACTS, "status": "pending"})
    assert matches(validate({"any": []}, custom_fields={}), FACTS)  # an empty "any" constrains nothing


def test_fails_closed_on_unknown_or_mistyped_facts():
    assert not one("priority", "is_not", "low", facts={})  # a missing fact matches nothing…
    assert not one("group_id", "not_in", [1], facts={})
    assert not one("tags", "includes_none", ["x"], facts={})
    assert one("priority", "absent", facts={})  # …but "absent"
    assert not one("custom.seats", "gt", 1, facts={**FACTS, "custom": {"seats": "many"}})
    assert not one("custom.seats", "is", 25, facts={**FACTS, "custom": None})
    assert not one("tags", "includes_any", ["vip"], facts={**FACTS, "tags": "vip"})
    assert not one("custom.trial", "is", False, facts={**FACTS, "custom": {"trial": 0}})
    assert not one("custom.renewal", "lt", "2030-01-01", facts={**FACTS, "custom": {"renewal": "soon"}})
    # a stored set naming a field or operator this version does not know matches nothing
    assert not matches({"all": [{"field": "mood", "operator": "is", "value": "x"}]}, FACTS)
    assert not matches({"all": [{"field": "priority", "operator": "resembles", "value": "x"}]}, FACTS)


@pytest.mark.parametrize(
    ("conditions", "field", "says"),
    [
        ([], "conditions", "all"),
        ({"none": []}, "conditions", "all"),
        ({"all": {}}, "conditions.all", "list"),
        ({"all": ["priority"]}, "conditions.all[0]", "field"),
        ({"all": [{"field": "shoe", "operator": "is", "value": 1}]}, "conditions.all[0].field", "priority"),
        (
            {"any": [{}, {"field": "custom.nope", "operator": "is", "value": 1}]},
            "conditions.any[0].field",
            "custom.plan",
        ),
        (
            {"all": [{"field": "tags", "operator": "is", "value": "x"}]},
            "conditions.all[0].operator",
            "includes_any",
        ),
        (
            {"all": [{"field": "priority", "operator": "lt", "value": "x"}]},
            "conditions.all[0].operator",
            "is_not",
        ),
        (
            {"all": [{"field": "priority", "operator": "is", "value": "asap"}]},
            "conditions.all[0].value",
            "urgent",
        ),
        (
            {"all": [{"field": "priority", "operator": "in", "value": "high"}]},
            "conditions.all[0].value",
            "list",
        ),
        ({"all": [{"field": "priority", "operator": "in", "value": []}]}, "conditions.all[0].value", "list"),
        (
            {"all": [{"field": "priority", "operator": "in", "value": ["high", "x"]}]},
            "conditions.all[0].value[1]",
            "one of",
        ),
        ({"all": [{"field": "group_id", "operator": "is", "value": "7"}]}, "conditions.all[0].value", "id"),
        ({"all": [{"field": "group_id", "operator": "is", "value": True}]}, "conditions.all[0].value", "id"),
        (
            {"all": [{"field": "custom.seats", "operator": "gt", "value": "ten"}]},
            "conditions.all[0].value",
            "number",
        ),
        (
            {"all": [{"field": "custom.renewal", "operator": "lt", "value": "2027-13-01"}]},
            "conditions.all[0].value",
            "date",
        ),
        (
            {"all": [{"field": "custom.trial", "operator": "is", "value": "yes"}]},
            "conditions.all[0].value",
            "true",
        ),
        (
            {"all": [{"field": "custom.trial", "operator": "gt", "value": 1}]},
            "conditions.all[0].operator",
            "is",
        ),
        (
            {"all": [{"field": "status", "operator": "present", "value": "x"}]},
            "conditions.all[0].value",
            "no value",
        ),
        (
            {"all": [{"field": "status", "operator": "is", "value": "x", "extra": 1}]},
            "conditions.all[0]",
            "field",
        ),
        ({"all": [{"field": "priority", "operator": "is", "value": "high"}] * 51}, "conditions.all", "50"),
    ],
)
def test_validation_names_the_part_and_what_is_allowed(conditions, field, says):
    with pytest.raises(Invalid) as err:
        validate(conditions, custom_fields=CUSTOM)
    assert err.value.errors[0]["field"] == field
    assert says in err.value.errors[0]["message"]


def test_validate_normalizes():
    got = validate(
        {
            "any": [
                {"field": "tags", "operator": "includes_any", "value": [" vip ", "vip"]},
                {"field": "type", "operator": "absent"},
            ]
        },
        custom_fields={},
    )
    assert got == {
        "all": [],
        "any": [
            {"field": "tags", "operator": "includes_any", "value": ["vip"]},
            {"field": "type", "operator": "absent", "value": None},
        ],
    }
