"""Versions and translations: every save is a new version; the review step and publishing decide what
customers read, and only publishing or unpublishing rewrites a translation's search rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import content, index
from helpline.domains.knowledge.models import State
from helpline.domains.knowledge.service._common import (
    ArticleInput,
    article,
    check_publisher,
    check_writer,
    clean,
    translations,
    versions,
)
from helpline.errors import Invalid, NotFound
from helpline.platform.db import UnitOfWork


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


async def do_save_translation(uow: UnitOfWork, actor: Principal, article_id: int, data: ArticleInput) -> int:
    """Save ``data`` as the newest version of the article's ``data.locale`` text (created if new). A
    published text stays live as it was; the working copy becomes a draft until published again."""
    check_writer(actor)
    data = clean(data)
    await article(uow, actor, article_id)
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
    await article(uow, actor, article_id)
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
