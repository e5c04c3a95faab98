"""Writes of the knowledge base. ``check_*`` validate and authorize, ``do_*`` write.

Who may do what: admins and agents write articles and categories, save versions, submit for review
and restore; **only admins publish or unpublish** (the review step); light agents and customers
write nothing here. Every save is a new version; customers keep reading the published version until
an admin publishes a newer one.

The search index holds each translation's *published* text only (``index.index_translations``), so
only what changes that text rewrites (and, with the ``ai`` extra, re-embeds) a translation's search
rows, in the same transaction: publishing it, unpublishing it, deleting the article. Saving a version
changes no published text and rewrites nothing; neither does a change of visibility, section, tags or
related articles, which the index does not store (search joins ``kb_articles`` for visibility, and
the in-memory corpus reloads when ``kb_articles.updated_at`` changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import content, index
from helpline.domains.knowledge.models import (
    Article,
    Category,
    KbFile,
    State,
    Translation,
    Version,
    Visibility,
)  # fmt: skip
from helpline.errors import Forbidden, Invalid, NotFound
from helpline.platform.db import UnitOfWork

articles = Article.__table__
translations = Translation.__table__
versions = Version.__table__
categories = Category.__table__
files = KbFile.__table__

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_BODY = 200_000


@dataclass
class ArticleInput:
    title: str
    body_md: str = ""
    locale: str = "en"
    description: str = ""
    section_id: int | None = None
    visibility: str = Visibility.public.value
    tags: list[str] = field(default_factory=list)
    note: str = ""


def check_writer(actor: Principal) -> None:
    if not actor.is_staff or not actor.can_edit_tickets:
        raise Forbidden("only admins and agents write knowledge-base articles")


def check_publisher(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins publish or unpublish articles; submit it for review instead")


def _clean(data: ArticleInput) -> ArticleInput:
    title = " ".join(data.title.split())
    if not title:
        raise Invalid("title", "enter a title")
    if len(title) > 300:
        raise Invalid("title", "at most 300 characters")
    body = data.body_md.replace("\r\n", "\n")
    if len(body) > MAX_BODY:
        raise Invalid("body_md", f"at most {MAX_BODY:,} characters")
    if "\x00" in title + body + data.description:
        raise Invalid("body_md", "the text holds a NUL character")
    if not LOCALE.match(data.locale):
        raise Invalid("locale", "a language code such as en, fr or pt-BR")
    if data.visibility not in (Visibility.public.value, Visibility.internal.value):
        raise Invalid("visibility", "public or internal")
    tags = sorted({t.strip().lower()[:50] for t in data.tags if t.strip()})[:20]
    description = " ".join(data.description.split())[:300]
    return ArticleInput(
        title, body, data.locale, description, data.section_id, data.visibility, tags, data.note[:300]
    )


async def _check_section(uow: UnitOfWork, workspace_id: int, section_id: int | None) -> None:
    if section_id is None:
        return
    found = (
        await uow.execute(
            sa.select(categories.c.id).where(
                categories.c.id == section_id, categories.c.workspace_id == workspace_id
            )
        )
    ).first()
    if found is None:
        raise Invalid("section_id", "no such section")


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
    await _check_section(uow, actor.workspace_id, parent_id)
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


async def _new_version(
    uow: UnitOfWork,
    actor: Principal,
    translation_id: int,
    title: str,
    description: str,
    body_md: str,
    note: str,
) -> int:
    number = (
        await uow.execute(
            sa.select(sa.func.coalesce(sa.func.max(versions.c.number), 0)).where(
                versions.c.translation_id == translation_id
            )
        )
    ).scalar_one() + 1
    html, text = content.render_markdown(body_md)
    return int(
        (
            await uow.execute(
                versions.insert()
                .values(
                    translation_id=translation_id,
                    number=number,
                    title=title,
                    description=description,
                    body_md=body_md,
                    body_html=html,
                    body_text=text,
                    note=note,
                    created_by=actor.user_id,
                    created_at=utcnow(),
                )
                .returning(versions.c.id)
            )
        ).scalar_one()
    )


async def do_create_article(
    uow: UnitOfWork, actor: Principal, data: ArticleInput, *, source_ticket_id: int | None = None
) -> int:
    """A new article with its first translation (a draft, version 1)."""
    check_writer(actor)
    data = _clean(data)
    await _check_section(uow, actor.workspace_id, data.section_id)
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


async def _article(uow: UnitOfWork, actor: Principal, article_id: int) -> Any:
    row = (
        await uow.execute(
            sa.select(articles).where(
                articles.c.id == article_id, articles.c.workspace_id == actor.workspace_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("no such article")
    return row


async def do_save_translation(uow: UnitOfWork, actor: Principal, article_id: int, data: ArticleInput) -> int:
    """Save ``data`` as the newest version of the article's ``data.locale`` text (created if new). A
    published text stays live as it was; the working copy becomes a draft until published again."""
    check_writer(actor)
    data = _clean(data)
    await _article(uow, actor, article_id)
    now = utcnow()
    row = (
        await uow.execute(
            sa.select(translations.c.id).where(
                translations.c.article_id == article_id, translations.c.locale == data.locale
            )
        )
    ).first()
    if row is None:
        tid = int(
            (
                await uow.execute(
                    translations.insert()
                    .values(
                        article_id=article_id,
                        workspace_id=actor.workspace_id,
                        locale=data.locale,
                        title=data.title,
                        slug=content.slugify(data.title),
                        description=data.description,
                        body_md=data.body_md,
                        state=State.draft.value,
                        updated_by=actor.user_id,
                        updated_at=now,
                    )
                    .returning(translations.c.id)
                )
            ).scalar_one()
        )
    else:
        tid = int(row[0])
        await uow.execute(
            translations.update()
            .where(translations.c.id == tid)
            .values(
                title=data.title,
                description=data.description,
                body_md=data.body_md,
                state=State.draft.value,
                updated_by=actor.user_id,
                updated_at=now,
            )
        )
    await _new_version(uow, actor, tid, data.title, data.description, data.body_md, data.note)
    return tid


async def do_set_state(uow: UnitOfWork, actor: Principal, article_id: int, locale: str, state: str) -> None:
    """``review`` (submit the working copy), ``published`` (publish its newest version) or ``draft``
    (unpublish: customers no longer see this text)."""
    if state == State.review.value:
        check_writer(actor)
    else:
        check_publisher(actor)
    await _article(uow, actor, article_id)
    row = (
        await uow.execute(
            sa.select(translations.c.id, translations.c.title, translations.c.published_version_id).where(
                translations.c.article_id == article_id, translations.c.locale == locale
            )
        )
    ).first()
    if row is None:
        raise NotFound("the article has no text in this language")
    tid, now, was_live = int(row[0]), utcnow(), row[2] is not None
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if state == State.published.value:
        latest: int = (
            await uow.execute(
                sa.select(versions.c.id)
                .where(versions.c.translation_id == tid)
                .order_by(versions.c.number.desc())
                .limit(1)
            )
        ).scalar_one()
        values.update(published_version_id=latest, published_at=now, slug=content.slugify(row[1]))
    elif state == State.draft.value:
        values.update(published_version_id=None)
    elif state != State.review.value:
        raise Invalid("state", "draft, review or published")
    await uow.execute(translations.update().where(translations.c.id == tid).values(**values))
    # Only a change of the published text touches the index: publishing (re-publishing the same
    # version rebuilds it too, which is how vectors reach texts published before the ``ai`` extra was
    # installed) and unpublishing a live text; submitting for review changes nothing customers read.
    if state == State.published.value or (state == State.draft.value and was_live):
        await index.index_translations(uow, [tid])


async def do_restore(uow: UnitOfWork, actor: Principal, version_id: int) -> int:
    """Make an old version the newest one again (as a new version; history is never rewritten)."""
    check_writer(actor)
    old = (
        (
            await uow.execute(
                sa.select(versions, translations.c.article_id, translations.c.locale)
                .select_from(versions.join(translations, translations.c.id == versions.c.translation_id))
                .where(versions.c.id == version_id, translations.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if old is None:
        raise NotFound("no such version")
    return await do_save_translation(
        uow,
        actor,
        old["article_id"],
        ArticleInput(
            old["title"],
            old["body_md"],
            old["locale"],
            old["description"],
            note=f"restored version {old['number']}",
        ),
    )


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
    await _article(uow, actor, article_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if visibility is not None:
        if visibility not in (Visibility.public.value, Visibility.internal.value):
            raise Invalid("visibility", "public or internal")
        values["visibility"] = visibility
    if section_id != "keep":
        await _check_section(uow, actor.workspace_id, section_id if isinstance(section_id, int) else None)
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
    await _article(uow, actor, article_id)
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
    await _article(uow, actor, article_id)
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
