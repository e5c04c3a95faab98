"""What customers do with the knowledge base, recorded without a principal (anonymous visitors count
too): article views, "Was this helpful?", searches (with their result count: no-result searches are
the content gaps of the insights page; what is typed into a suggesting form is one search per visit)
and the steps of deflection."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.knowledge.models import Article, DeflectionEvent, Feedback, SearchLog
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork

articles = Article.__table__
feedback_t = Feedback.__table__
search_log = SearchLog.__table__
events = DeflectionEvent.__table__

EVENT_KINDS = {"shown", "opened", "solved", "abandoned", "submitted", "bot_answered", "handover"}
EVENT_SOURCES = {"portal", "widget", "helpcenter", "bot", "email", "agent"}


async def record_view(uow: UnitOfWork, workspace_id: int, article_id: int) -> None:
    await uow.execute(
        articles.update()
        .where(articles.c.id == article_id, articles.c.workspace_id == workspace_id)
        .values(view_count=articles.c.view_count + 1)
    )


async def record_feedback(
    uow: UnitOfWork, workspace_id: int, article_id: int, locale: str, helpful: bool, comment: str = ""
) -> None:
    await uow.execute(
        feedback_t.insert().values(
            workspace_id=workspace_id,
            article_id=article_id,
            locale=locale[:16],
            helpful=helpful,
            comment=comment.strip()[:2000],
            created_at=utcnow(),
        )
    )
    column = "helpful_yes" if helpful else "helpful_no"
    await uow.execute(
        articles.update()
        .where(articles.c.id == article_id, articles.c.workspace_id == workspace_id)
        .values({column: articles.c[column] + 1})
    )


async def log_search(
    uow: UnitOfWork,
    workspace_id: int,
    query: str,
    *,
    locale: str,
    source: str,
    results: int,
    top_article_id: int | None,
    visit: str = "",
    typing: bool = False,
    at: datetime | None = None,
) -> None:
    """Log a search for the insights page (top searches, searches without a result).

    A finished query (the help centre's search page, a question put to the answer bot) is a row.
    What a customer types into a form that suggests articles as they type (``typing=True``) is not a
    search until they stop: their visit has one row, rewritten with their latest text on each
    suggestion, so the log holds "how do I cancel my order" once, not "how", "how do", "how do i" ….
    A finished query of that visit (the question they then put to the bot) takes the row over and
    finishes it: the question is counted once, and typing that reaches the server after it (a
    suggestion still in flight) changes nothing. A later finished query of the visit is a row of its
    own. Typing without a visit is not logged: nothing would tell its fragments apart. ``at`` is when
    the text was asked for (before the search ran): typing that was asked for before the visit's
    row was last written (a slower request for an older prefix) does not overwrite it.

    At most one row carries a visit (``ux_kb_search_log_visit``): each step is one upsert on it."""
    query = " ".join(query.split())[:200]
    visit = visit[:64]
    if not query or (typing and not visit):
        return
    values = {
        "query": query,
        "locale": locale[:16],
        "source": source[:16],
        "results": results,
        "top_article_id": top_article_id,
        "typing": typing,
        "created_at": at or utcnow(),
    }
    if visit:
        insert = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
        upsert = (
            insert(search_log)
            .values(workspace_id=workspace_id, visit=visit, **values)
            .on_conflict_do_update(
                index_elements=[search_log.c.workspace_id, search_log.c.visit],
                index_where=search_log.c.visit.is_not(None),
                set_=values,
                # A visit's finished question is never rewritten, nor newer typing by older.
                where=search_log.c.typing & (search_log.c.created_at <= values["created_at"]),
            )
            .returning(search_log.c.id)
        )
        if (await uow.execute(upsert)).first() is not None or typing:
            return
    await uow.execute(search_log.insert().values(workspace_id=workspace_id, **values))


async def record_event(
    uow: UnitOfWork, workspace_id: int, visit: str, kind: str, source: str, article_id: int | None = None
) -> None:
    """One deflection step (``EVENT_KINDS``) from ``source`` (``EVENT_SOURCES``) of visit ``visit``."""
    if kind not in EVENT_KINDS:
        raise Invalid("kind", f"one of {', '.join(sorted(EVENT_KINDS))}")
    if source not in EVENT_SOURCES:
        raise Invalid("source", f"one of {', '.join(sorted(EVENT_SOURCES))}")
    await uow.execute(
        events.insert().values(
            workspace_id=workspace_id,
            visit=(visit or "-")[:64],
            kind=kind,
            source=source,
            article_id=article_id,
            created_at=utcnow(),
        )
    )
