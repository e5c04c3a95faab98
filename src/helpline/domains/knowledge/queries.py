"""Reads of the knowledge base. Customer-facing reads (help centre, portal, widget, bot) go through
:func:`customer_visible`: a translation's *published version* of a *public* article of the workspace;
nothing else (drafts, working copies, internal articles, other workspaces) can come out of them.
Staff reads (:func:`access_article`) see everything of their own workspace."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge.models import Article, Category, Feedback, KbFile, Translation, Version
from helpline.errors import Forbidden, NotFound

articles = Article.__table__
translations = Translation.__table__
versions = Version.__table__
categories = Category.__table__
files = KbFile.__table__
feedback = Feedback.__table__


def customer_visible(workspace_id: int) -> sa.ColumnElement[bool]:
    """The one rule for what a customer or anonymous visitor may read."""
    return sa.and_(
        articles.c.workspace_id == workspace_id,
        articles.c.visibility == "public",
        translations.c.article_id == articles.c.id,
        translations.c.published_version_id.is_not(None),
        versions.c.id == translations.c.published_version_id,
    )


_PUBLIC_COLS = (
    articles.c.id, articles.c.section_id, articles.c.view_count, articles.c.related_ids, articles.c.tags,
    translations.c.id.label("translation_id"), translations.c.locale, translations.c.slug,
    translations.c.published_at, versions.c.title, versions.c.description, versions.c.body_html,
    versions.c.body_text,
)  # fmt: skip


async def public_article(
    conn: AsyncConnection, workspace_id: int, article_id: int, locale: str
) -> dict[str, Any] | None:
    """The published ``locale`` text of a public article (None if there is none), with the locales it
    is published in."""
    row = (
        (
            await conn.execute(
                sa.select(*_PUBLIC_COLS)
                .select_from(
                    articles.join(translations, translations.c.article_id == articles.c.id).join(
                        versions, versions.c.id == translations.c.published_version_id
                    )
                )
                .where(
                    customer_visible(workspace_id),
                    articles.c.id == article_id,
                    translations.c.locale == locale,
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    out = dict(row)
    out["locales"] = await public_locales(conn, workspace_id, article_id)
    return out


async def public_locales(conn: AsyncConnection, workspace_id: int, article_id: int) -> list[str]:
    rows = await conn.execute(
        sa.select(translations.c.locale)
        .select_from(
            articles.join(translations, translations.c.article_id == articles.c.id).join(
                versions, versions.c.id == translations.c.published_version_id
            )
        )
        .where(customer_visible(workspace_id), articles.c.id == article_id)
        .order_by(translations.c.locale)
    )
    return [r[0] for r in rows]


async def public_listing(
    conn: AsyncConnection,
    workspace_id: int,
    locale: str,
    *,
    section_ids: list[int] | None = None,
    article_ids: list[int] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Published public articles in ``locale`` (by section, or by id), in their order."""
    stmt = (
        sa.select(
            articles.c.id,
            articles.c.section_id,
            articles.c.view_count,
            translations.c.slug,
            translations.c.locale,
            translations.c.published_at,
            versions.c.title,
            versions.c.description,
        )
        .select_from(
            articles.join(translations, translations.c.article_id == articles.c.id).join(
                versions, versions.c.id == translations.c.published_version_id
            )
        )
        .where(customer_visible(workspace_id), translations.c.locale == locale)
        .order_by(articles.c.position, articles.c.id)
        .limit(limit)
    )
    if section_ids is not None:
        stmt = stmt.where(articles.c.section_id.in_(section_ids))
    if article_ids is not None:
        stmt = stmt.where(articles.c.id.in_(article_ids))
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def popular(
    conn: AsyncConnection, workspace_id: int, locale: str, limit: int = 6
) -> list[dict[str, Any]]:
    rows = await public_listing(conn, workspace_id, locale, limit=2000)
    return sorted(rows, key=lambda r: -r["view_count"])[:limit]


async def sitemap(conn: AsyncConnection, workspace_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(articles.c.id, translations.c.locale, translations.c.slug, translations.c.published_at)
        .select_from(
            articles.join(translations, translations.c.article_id == articles.c.id).join(
                versions, versions.c.id == translations.c.published_version_id
            )
        )
        .where(customer_visible(workspace_id))
        .order_by(articles.c.id, translations.c.locale)
        .limit(50000)
    )
    return [dict(r) for r in rows.mappings()]


def _localized(row: dict[str, Any], locale: str) -> dict[str, Any]:
    t = (row.get("translations") or {}).get(locale) or {}
    return {
        **row,
        "name": t.get("name") or row["name"],
        "description": t.get("description") or row["description"],
    }


async def category_tree(conn: AsyncConnection, workspace_id: int, locale: str = "en") -> list[dict[str, Any]]:
    """Categories in order, each with its ``sections`` in order (names in ``locale`` where translated)."""
    rows = [
        _localized(dict(r), locale)
        for r in (
            await conn.execute(
                sa.select(categories)
                .where(categories.c.workspace_id == workspace_id)
                .order_by(categories.c.position, categories.c.id)
            )
        ).mappings()
    ]
    tops = [dict(r, sections=[]) for r in rows if r["parent_id"] is None]
    by_id = {c["id"]: c for c in tops}
    for r in rows:
        if r["parent_id"] in by_id:
            by_id[r["parent_id"]]["sections"].append(r)
    return tops


async def category_by_slug(
    conn: AsyncConnection, workspace_id: int, slug: str, locale: str
) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(categories).where(
                    categories.c.workspace_id == workspace_id, categories.c.slug == slug
                )
            )
        )
        .mappings()
        .first()
    )
    return _localized(dict(row), locale) if row else None


async def category(
    conn: AsyncConnection, workspace_id: int, category_id: int | None, locale: str
) -> dict[str, Any] | None:
    if category_id is None:
        return None
    row = (
        (
            await conn.execute(
                sa.select(categories).where(
                    categories.c.workspace_id == workspace_id, categories.c.id == category_id
                )
            )
        )
        .mappings()
        .first()
    )
    return _localized(dict(row), locale) if row else None


# --- staff --------------------------------------------------------------------------------------


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
