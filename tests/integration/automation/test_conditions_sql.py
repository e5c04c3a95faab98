"""The condition language compiled to SQL (``automation/conditions_sql.py``) against the one in
memory (``conditions.matches``): generated condition sets over tickets with varied facts — custom
values of the field's type and of others (a field whose type changed), organizations with and
without a key-account level, tags, empty and missing values — select exactly the tickets
``matches`` accepts, on SQLite and PostgreSQL, and never a ticket of another workspace. Hostile
condition sets get ``Invalid`` (a 4xx naming the part), never another error."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpline.domains.automation import conditions, conditions_sql
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.automation.sla import policy
from helpline.domains.customers.models import Organization
from helpline.domains.tickets.models import Channel, Priority, Status, Ticket, TicketTag, TicketType
from helpline.errors import Invalid
from tests.conftest import WS

tickets_t, tags_t, orgs_t = Ticket.__table__, TicketTag.__table__, Organization.__table__
sla_t = TicketSlaSummary.__table__
CUSTOM = {"plan": "text", "seats": "number", "renewal": "date", "vip": "checkbox", "tier": "dropdown"}
#: Stored custom values, of the field's type and of others.
STORED: dict[str, list[Any]] = {
    "plan": ["gold", "Gold Plus", "", None, 5, True, [], ["a"], "50%_off", {"x": 1}],
    "seats": [0, 5, 12.5, -3, "7", None, False, 100],
    "renewal": ["2026-12-01", "2027-01-15", "2026-12-01T10:00", "soon", 20261201, None],
    "vip": [True, False, "true", 1, None],
    "tier": ["A", "b", "", None, "a"],
}
ATTRIBUTES: list[dict[str, Any]] = [
    {"key_account_level": "gold"},
    {"key_account_level": "Gold"},
    {"key_account_level": 3},
    {"key_account_level": ""},
    {},
]
TAGS = ["vip", "billing", "bug", "refund"]
TEXTS = ["gold", "Gold", "old", "5", "50%", "_", "A", "b", "true", "soon"]
NUMBERS = [0, 5, 12.5, 7, -3, 100, 1]
DATES = ["2026-12-01", "2027-01-01", "2025-06-30", "2027-01-15"]
HOURS = [0, 1, 2.5, 24, 72, 168, -1, -24]
#: The instant the timed fields count at; the tickets' times lie around it.
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
#: Offsets from NOW of the tickets' created/updated/solved times and SLA due times, in hours (some
#: exactly on a tested boundary).
OFFSETS = [-200, -168, -72, -71.5, -24, -2.5, -1, 0, 1, 2.5, 24, 72, 200]


async def _desk(ws: WS, rng: random.Random, n: int) -> list[int]:
    """``n`` tickets of ``ws`` made through the API, then given varied facts."""
    customer = await ws.person("customer")
    agent = await ws.person("agent", groups=["Billing"])
    ids = []
    for i in range(n):
        async with ws.client(customer) as c:
            r = await c.post("/tickets", json={"subject": f"Ticket {i}", "body": "Hello"})
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["id"]))
    async with ws.platform.db.transaction() as uow:
        orgs = []
        for attrs in ATTRIBUTES:
            orgs.append(
                (
                    await uow.execute(
                        orgs_t.insert()
                        .values(workspace_id=ws.id, name=f"Org {len(orgs)}", attributes=attrs)
                        .returning(orgs_t.c.id)
                    )
                ).scalar_one()
            )
        for tid in ids:
            custom = {k: rng.choice(v) for k, v in STORED.items() if rng.random() < 0.7}

            def when(past: bool = True) -> datetime:
                hours = rng.choice([h for h in OFFSETS if h <= 0] if past else OFFSETS)
                return NOW + timedelta(hours=hours)

            await uow.execute(
                tickets_t.update()
                .where(tickets_t.c.id == tid)
                .values(
                    priority=rng.choice([p.value for p in Priority]),
                    status=rng.choice([s.value for s in Status]),
                    type=rng.choice([None, *(t.value for t in TicketType)]),
                    channel=rng.choice([c.value for c in Channel]),
                    group_id=rng.choice([None, ws.groups["Billing"]]),
                    assignee_id=rng.choice([None, agent.user_id]),
                    organization_id=rng.choice([None, *orgs]),
                    custom=custom,
                    created_at=when(),
                    updated_at=when(),
                    solved_at=rng.choice([None, when()]),
                )
            )
            due = rng.choice([None, when(past=False)])
            if rng.random() < 0.8:
                await uow.execute(
                    sla_t.insert().values(
                        ticket_id=tid,
                        workspace_id=ws.id,
                        next_due_at=due,
                        breached=False,
                        facts={},
                    )
                )
            for tag in rng.sample(TAGS, rng.randint(0, 3)):
                await uow.execute(tags_t.insert().values(ticket_id=tid, tag=tag, workspace_id=ws.id))
    return ids


def _values(spec: conditions.FieldSpec, ids: list[int]) -> st.SearchStrategy[Any]:
    return {
        "enum": st.sampled_from(spec.choices or ("x",)),
        "id": st.sampled_from([*ids, 999_999]),
        "tags": st.sampled_from(TAGS),
        "text": st.sampled_from(TEXTS),
        "number": st.sampled_from(NUMBERS),
        "date": st.sampled_from(DATES),
        "bool": st.booleans(),
        "hours": st.sampled_from(HOURS),
    }[spec.kind]


@st.composite
def _condition(draw: Any, ids: list[int]) -> dict[str, Any]:
    named = [f for f in conditions.FIELDS if f not in conditions.TRIGGER]  # no SQL for a change's facts
    field = draw(st.sampled_from([*named, *(conditions.CUSTOM_PREFIX + k for k in CUSTOM)]))
    spec = conditions.spec_of(field, CUSTOM)
    assert spec is not None
    op = draw(st.sampled_from(conditions.OPERATORS[spec.kind]))
    values = _values(spec, ids)
    if op in conditions.NO_VALUE:
        value = None
    elif op in conditions.LIST_VALUE:
        value = draw(st.lists(values, min_size=1, max_size=3))
    else:
        value = draw(values)
    return {"field": field, "operator": op, "value": value}


def _sets(ids: list[int], n: int) -> list[dict[str, Any]]:
    """``n`` condition sets drawn by hypothesis (the same ones on every run)."""
    out: list[dict[str, Any]] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.fixed_dictionaries(
            {
                "all": st.lists(_condition(ids), max_size=3),
                "any": st.lists(_condition(ids), max_size=2),
            }
        )
    )
    def collect(found: dict[str, Any]) -> None:
        out.append(found)

    collect()
    return out


async def test_sql_selects_exactly_the_tickets_matches_accepts_and_only_its_workspaces(
    ws: WS, make_ws
) -> None:
    rng = random.Random(14)
    mine = await _desk(ws, rng, 24)
    other = await make_ws("Other desk")
    theirs = await _desk(other, rng, 8)
    async with ws.platform.db.read() as conn:
        facts = await policy.ticket_facts(conn, mine, timed=True)
    people = sorted({f[k] for f in facts.values() for k in ("requester_id", "assignee_id") if f[k]})
    groups = sorted({f["group_id"] for f in facts.values() if f["group_id"]})
    checked = 0
    for raw in _sets([*people, *groups, *theirs[:1]], 300):
        valid = conditions.validate(raw, custom_fields=CUSTOM, timed=True)
        expected = {t for t, f in facts.items() if conditions.matches(valid, f, NOW)}
        query = sa.select(tickets_t.c.id).where(
            conditions_sql.where(valid, workspace_id=ws.id, dialect=ws.platform.db.dialect, now=NOW)
        )
        async with ws.platform.db.read() as conn:
            got = set((await conn.execute(query)).scalars())
        assert got == expected, json.dumps(valid)
        checked += 1 if expected else 0
    assert checked > 50  # most sets selected something: the comparison was not only of empty sets


async def test_an_empty_set_is_every_ticket_of_the_workspace_and_no_other(ws: WS, make_ws) -> None:
    rng = random.Random(7)
    mine = await _desk(ws, rng, 3)
    await _desk(await make_ws("Other desk"), rng, 3)
    query = sa.select(tickets_t.c.id).where(
        conditions_sql.where({"all": [], "any": []}, workspace_id=ws.id, dialect=ws.platform.db.dialect)
    )
    async with ws.platform.db.read() as conn:
        assert set((await conn.execute(query)).scalars()) == set(mine)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_HOSTILE = st.sampled_from(
    [
        "is",
        "in",
        "contains",
        "' OR 1=1 --",
        "custom.plan' OR '1'='1",
        "custom.",
        "custom.__class__",
        "tags; DROP TABLE tickets",
        "%",
        "\x00",
        "gte",
        "includes_all",
    ]
)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries(
            {
                "all": st.lists(
                    st.fixed_dictionaries(
                        {
                            "field": _HOSTILE | st.sampled_from([*conditions.FIELDS, "custom.seats"]) | _JSON,
                            "operator": _HOSTILE | _JSON,
                            "value": _JSON | _HOSTILE,
                        }
                    ),
                    max_size=3,
                )
            }
        ),
    )
)
def test_hostile_condition_sets_are_refused_with_the_part_named_or_compile(raw: Any) -> None:
    try:
        valid = conditions.validate(raw, custom_fields=CUSTOM, timed=True)
    except Invalid as e:
        assert e.errors and str(e.errors[0]["field"]).startswith("conditions"), e.errors
        return
    for dialect in ("sqlite", "postgresql"):
        conditions_sql.where(valid, workspace_id=1, dialect=dialect)


def test_timed_fields_are_refused_where_a_set_is_matched_once_per_event() -> None:
    raw = {"all": [{"field": "hours_since_created", "operator": "gt", "value": 72}]}
    try:
        conditions.validate(raw, custom_fields={})
    except Invalid as e:
        assert e.errors[0]["field"] == "conditions.all[0].field"
        assert "changes with the clock" in e.errors[0]["message"]
    else:
        raise AssertionError("a timed field was accepted without timed=True")
    assert conditions.validate(raw, custom_fields={}, timed=True)["all"][0]["value"] == 72
