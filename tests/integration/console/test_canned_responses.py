"""Canned responses: placeholders filled safely (render.fill), who sees which (queries.canned_for), and
the checks made when one is saved (service)."""

from __future__ import annotations

import pytest

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import queries, render, service
from helpline.domains.automation.service import CannedInput
from helpline.errors import Conflict, Forbidden, Invalid


def _principal(p, role: Role, group_ids=()) -> Principal:
    return Principal(
        user_id=p.user_id,
        workspace_id=p.workspace_id,
        role=role,
        email=p.email,
        name="X",
        group_ids=frozenset(group_ids),
    )


# --- render.fill --------------------------------------------------------------------------------


def test_fill_replaces_every_documented_placeholder():
    body = (
        "Hi {{ customer.first_name }} ({{ customer.name }}, {{ customer.email }}), "
        'about #{{ ticket.number }} "{{ ticket.subject }}": {{ agent.first_name }} / {{ agent.name }}'
    )
    out = render.fill(
        body,
        customer={"name": "Ada Lovelace", "email": "ada@example.test"},
        ticket={"number": 42, "subject": "Printer on fire"},
        agent=Principal(user_id=1, workspace_id=1, role=Role.agent, email="b@x.test", name="Bob Stone"),
    )
    assert out == ('Hi Ada (Ada Lovelace, ada@example.test), about #42 "Printer on fire": Bob / Bob Stone')


def test_fill_leaves_unknown_placeholders_as_written_and_missing_values_empty():
    # An unknown placeholder stays visible, so the agent sees the mistake before sending.
    out = render.fill("[{{ customer.shoe_size }}][{{ nobody.at.all }}][{{ ticket.number }}]")
    assert out == "[{{ customer.shoe_size }}][{{ nobody.at.all }}][]"
    out = render.fill("Hi {{ticket.requester.first_name}}", customer={"name": "Nora Berg"})
    assert out == "Hi Nora"
    assert render.fill("Hi {{ customer.first_name|default('there') }}", customer=None) == "Hi there"


def test_fill_output_is_plain_text_and_values_are_not_templates():
    # Autoescape is off (the text goes into a textarea, escaped by the page); a value that looks like a
    # template is data, never run.
    out = render.fill("{{ customer.name }}", customer={"name": "<b>{{ 7*7 }}</b> & co"})
    assert out == "<b>{{ 7*7 }}</b> & co"


@pytest.mark.parametrize(
    "body",
    [
        "{{ customer.__class__.__mro__ }}",
        "{{ customer.items }}",
        "{{ customer._name }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ customer.name.__class__ }}",
    ],
)
def test_fill_reaches_no_python_internals(body):
    assert render.fill(body, customer={"name": "Ada"}) == body  # shown as written, never evaluated


@pytest.mark.parametrize(
    "body",
    [
        "{{ customer.name ",  # syntax error
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",  # runs forever
        "{{ ''.__class__ }}",  # attributes of anything but a placeholder
        "{{ customer.name|attr('__class__') }}",  # filters other than the listed ones
        "{{ lipsum() }}",  # calls
        "{{ 'a' * 1000000 }}",  # expressions
        "{% set x = 1 %}",
    ],
)
def test_check_refuses_anything_but_placeholders(body):
    with pytest.raises(render.PlaceholderError):
        render.check(body)
    # and fill shows such a body as written instead of running it
    assert render.fill(body) == body


def test_check_error_names_the_line():
    with pytest.raises(render.PlaceholderError, match="line 2"):
        render.check("Hello\n{{ customer.first_name }")


# --- canned_for and the service -------------------------------------------------------------------


async def test_canned_for_scopes_by_group_and_workspace(ws, make_ws):
    admin = await ws.person(Role.admin)
    billing_agent = await ws.person(Role.agent, groups=["Billing"])
    other_agent = await ws.person(Role.agent, groups=["Shipping"])
    other_ws = await make_ws("Other")
    stranger = await other_ws.person(Role.admin)
    a = _principal(admin, Role.admin)
    async with ws.platform.db.transaction() as uow:
        everyone = await service.do_create_canned(
            uow, a, CannedInput("Greeting", "Hi {{ customer.first_name }}")
        )
        billing = await service.do_create_canned(
            uow, a, CannedInput("Refund", "Refunded #{{ ticket.number }}", group_id=ws.groups["Billing"])
        )
    async with ws.platform.db.read() as conn:
        for_admin = await queries.canned_for(conn, a)
        billing_p = _principal(billing_agent, Role.agent, [ws.groups["Billing"]])
        other_p = _principal(other_agent, Role.agent, [ws.groups["Shipping"]])
        for_billing = await queries.canned_for(conn, billing_p)
        for_other = await queries.canned_for(conn, other_p)
        for_stranger = await queries.canned_for(conn, _principal(stranger, Role.admin))
        customer = Principal(
            user_id=admin.user_id, workspace_id=ws.id, role=Role.customer, email="c@x.test", name="C"
        )
        for_customer = await queries.canned_for(conn, customer)
    assert for_admin == [
        {"id": everyone, "title": "Greeting", "body": "Hi {{ customer.first_name }}"},
        {"id": billing, "title": "Refund", "body": "Refunded #{{ ticket.number }}"},
    ]
    assert [c["id"] for c in for_billing] == [everyone, billing]
    assert [c["id"] for c in for_other] == [everyone]
    assert for_stranger == [] and for_customer == []


async def test_service_validates_and_only_admins_write(ws, make_ws):
    admin = _principal(await ws.person(Role.admin), Role.admin)
    agent = _principal(await ws.person(Role.agent), Role.agent)
    other = await make_ws("Other")
    await other.person(Role.agent, groups=["Theirs"])
    foreign_group = other.groups["Theirs"]
    async with ws.platform.db.transaction() as uow:
        first = await service.do_create_canned(uow, admin, CannedInput("  Thanks  ", "Thanks!"))
    async with ws.platform.db.transaction() as uow:
        with pytest.raises(Forbidden):
            await service.do_create_canned(uow, agent, CannedInput("Mine", "x"))
        with pytest.raises(Invalid) as bad:
            await service.do_create_canned(uow, admin, CannedInput("Broken", "Hi {{ customer.name"))
        assert bad.value.errors[0]["field"] == "body" and "syntax error" in bad.value.errors[0]["message"]
        with pytest.raises(Invalid) as no_title:
            await service.do_create_canned(uow, admin, CannedInput("   ", "x"))
        assert no_title.value.errors[0]["field"] == "title"
        with pytest.raises(Invalid) as group:
            await service.do_create_canned(uow, admin, CannedInput("G", "x", group_id=foreign_group))
        assert group.value.errors[0]["field"] == "group_id"
        with pytest.raises(Conflict):
            await service.do_create_canned(uow, admin, CannedInput("Thanks", "again"))
    async with ws.platform.db.transaction() as uow:
        current = await queries.access_canned(uow.conn, admin, first)
        assert current["title"] == "Thanks"
        changed = CannedInput("Thanks a lot", "Thanks, {{ agent.name }}")
        await service.do_update_canned(uow, admin, current, changed)
    async with ws.platform.db.transaction() as uow:
        current = await queries.access_canned(uow.conn, admin, first)
        assert (current["title"], current["body"]) == ("Thanks a lot", "Thanks, {{ agent.name }}")
        await service.do_delete_canned(uow, admin, current)
    async with ws.platform.db.read() as conn:
        assert await queries.canned_for(conn, admin) == []
