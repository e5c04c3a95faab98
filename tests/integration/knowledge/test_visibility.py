"""Internal and unpublished articles never reach a customer: not in search, suggestions or the bot;
staff see them. Drafts of a published article stay invisible until published again."""

from __future__ import annotations

from typing import Any

from helpline.domains import knowledge
from helpline.domains.accounts.models import Role
from helpline.domains.knowledge import queries, search
from helpline.domains.knowledge import service as kb
from tests.integration.knowledge.conftest import principal

REFUND = (
    "You can ask for a refund within 30 days of a purchase. Open Orders, pick the order and press Refund."
)
SECRET = (
    "Internal: refunds above 500 euros need a supervisor's approval code ZETA-77 before you press Refund."
)


async def _suggest(ws: Any, text: str, *, customer: bool = True) -> list[dict[str, Any]]:
    found = await knowledge.suggest(ws.platform, ws.id, text, locale="en", customer=customer)
    return list(found["articles"])


async def test_customer_never_sees_internal_or_unpublished(ws: Any, kbase: Any) -> None:
    public = await kbase.article("How do I get a refund?", REFUND)
    internal = await kbase.article("Refund approval codes", SECRET, visibility="internal")
    draft = await kbase.article(
        "Refund policy draft", "Refunds will soon take 14 days. Draft refund text.", publish=False
    )
    suggestions = await _suggest(ws, "refund approval code")
    staff_suggestions = await _suggest(ws, "refund approval code", customer=False)
    async with ws.platform.db.read() as conn:
        cust = await search.search(conn, ws.id, "refund approval", customer=True)
        staff = await search.search(conn, ws.id, "refund approval", customer=False)
        assert await queries.public_article(conn, ws.id, internal, "en") is None
        assert await queries.public_article(conn, ws.id, draft, "en") is None
        assert (await queries.public_article(conn, ws.id, public, "en"))["title"] == "How do I get a refund?"
        bot = await knowledge.answer(conn, ws.id, "what is the approval code for refunds", threshold=0.0)
    assert [h.article_id for h in cust.hits] == [public]
    assert {h.article_id for h in staff.hits} == {public, internal}
    assert [s["id"] for s in suggestions] == [public]
    assert suggestions[0]["url"].startswith("/help/") and "/en/articles/" in suggestions[0]["url"]
    assert {s["id"] for s in staff_suggestions} == {public, internal}
    assert bot is not None and bot["article"]["id"] == public, bot
    assert "ZETA" not in str(bot) and "ZETA" not in str(suggestions)


async def test_other_workspace_never_sees_articles(ws: Any, kbase: Any, make_ws: Any) -> None:
    await kbase.article("Reset your password", "Press Forgot password on the sign-in page.")
    other = await make_ws("Other")
    assert await _suggest(other, "reset password") == []
    async with ws.platform.db.read() as conn:
        assert (await search.search(conn, other.id, "reset password", customer=False)).hits == []


async def test_published_text_stays_until_republished(ws: Any, kbase: Any) -> None:
    aid = await kbase.article("Shipping times", "Parcels arrive within three days.")
    async with ws.platform.db.transaction() as uow:
        await kb.do_save_translation(
            uow, kbase.admin, aid, kb.ArticleInput("Shipping times", "Parcels arrive on Mars.")
        )
    async with ws.platform.db.read() as conn:
        live = await queries.public_article(conn, ws.id, aid, "en")
        assert "three days" in live["body_text"]
        assert (await search.search(conn, ws.id, "mars", mode="lexical")).hits == []
    async with ws.platform.db.transaction() as uow:
        await kb.do_set_state(uow, kbase.admin, aid, "en", "published")
    async with ws.platform.db.read() as conn:
        assert "Mars" in (await queries.public_article(conn, ws.id, aid, "en"))["body_text"]
    async with ws.platform.db.transaction() as uow:
        await kb.do_set_state(uow, kbase.admin, aid, "en", "draft")
    async with ws.platform.db.read() as conn:
        assert await queries.public_article(conn, ws.id, aid, "en") is None
    assert await _suggest(ws, "shipping times") == []


async def test_turning_internal_hides_at_once(ws: Any, kbase: Any) -> None:
    aid = await kbase.article("Opening hours", "We answer from 9 to 17 on weekdays.")
    async with ws.platform.db.transaction() as uow:
        await kb.do_update_article(uow, kbase.admin, aid, visibility="internal")
    assert await _suggest(ws, "opening hours") == []
    async with ws.platform.db.read() as conn:
        assert await knowledge.answer(conn, ws.id, "what are your opening hours", threshold=0.0) is None
    assert [s["id"] for s in await _suggest(ws, "opening hours", customer=False)] == [aid]


async def test_who_may_write_and_publish(ws: Any, kbase: Any) -> None:
    import pytest

    from helpline.errors import Forbidden

    agent = principal(await ws.person(Role.agent), ws)
    light = principal(await ws.person(Role.light_agent), ws)
    customer = principal(await ws.person(Role.customer), ws)
    async with ws.platform.db.transaction() as uow:
        aid = await kb.do_create_article(uow, agent, kb.ArticleInput("Agent's article", "Text"))
        await kb.do_set_state(uow, agent, aid, "en", "review")
        with pytest.raises(Forbidden):
            await kb.do_set_state(uow, agent, aid, "en", "published")
    for who in (light, customer):
        async with ws.platform.db.transaction() as uow:
            with pytest.raises(Forbidden):
                await kb.do_create_article(uow, who, kb.ArticleInput("Nope", "Text"))
    async with ws.platform.db.read() as conn:
        with pytest.raises(Forbidden):
            await queries.access_article(conn, customer, aid)
