"""The HTTP routes every kind of rule has (``/api/v1/time-rules``, ``/api/v1/triggers``): list in
order, create, read, change, delete, set the order. The rules are the kind's ``RuleBook``'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from helpline.domains.automation.rule_book import RuleBook, RuleChanges
from helpline.domains.automation.schemas import TimeRuleCreate, TimeRuleOrder, TimeRuleRead, TimeRuleUpdate
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath


def changes(body: TimeRuleCreate | TimeRuleUpdate) -> RuleChanges:
    """The fields the client sent, as plain JSON values."""
    sent: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    return RuleChanges(**{k: sent[k] for k in RuleChanges.__dataclass_fields__ if k in sent})


def rule_routes(router: APIRouter, book: RuleBook, path: str, *, create_note: str = "") -> None:
    """Add ``path``'s routes for ``book``'s rules to ``router``."""
    noun, nouns = book.noun, f"{book.noun}s"

    @router.get(path, response_model=list[TimeRuleRead], summary=f"The {nouns} in the order they run")
    async def list_rules(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
        async with platform.db.read() as conn:
            return JSON(await book.list_rules(conn, actor))

    @router.post(
        path,
        status_code=201,
        response_model=TimeRuleRead,
        summary=f"Create a {noun} (admins)",
        description=create_note,
    )
    async def create_rule(body: TimeRuleCreate, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
        async with platform.db.transaction() as uow:
            rule_id = await book.do_create(uow, actor, changes(body))
            item = await book.access_rule(uow.conn, actor, rule_id)
        return JSON(item, status_code=201, headers={"Location": f"/api/v1{path}/{rule_id}"})

    @router.post(
        f"{path}/order", response_model=list[TimeRuleRead], summary=f"Set the order {nouns} run in (admins)"
    )
    async def order_rules(body: TimeRuleOrder, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
        async with platform.db.transaction() as uow:
            await book.do_reorder(uow, actor, body.ids)
            return JSON(await book.list_rules(uow.conn, actor))

    @router.get(f"{path}/{{rule_id}}", response_model=TimeRuleRead, summary=f"One {noun}")
    async def get_rule(rule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
        async with platform.db.read() as conn:
            return JSON(await book.access_rule(conn, actor, rule_id))

    @router.patch(f"{path}/{{rule_id}}", response_model=TimeRuleRead, summary=f"Change a {noun} (admins)")
    async def update_rule(
        rule_id: IdPath, body: TimeRuleUpdate, actor: CurrentPrincipal, platform: PlatformDep
    ) -> JSON:
        async with platform.db.transaction() as uow:
            await book.do_update(uow, actor, rule_id, changes(body))
            return JSON(await book.access_rule(uow.conn, actor, rule_id))

    @router.delete(f"{path}/{{rule_id}}", status_code=204, summary=f"Delete a {noun} (admins)")
    async def delete_rule(rule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
        async with platform.db.transaction() as uow:
            await book.do_delete(uow, actor, rule_id)
        return Response(status_code=204)

    for fn in (list_rules, create_rule, order_rules, get_rule, update_rule, delete_rule):
        fn.__name__ = f"{fn.__name__}_{path.strip('/').replace('-', '_')}"  # unique operation ids
