"""Console pages of the knowledge base, ``/kb``: article list, markdown editor with a server-rendered
preview, files, draft → review → publish, versions with a diff and restore, translations, categories
and sections. Insights and the agent-side fragments are in ``agent_views``. Works without JavaScript.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from helpline.domains.knowledge import agent_views, content, queries
from helpline.domains.knowledge import service as kb
from helpline.domains.knowledge.models import State
from helpline.domains.tickets.content import clean_filename, guess_type
from helpline.errors import Invalid, Problem
from helpline.web.deps import PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
router.include_router(agent_views.router)
Text = Annotated[str, Form()]
MAX_FILE = 10 * 1024 * 1024


async def _sections(platform: Any, workspace_id: int) -> list[tuple[int, str]]:
    async with platform.db.read() as conn:
        tree = await queries.category_tree(conn, workspace_id)
    return [(s["id"], f"{c['name']} / {s['name']}") for c in tree for s in c["sections"]]


@router.get("/kb")
async def kb_list(
    request: Request, actor: StaffPage, platform: PlatformDep, q: str = "", state: str = ""
) -> Response:
    async with platform.db.read() as conn:
        rows = await queries.list_articles(
            conn, actor, q=q[:200], state=state if state in State.__members__ else ""
        )
        tree = await queries.category_tree(conn, actor.workspace_id)
    return render(
        request,
        "knowledge/kb_list.html",
        {"title": "Knowledge base", "rows": rows, "q": q, "state": state, "tree": tree},
    )


def _form_values(
    title: str, body_md: str, locale: str, description: str, section_id: str, visibility: str, tags: str
) -> dict[str, Any]:
    return {
        "title": title,
        "body_md": body_md,
        "locale": locale or "en",
        "description": description,
        "section_id": section_id,
        "visibility": visibility or "public",
        "tags": tags,
    }


def _input(v: dict[str, Any], note: str = "") -> kb.ArticleInput:
    return kb.ArticleInput(
        v["title"],
        v["body_md"],
        v["locale"],
        v["description"],
        int(v["section_id"]) if str(v["section_id"]).isdigit() else None,
        v["visibility"],
        [t for t in v["tags"].split(",")],
        note,
    )


@router.get("/kb/new")
async def new_form(request: Request, actor: StaffPage, platform: PlatformDep) -> Response:
    return render(
        request,
        "knowledge/kb_edit.html",
        {
            "title": "New article",
            "article": None,
            "values": _form_values("", "", "en", "", "", "public", ""),
            "errors": {},
            "sections": await _sections(platform, actor.workspace_id),
            "preview": None,
        },
    )


@router.post("/kb/new")
async def create(
    request: Request,
    actor: StaffPage,
    platform: PlatformDep,
    title: Text = "",
    body_md: Text = "",
    locale: Text = "en",
    description: Text = "",
    section_id: Text = "",
    visibility: Text = "public",
    tags: Text = "",
    action: Text = "save",
) -> Response:
    values = _form_values(title, body_md, locale, description, section_id, visibility, tags)
    preview = content.render_markdown(body_md)[0] if action == "preview" else None
    if preview is None:
        try:
            async with platform.db.transaction() as uow:
                aid = await kb.do_create_article(uow, actor, _input(values))
            return redirect(f"/kb/articles/{aid}?locale={values['locale']}&saved=1")
        except Invalid as exc:
            errors = {e["field"]: e["message"] for e in exc.errors} if exc.errors else {"_": exc.detail}
            return render(
                request,
                "knowledge/kb_edit.html",
                {
                    "title": "New article",
                    "article": None,
                    "values": values,
                    "errors": errors,
                    "preview": None,
                    "sections": await _sections(platform, actor.workspace_id),
                },
                status=422,
            )
    return render(
        request,
        "knowledge/kb_edit.html",
        {
            "title": "New article",
            "article": None,
            "values": values,
            "errors": {},
            "preview": preview,
            "sections": await _sections(platform, actor.workspace_id),
        },
    )


async def _edit_page(
    request: Request,
    actor: Any,
    platform: Any,
    article_id: int,
    locale: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: str | None = None,
    flash: str = "",
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        art = await queries.access_article(conn, actor, article_id)
        locale = locale if kb.LOCALE.match(locale or "") else art["default_locale"]
        tr = art["translations"].get(locale)
        source = tr or art["translations"].get(art["default_locale"]) or {}
        versions = await queries.version_list(conn, tr["id"]) if tr else []
    if values is None:
        values = _form_values(
            source.get("title", ""),
            source.get("body_md", ""),
            locale,
            source.get("description", ""),
            str(art["section_id"] or ""),
            art["visibility"],
            ", ".join(art["tags"] or []),
        )
    languages = list(dict.fromkeys([*art["translations"], *request.state.brand.get("languages", ["en"])]))
    return render(
        request,
        "knowledge/kb_edit.html",
        {
            "title": source.get("title") or "Article",
            "article": art,
            "translation": tr,
            "locale": locale,
            "values": values,
            "errors": errors or {},
            "preview": preview,
            "versions": versions,
            "flash": flash,
            "languages": languages,
            "language_name": content.language_name,
            "sections": await _sections(platform, actor.workspace_id),
        },
        status=status,
    )


@router.get("/kb/articles/{article_id}")
async def edit(
    request: Request,
    article_id: IdPath,
    actor: StaffPage,
    platform: PlatformDep,
    locale: str = "",
    saved: str = "",
) -> Response:
    return await _edit_page(request, actor, platform, article_id, locale, flash="Saved." if saved else "")


@router.post("/kb/articles/{article_id}")
async def save(
    request: Request,
    article_id: IdPath,
    actor: StaffPage,
    platform: PlatformDep,
    title: Text = "",
    body_md: Text = "",
    locale: Text = "en",
    description: Text = "",
    section_id: Text = "",
    visibility: Text = "public",
    tags: Text = "",
    note: Text = "",
    action: Text = "save",
) -> Response:
    values = _form_values(title, body_md, locale, description, section_id, visibility, tags)
    if action == "preview":
        return await _edit_page(
            request,
            actor,
            platform,
            article_id,
            locale,
            values=values,
            preview=content.render_markdown(body_md)[0],
        )
    try:
        async with platform.db.transaction() as uow:
            await kb.do_save_translation(uow, actor, article_id, _input(values, note))
            data = _input(values)
            await kb.do_update_article(
                uow, actor, article_id, visibility=data.visibility, section_id=data.section_id, tags=data.tags
            )
    except Invalid as exc:
        errors = {e["field"]: e["message"] for e in exc.errors} if exc.errors else {"_": exc.detail}
        return await _edit_page(
            request, actor, platform, article_id, locale, values=values, errors=errors, status=422
        )
    return redirect(f"/kb/articles/{article_id}?locale={values['locale']}&saved=1")


@router.post("/kb/articles/{article_id}/state")
async def set_state(
    article_id: IdPath, actor: StaffPage, platform: PlatformDep, locale: Text = "en", state: Text = ""
) -> Response:
    async with platform.db.transaction() as uow:
        await kb.do_set_state(uow, actor, article_id, locale, state)
    return redirect(f"/kb/articles/{article_id}?locale={locale}&saved=1")


@router.post("/kb/articles/{article_id}/related")
async def set_related(
    article_id: IdPath, actor: StaffPage, platform: PlatformDep, related: Text = ""
) -> Response:
    ids = [int(x) for x in related.replace(",", " ").split() if x.isdigit() and len(x) < 18]
    async with platform.db.transaction() as uow:
        await kb.do_update_article(uow, actor, article_id, related_ids=ids)
    return redirect(f"/kb/articles/{article_id}?saved=1")


@router.post("/kb/articles/{article_id}/files")
async def upload(article_id: IdPath, actor: StaffPage, platform: PlatformDep, file: UploadFile) -> Response:
    data = await file.read(MAX_FILE + 1)
    if not data or len(data) > MAX_FILE:
        raise Invalid("file", "choose a file of at most 10 MB")
    name = clean_filename(file.filename or "file")
    sha = await platform.storage.put(data)
    async with platform.db.transaction() as uow:
        await kb.do_add_file(
            uow,
            actor,
            article_id,
            sha256=sha,
            filename=name,
            content_type=guess_type(name, file.content_type),
            size=len(data),
        )
    return redirect(f"/kb/articles/{article_id}?saved=1")


@router.get("/kb/files/{file_id}")
async def staff_file(file_id: IdPath, actor: StaffPage, platform: PlatformDep) -> Response:
    async with platform.db.read() as conn:
        f = await queries.staff_file(conn, actor, file_id)
    return await stored_file(platform, f["sha256"], f["filename"])


@router.get("/kb/versions/{version_id}")
async def version_page(
    request: Request, version_id: IdPath, actor: StaffPage, platform: PlatformDep
) -> Response:
    async with platform.db.read() as conn:
        v = await queries.access_version(conn, actor, version_id)
        listing = await queries.version_list(conn, v["translation_id"])
        prev_id = next((x["id"] for x in listing if x["number"] == v["number"] - 1), None)
        prev = await queries.access_version(conn, actor, prev_id) if prev_id else None
    old = (f"# {prev['title']}\n\n{prev['body_md']}" if prev else "").splitlines()
    new = f"# {v['title']}\n\n{v['body_md']}".splitlines()
    diff = [
        (line[:1], line) for line in difflib.unified_diff(old, new, "previous", "this version", lineterm="")
    ]
    return render(
        request,
        "knowledge/kb_version.html",
        {"title": f"Version {v['number']}", "v": v, "prev": prev, "diff": diff},
    )


@router.post("/kb/versions/{version_id}/restore")
async def restore(version_id: IdPath, actor: StaffPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await kb.do_restore(uow, actor, version_id)
    async with platform.db.read() as conn:
        v = await queries.access_version(conn, actor, version_id)
    return redirect(f"/kb/articles/{v['article_id']}?locale={v['locale']}&saved=1")


@router.post("/kb/categories")
async def add_category(
    actor: StaffPage, platform: PlatformDep, name: Text = "", parent_id: Text = "", description: Text = ""
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await kb.do_create_category(
                uow,
                actor,
                name,
                parent_id=int(parent_id) if parent_id.isdigit() else None,
                description=description,
            )
    except Problem:
        return redirect("/kb?error=category")
    return redirect("/kb")
