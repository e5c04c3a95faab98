"""Knowledge-base fixtures: principals of a workspace and a helper that writes and publishes articles
through the service (the same path the console takes)."""

from __future__ import annotations

from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from helpline.domains.knowledge import embed
from helpline.domains.knowledge import service as kb
from helpline.web.principal import Principal


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
