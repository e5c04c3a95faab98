"""Writes of the automation domain: canned responses.

``check_canned`` validates and authorizes (admins only); ``do_*`` write. A body is checked as a
placeholder template when it is saved (:func:`helpline.domains.automation.render.check`), so a
broken one never reaches an agent's reply box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import render
from helpline.domains.automation.models import CannedResponse
from helpline.errors import Conflict, Forbidden, Invalid
from helpline.platform.db import UnitOfWork

canned: sa.Table = CannedResponse.__table__
groups: sa.Table = Group.__table__

MAX_TITLE = 200
_TITLE_TAKEN = [{"field": "title", "message": "another canned response has this title"}]


@dataclass(frozen=True)
class CannedInput:
    """A canned response as an admin typed it (a form or a JSON body)."""

    title: str
    body: str
    group_id: int | None = None


def check_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage canned responses")


async def check_canned(
    uow: UnitOfWork, actor: Principal, data: CannedInput, *, current_id: int | None = None
) -> CannedInput:
    """The input cleaned, or :class:`Invalid` / :class:`Conflict` naming the field at fault."""
    check_admin(actor)
    title = data.title.strip()
    if not title:
        raise Invalid("title", "enter a title")
    if len(title) > MAX_TITLE:
        raise Invalid("title", f"at most {MAX_TITLE} characters")
    body = data.body.replace("\r\n", "\n")
    if not body.strip():
        raise Invalid("body", "enter the text of the response")
    if len(body) > render.MAX_BODY:
        raise Invalid("body", f"at most {render.MAX_BODY:,} characters")
    if "\x00" in title or "\x00" in body:
        raise Invalid("body" if "\x00" in body else "title", "must not contain the NUL character")
    try:
        render.check(body)
    except render.PlaceholderError as exc:
        raise Invalid("body", str(exc)) from None
    if data.group_id is not None:
        found = (
            await uow.execute(
                sa.select(groups.c.id).where(
                    groups.c.id == data.group_id, groups.c.workspace_id == actor.workspace_id
                )
            )
        ).first()
        if found is None:
            raise Invalid("group_id", "no such group")
    dup = sa.select(canned.c.id).where(canned.c.workspace_id == actor.workspace_id, canned.c.title == title)
    if current_id is not None:
        dup = dup.where(canned.c.id != current_id)
    if (await uow.execute(dup)).first():
        raise Conflict(f"a canned response titled {title!r} exists", errors=_TITLE_TAKEN)
    return CannedInput(title=title, body=body, group_id=data.group_id)


async def _unique_title(uow: UnitOfWork, stmt: Any) -> Any:
    try:
        async with uow.conn.begin_nested():
            return await uow.execute(stmt)
    except IntegrityError:  # another request saved the same title between our check and this write
        raise Conflict("title: taken by a request that ran at the same time", errors=_TITLE_TAKEN) from None


async def do_create_canned(uow: UnitOfWork, actor: Principal, data: CannedInput) -> int:
    clean = await check_canned(uow, actor, data)
    now = utcnow()
    result = await _unique_title(
        uow,
        canned.insert()
        .values(
            workspace_id=actor.workspace_id,
            title=clean.title,
            body=clean.body,
            group_id=clean.group_id,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        .returning(canned.c.id),
    )
    return int(result.scalar_one())


async def do_update_canned(
    uow: UnitOfWork, actor: Principal, current: dict[str, Any], data: CannedInput
) -> None:
    """Change a canned response loaded with :func:`helpline.domains.automation.queries.access_canned`."""
    clean = await check_canned(uow, actor, data, current_id=current["id"])
    await _unique_title(
        uow,
        canned.update()
        .where(
            canned.c.id == current["id"],
            canned.c.workspace_id == actor.workspace_id,
        )
        .values(title=clean.title, body=clean.body, group_id=clean.group_id, updated_at=utcnow()),
    )


async def do_delete_canned(uow: UnitOfWork, actor: Principal, current: dict[str, Any]) -> None:
    check_admin(actor)
    await uow.execute(
        canned.delete().where(canned.c.id == current["id"], canned.c.workspace_id == actor.workspace_id)
    )
