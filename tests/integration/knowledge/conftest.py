"""Knowledge-base fixtures: principals of a workspace and a helper that writes and publishes articles
through the service (the same path the console takes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import embed
from helpline.domains.knowledge import service as kb


def principal(person: Any, ws: Any) -> Principal:
    return Principal(
        user_id=person.user_id,
        workspace_id=ws.id,
        role=person.role,
        email=person.email,
        name=person.email.split("@")[0],
        contact_id=person.contact_id,
    )


class KB:
    def __init__(self, ws: Any, admin: Principal) -> None:
        self.ws, self.admin = ws, admin

    async def article(
        self,
        title: str,
        body: str,
        *,
        visibility: str = "public",
        publish: bool = True,
        locale: str = "en",
        section_id: int | None = None,
        description: str = "",
    ) -> int:
        async with self.ws.platform.db.transaction() as uow:
            aid = await kb.do_create_article(
                uow, self.admin, kb.ArticleInput(title, body, locale, description, section_id, visibility)
            )
            if publish:
                await kb.do_set_state(uow, self.admin, aid, locale, "published")
        return aid

    async def translate(self, aid: int, locale: str, title: str, body: str, *, publish: bool = True) -> None:
        async with self.ws.platform.db.transaction() as uow:
            await kb.do_save_translation(uow, self.admin, aid, kb.ArticleInput(title, body, locale))
            if publish:
                await kb.do_set_state(uow, self.admin, aid, locale, "published")


@pytest.fixture
async def kbase(ws: Any) -> KB:
    admin = await ws.person(Role.admin)
    return KB(ws, principal(admin, ws))


def need_semantic() -> None:
    why = embed.unavailable()
    if why is not None:
        pytest.skip(f"semantic search not tested: {why}")


def anonymous(ws: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")


async def slug_of(ws: Any) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})).scalar()
        )


@contextmanager
def statements(ws: Any) -> Iterator[list[tuple[str, Any, bool]]]:
    """Every SQL statement (text, parameters, executemany) the workspace's database runs inside the
    block, as the driver is handed it (SQLAlchemy's ``before_cursor_execute``), each once.

    "Once" is per execution context (asyncpg's dialect hands one statement to the cursor twice, to
    prepare it and to run it). Each context is kept alive in ``seen`` until the block ends: the id of
    a freed context is soon the id of a later one, which would then overwrite the earlier statement,
    and a count would depend on when the garbage collector ran (a ticket page's one search went
    missing that way in a full run)."""
    seen: dict[int, tuple[Any, str, Any, bool]] = {}

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen[id(context)] = (context, statement, parameters, many)

    db = ws.platform.db
    engines = {db.writer.sync_engine, db.reader.sync_engine}
    for e in engines:
        sa.event.listen(e, "before_cursor_execute", record)
    out: list[tuple[str, Any, bool]] = []
    try:
        yield out
    finally:
        for e in engines:
            sa.event.remove(e, "before_cursor_execute", record)
        out.extend((statement, parameters, many) for _, statement, parameters, many in seen.values())
