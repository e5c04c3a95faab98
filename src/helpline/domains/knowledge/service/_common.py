"""What the knowledge-base writes share: table handles, the article input and its checks, who may write."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge.models import Article, Category, KbFile, Translation, Version, Visibility
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


def clean(data: ArticleInput) -> ArticleInput:
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


async def check_section(uow: UnitOfWork, workspace_id: int, section_id: int | None) -> None:
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


async def article(uow: UnitOfWork, actor: Principal, article_id: int) -> Any:
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
