"""Articles and categories: create, change, delete, attach files (a new article starts as a draft)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import content, index
from helpline.domains.knowledge.models import Visibility
from helpline.domains.knowledge.service._common import (
    ArticleInput,
    article,
    articles,
    categories,
    check_publisher,
    check_section,
    check_writer,
    clean,
    files,
    translations,
)
from helpline.domains.knowledge.service._versions import do_save_translation
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork


async def do_create_category(
    uow: UnitOfWork,
    actor: Principal,
    name: str,
    *,
    parent_id: int | None = None,
    description: str = "",
    slug: str = "",
    position: int = 0,
    translations_: dict[str, Any] | None = None,
) -> int:
    check_writer(actor)
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise Invalid("name", "enter a name of at most 200 characters")
    await check_section(uow, actor.workspace_id, parent_id)
    base = slug or content.slugify(name)
    taken: set[str] = set(
        (
            await uow.execute(
                sa.select(categories.c.slug).where(
                    categories.c.workspace_id == actor.workspace_id, categories.c.slug.like(f"{base}%")
                )
            )
        ).scalars()
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return int(
        (
            await uow.execute(
                categories.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    parent_id=parent_id,
                    slug=slug,
                    name=name,
                    description=description[:2000],
                    position=position,
                    translations=translations_ or {},
                    created_at=utcnow(),
                )
                .returning(categories.c.id)
            )
        ).scalar_one()
    )


async def do_create_article(
    uow: UnitOfWork, actor: Principal, data: ArticleInput, *, source_ticket_id: int | None = None
) -> int:
    """A new article with its first translation (a draft, version 1)."""
    check_writer(actor)
    data = clean(data)
    await check_section(uow, actor.workspace_id, data.section_id)
    now = utcnow()
    article_id = int(
        (
            await uow.execute(
                articles.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    section_id=data.section_id,
                    visibility=data.visibility,
                    default_locale=data.locale,
                    tags=data.tags,
                    related_ids=[],
                    position=0,
                    view_count=0,
                    helpful_yes=0,
                    helpful_no=0,
                    source_ticket_id=source_ticket_id,
                    created_by=actor.user_id,
                    created_at=now,
                    updated_at=now,
                )
                .returning(articles.c.id)
            )
        ).scalar_one()
    )
    await do_save_translation(uow, actor, article_id, data)
    return article_id


async def do_update_article(
    uow: UnitOfWork,
    actor: Principal,
    article_id: int,
    *,
    visibility: str | None = None,
    section_id: int | str | None = "keep",
    tags: list[str] | None = None,
    related_ids: list[int] | None = None,
) -> None:
    check_writer(actor)
    await article(uow, actor, article_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if visibility is not None:
        if visibility not in (Visibility.public.value, Visibility.internal.value):
            raise Invalid("visibility", "public or internal")
        values["visibility"] = visibility
    if section_id != "keep":
        await check_section(uow, actor.workspace_id, section_id if isinstance(section_id, int) else None)
        values["section_id"] = section_id
    if tags is not None:
        values["tags"] = sorted({t.strip().lower()[:50] for t in tags if t.strip()})[:20]
    if related_ids is not None:
        mine: set[int] = set(
            (
                await uow.execute(
                    sa.select(articles.c.id).where(
                        articles.c.workspace_id == actor.workspace_id, articles.c.id.in_(related_ids)
                    )
                )
            ).scalars()
        )
        values["related_ids"] = [i for i in dict.fromkeys(related_ids) if i in mine and i != article_id][:10]
    # No search rows to rewrite: the index stores none of these columns (see the module's docstring);
    # the new ``updated_at`` is what tells search's in-memory corpus to reload.
    await uow.execute(articles.update().where(articles.c.id == article_id).values(**values))


async def do_delete_article(uow: UnitOfWork, actor: Principal, article_id: int) -> None:
    check_publisher(actor)
    await article(uow, actor, article_id)
    tids: list[int] = list(
        (
            await uow.execute(sa.select(translations.c.id).where(translations.c.article_id == article_id))
        ).scalars()
    )
    await uow.execute(
        translations.update()
        .where(translations.c.article_id == article_id)
        .values(published_version_id=None, updated_at=utcnow())
    )
    await index.index_translations(uow, tids)
    await uow.execute(articles.delete().where(articles.c.id == article_id))


async def do_add_file(
    uow: UnitOfWork,
    actor: Principal,
    article_id: int,
    *,
    sha256: str,
    filename: str,
    content_type: str,
    size: int,
) -> int:
    check_writer(actor)
    await article(uow, actor, article_id)
    return int(
        (
            await uow.execute(
                files.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    article_id=article_id,
                    sha256=sha256,
                    filename=filename,
                    content_type=content_type,
                    size=size,
                    created_at=utcnow(),
                )
                .returning(files.c.id)
            )
        ).scalar_one()
    )
