"""Customer-facing reads: help centre, portal, widget and bot. Every one goes through
:func:`customer_visible`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.knowledge.queries._common import articles, categories, translations, versions


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
