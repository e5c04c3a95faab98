"""The public help centre of a workspace, ``/help/{slug}/{locale}/…``: home with search and categories,
category pages, article pages (clean ``{id}-{slug}`` URLs, breadcrumbs, canonical link, meta
description, language switcher, related articles, files, "Was this helpful?"), search results with
highlighted matches, ``sitemap.xml``, and the suggestion fragment the portal's request form shows.

Anyone may read it, signed in or not; every read goes through ``queries.customer_visible`` (public,
published versions only), so a draft or an internal article answers 404 exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.knowledge import content, deflection, queries, tracking
from helpline.domains.knowledge.search import article_url, search
from helpline.domains.portal.common import Portal, portal_of, theme_css
from helpline.errors import NotFound
from helpline.web.deps import PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.pages import anon_csrf, check_anon_csrf, keep_anon_csrf, public_url, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
Locale = Annotated[str, Query(max_length=16)]
_SAFE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}


def _languages(request: Request) -> list[str]:
    return list(request.state.brand.get("languages") or ["en"])


async def _help(request: Request, platform: Any, slug: str, locale: str | None = None) -> Portal:
    portal = await portal_of(request, platform, slug)
    if locale is not None and (len(locale) > 16 or not tracking_locale(locale)):
        raise NotFound("There is no help centre at this address.")
    return portal


def tracking_locale(locale: str) -> bool:
    from helpline.domains.knowledge.service import LOCALE

    return bool(LOCALE.match(locale))


def _page(
    request: Request, name: str, portal: Portal, locale: str, ctx: dict[str, Any], status: int = 200
) -> HTMLResponse:
    base = {
        "portal": portal,
        "locale": locale,
        "lang": locale,
        "languages": _languages(request),
        "language_name": content.language_name,
        "help_root": f"/help/{portal.slug}/{locale}",
    }
    anon_csrf(request)
    page = render(request, f"knowledge/help_{name}.html", {**base, **ctx}, status=status)
    keep_anon_csrf(request, page)
    return page


@router.get("/help/{slug}")
async def help_root(request: Request, platform: PlatformDep, slug: str) -> Response:
    portal = await _help(request, platform, slug)
    return redirect(f"/help/{portal.slug}/{_languages(request)[0]}")


@router.get("/help/{slug}/theme.css")
async def help_theme(request: Request, platform: PlatformDep, slug: str) -> Response:
    await _help(request, platform, slug)
    return Response(
        theme_css(request.state.brand.get("primary_colour")),
        media_type="text/css",
        headers={"Cache-Control": "max-age=60"},
    )


@router.get("/help/{slug}/sitemap.xml")
async def sitemap(request: Request, platform: PlatformDep, slug: str) -> Response:
    portal = await _help(request, platform, slug)
    base = public_url(request)
    async with platform.db.read() as conn:
        rows = await queries.sitemap(conn, portal.id)
    urls = [f"<url><loc>{escape(base)}/help/{portal.slug}/{lang}</loc></url>" for lang in _languages(request)]
    for r in rows:
        when = r["published_at"].strftime("%Y-%m-%d") if r["published_at"] else ""
        loc = f"{base}/help/{portal.slug}/{r['locale']}/articles/{r['id']}-{r['slug']}"
        urls.append(
            f"<url><loc>{escape(loc)}</loc>" + (f"<lastmod>{when}</lastmod>" if when else "") + "</url>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(urls)
        + "</urlset>\n"
    )
    return Response(body, media_type="application/xml")


@router.get("/help/{slug}/files/{file_id}/{name}")
async def public_file(
    request: Request, platform: PlatformDep, slug: str, file_id: int, name: str
) -> Response:
    portal = await _help(request, platform, slug)
    async with platform.db.read() as conn:
        found = await queries.public_file(conn, portal.id, file_id)
    if found is None or found["filename"] != name:
        raise NotFound("no such file")
    inline = found["content_type"] in _SAFE_TYPES
    return await stored_file(
        platform,
        found["sha256"],
        found["filename"],
        media_type=found["content_type"] if inline else "application/octet-stream",
        inline=inline,
        cache="public, max-age=300",
    )


@router.get("/help/{slug}/{locale}")
async def home(request: Request, platform: PlatformDep, slug: str, locale: str) -> Response:
    portal = await _help(request, platform, slug, locale)
    async with platform.db.read() as conn:
        tree = await queries.category_tree(conn, portal.id, locale)
        popular = await queries.popular(conn, portal.id, locale)
    return _page(
        request,
        "home",
        portal,
        locale,
        {
            "title": "Help centre",
            "tree": tree,
            "popular": popular,
            "description": f"Answers from {request.state.brand['name']}.",
        },
    )


@router.get("/help/{slug}/{locale}/categories/{category_slug}")
async def category_page(
    request: Request, platform: PlatformDep, slug: str, locale: str, category_slug: str
) -> Response:
    portal = await _help(request, platform, slug, locale)
    async with platform.db.read() as conn:
        cat = await queries.category_by_slug(conn, portal.id, category_slug, locale)
        if cat is None or cat["parent_id"] is not None:
            raise NotFound("no such category")
        tree = {c["id"]: c for c in await queries.category_tree(conn, portal.id, locale)}
        sections = tree[cat["id"]]["sections"]
        listed = await queries.public_listing(
            conn, portal.id, locale, section_ids=[s["id"] for s in sections]
        )
    for s in sections:
        s["articles"] = [a for a in listed if a["section_id"] == s["id"]]
    return _page(
        request,
        "category",
        portal,
        locale,
        {
            "title": cat["name"],
            "category": cat,
            "sections": sections,
            "description": cat["description"][:160],
        },
    )


@router.get("/help/{slug}/{locale}/articles/{ref}")
async def article_page(
    request: Request, platform: PlatformDep, slug: str, locale: str, ref: str, thanks: str = ""
) -> Response:
    portal = await _help(request, platform, slug, locale)
    head = ref.split("-", 1)[0]
    if not head.isdigit() or len(head) > 18:
        raise NotFound("no such article")
    async with platform.db.read() as conn:
        art = await queries.public_article(conn, portal.id, int(head), locale)
        if art is None:
            raise NotFound("There is no such article in this help centre.")
        if ref != f"{art['id']}-{art['slug']}":
            return redirect(f"/help/{portal.slug}/{locale}/articles/{art['id']}-{art['slug']}", status=301)
        section = await queries.category(conn, portal.id, art["section_id"], locale)
        cat = await queries.category(conn, portal.id, section["parent_id"] if section else None, locale)
        related = await queries.public_listing(
            conn, portal.id, locale, article_ids=art["related_ids"] or [-1]
        )
        files = [f for f in (await queries.access_files(conn, portal.id, art["id"]))]
    async with platform.db.transaction() as uow:
        await tracking.record_view(uow, portal.id, art["id"])
    base = public_url(request)
    canonical = f"{base}/help/{portal.slug}/{locale}/articles/{art['id']}-{art['slug']}"
    return _page(
        request,
        "article",
        portal,
        locale,
        {
            "title": art["title"],
            "article": art,
            "section": section,
            "category": cat,
            "related": related,
            "files": files,
            "canonical": canonical,
            "thanks": thanks,
            "description": (art["description"] or art["body_text"])[:160],
        },
    )


@router.post("/help/{slug}/{locale}/articles/{article_id}/feedback")
async def feedback(
    request: Request,
    platform: PlatformDep,
    slug: str,
    locale: str,
    article_id: int,
    helpful: Annotated[str, Form(pattern="^(yes|no)$")],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    portal = await _help(request, platform, slug, locale)
    await check_anon_csrf(request)
    async with platform.db.read() as conn:
        art = await queries.public_article(conn, portal.id, article_id, locale)
    if art is None:
        raise NotFound("no such article")
    async with platform.db.transaction() as uow:
        await tracking.record_feedback(uow, portal.id, article_id, locale, helpful == "yes", comment)
    return redirect(f"/help/{portal.slug}/{locale}/articles/{art['id']}-{art['slug']}?thanks=1#feedback")


@router.get("/help/{slug}/{locale}/search")
async def search_page(
    request: Request,
    platform: PlatformDep,
    slug: str,
    locale: str,
    q: Annotated[str, Query(max_length=200)] = "",
    exact: bool = False,
) -> Response:
    portal = await _help(request, platform, slug, locale)
    result = None
    if q.strip():
        async with platform.db.read() as conn:
            result = await search(
                conn, portal.id, q, customer=True, locale=locale, limit=20, correct=not exact
            )
        async with platform.db.transaction() as uow:
            await tracking.log_search(
                uow,
                portal.id,
                q,
                locale=locale,
                source="helpcenter",
                results=len(result.hits),
                top_article_id=result.hits[0].article_id if result.hits else None,
            )
    hits = [{"hit": h, "url": article_url(portal.slug, h)} for h in (result.hits if result else [])]
    return _page(
        request,
        "search",
        portal,
        locale,
        {
            "title": f"Search: {q}" if q else "Search",
            "q": q,
            "result": result,
            "hits": hits,
            "description": "Search the help centre.",
        },
    )


@router.get("/help/{slug}/{locale}/suggest")
async def suggest_fragment(
    request: Request,
    platform: PlatformDep,
    slug: str,
    locale: str,
    q: Annotated[str, Query(max_length=500)] = "",
    visit: Annotated[str, Query(max_length=64)] = "",
    source: Annotated[str, Query(pattern="^(portal|widget|helpcenter)$")] = "portal",
) -> Response:
    """HTML list of suggested articles for what a customer is typing (``static/kb-suggest.js``), from
    ``deflection.suggest``: a ``shown`` step per article, and the text logged as the visit's latest."""
    portal = await _help(request, platform, slug, locale)
    found = await deflection.suggest(platform, portal.id, q, locale=locale, visit=visit, source=source)
    html = render(
        request,
        "knowledge/_suggestions.html",
        {"articles": found["articles"], "portal": portal, "locale": locale},
    )
    html.headers["Cache-Control"] = "no-store"
    return html
