"""Staff reads: everything of their own workspace, drafts and internal articles included."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge.queries._common import articles, files, translations, versions
from helpline.errors import Forbidden, NotFound


def require_staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden("only the team can read the knowledge base's drafts and internal articles")


async def access_article(conn: AsyncConnection, actor: Principal, article_id: int) -> dict[str, Any]:
    """An article of the actor's workspace with every translation's working copy (staff only)."""
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(articles).where(
                    articles.c.id == article_id, articles.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such article")
    out = dict(row)
    out["translations"] = {
        r["locale"]: dict(r)
        for r in (
            await conn.execute(
                sa.select(translations)
                .where(translations.c.article_id == article_id)
                .order_by(translations.c.locale)
            )
        ).mappings()
    }
    out["files"] = [
        dict(r)
        for r in (
            await conn.execute(sa.select(files).where(files.c.article_id == article_id).order_by(files.c.id))
        ).mappings()
    ]
    return out


async def list_articles(
    conn: AsyncConnection, actor: Principal, *, q: str = "", state: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    require_staff(actor)
    stmt = (
        sa.select(
            articles.c.id,
            articles.c.visibility,
            articles.c.view_count,
            articles.c.helpful_yes,
            articles.c.helpful_no,
            translations.c.locale,
            translations.c.title,
            translations.c.state,
            translations.c.published_version_id,
            translations.c.updated_at,
        )
        .select_from(articles.join(translations, translations.c.article_id == articles.c.id))
        .where(
            articles.c.workspace_id == actor.workspace_id, translations.c.locale == articles.c.default_locale
        )
        .order_by(translations.c.updated_at.desc(), articles.c.id.desc())
        .limit(limit)
    )
    if q:
        stmt = stmt.where(translations.c.title.ilike(f"%{q.replace('%', '').replace('_', '')}%"))
    if state:
        stmt = stmt.where(translations.c.state == state)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def version_list(conn: AsyncConnection, translation_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(
            versions.c.id,
            versions.c.number,
            versions.c.title,
            versions.c.note,
            versions.c.created_at,
            versions.c.created_by,
        )
        .where(versions.c.translation_id == translation_id)
        .order_by(versions.c.number.desc())
    )
    return [dict(r) for r in rows.mappings()]


async def access_version(conn: AsyncConnection, actor: Principal, version_id: int) -> dict[str, Any]:
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(versions, translations.c.article_id, translations.c.locale)
                .select_from(versions.join(translations, translations.c.id == versions.c.translation_id))
                .where(versions.c.id == version_id, translations.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such version")
    return dict(row)


async def public_file(conn: AsyncConnection, workspace_id: int, file_id: int) -> dict[str, Any] | None:
    """A file of an article that is published somewhere and public (what the help centre may serve)."""
    pub = sa.exists().where(
        translations.c.article_id == files.c.article_id, translations.c.published_version_id.is_not(None)
    )
    row = (
        (
            await conn.execute(
                sa.select(files)
                .select_from(files.join(articles, articles.c.id == files.c.article_id))
                .where(
                    files.c.id == file_id,
                    files.c.workspace_id == workspace_id,
                    articles.c.visibility == "public",
                    pub,
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def staff_file(conn: AsyncConnection, actor: Principal, file_id: int) -> dict[str, Any]:
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(files).where(files.c.id == file_id, files.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such file")
    return dict(row)


async def access_files(conn: AsyncConnection, workspace_id: int, article_id: int) -> list[dict[str, Any]]:
    """Files of an article the caller has already found readable."""
    rows = await conn.execute(
        sa.select(files.c.id, files.c.filename, files.c.content_type, files.c.size)
        .where(files.c.article_id == article_id, files.c.workspace_id == workspace_id)
        .order_by(files.c.id)
    )
    return [dict(r) for r in rows.mappings()]
