"""The ticket page's knowledge box runs one search for a ticket: its suggested articles (internal ones
included, for agents) and the answer bot's suggested reply (public articles only, written to the
customer) come from the same candidates; the bot's view of them ranks exactly as a customer's own
search would."""

from __future__ import annotations

import re
from typing import Any

from helpline.domains import knowledge
from helpline.domains.accounts.models import Role
from helpline.domains.knowledge import embed, search
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.schemas import TicketCreate
from tests.integration.knowledge.conftest import principal, statements

SEARCHES = re.compile(r"kb_fts MATCH|FROM kb_search s\b")


async def _articles(kbase: Any) -> dict[str, int]:
    return {
        "refund": await kbase.article(
            "Refund a payment", "Open Payments, choose the payment and press Refund. Refunds take 5 days."
        ),
        "approvals": await kbase.article(
            "Refund a payment over 500: approvals",
            "Refunds of a payment over 500 need a supervisor's approval code before you press Refund.",
            visibility="internal",
        ),
        "fr": await kbase.article(
            "Rembourser un paiement", "Ouvrez Paiements et appuyez sur Rembourser.", locale="fr"
        ),
        "card": await kbase.article("Order a new card", "Open Cards and press Order a card."),
        "draft": await kbase.article("Refund draft", "Refund a payment twice.", publish=False),
    }


async def test_ticket_page_runs_one_search_for_articles_and_reply(ws: Any, console: Any, kbase: Any) -> None:
    ids = await _articles(kbase)
    person, agent = await console(Role.agent)
    subject, body = "Refund a payment", "How can I refund a payment I made yesterday?"
    async with ws.platform.db.transaction() as uow:
        t = await tickets.create_ticket(
            uow,
            ws.platform.pubsub,
            principal(person, ws),
            TicketCreate(subject=subject, body=body, requester={"email": "c@example.test", "name": "C"}),
        )
    tid = t["id"] if isinstance(t, dict) else t
    with statements(ws) as seen:
        frag = await agent.get(f"/kb/suggest-for-ticket/{tid}")
    assert frag.status_code == 200
    searches = [s for s, _, _ in seen if SEARCHES.search(s)]
    assert len(searches) == 1, searches
    listed = [int(i) for i in re.findall(r'<li><a href="/kb/articles/(\d+)"', frag.text)]
    assert ids["refund"] in listed and ids["approvals"] in listed and ids["draft"] not in listed
    assert 'Refund a payment over 500: approvals</a> <span class="badge">Internal</span>' in frag.text
    # The suggested reply is what the bot would tell the customer for the same text, searched alone.
    async with ws.platform.db.read() as conn:
        alone = await knowledge.answer(conn, ws.id, f"{subject}. {body}")
    reply = frag.text.split("Suggested reply")[1].split("</div>")[0] if alone else ""
    if alone is None:
        assert "Suggested reply" not in frag.text
    else:
        assert alone["article"]["id"] == ids["refund"]
        assert f"from “{alone['article']['title']}”" in reply
        assert f"confidence {alone['confidence'] * 100:.0f} %" in reply
        assert "approval code" not in reply and "supervisor" not in reply
    if embed.unavailable() is None:  # semantic search: the bot is confident on this ticket
        assert alone is not None


async def test_narrowed_search_ranks_as_a_customers_own(ws: Any, kbase: Any) -> None:
    """``search.narrow`` of one staff search over every language gives a customer's search: the same
    articles, order and scores (English, a language with articles, a language without any)."""
    await _articles(kbase)
    questions = (
        "refund a payment over 500",
        "rembourser un paiement",
        "order a card",
        "refund draft",
        "xyzzy",
    )
    async with ws.platform.db.read() as conn:
        for q in questions:
            wide = await search.search(conn, ws.id, q, customer=False, locale=None, limit=5)
            for locale in ("en", "fr", "de"):
                view = await search.narrow(conn, wide, locale=locale, limit=3)
                own = await search.with_fallback(conn, ws.id, q, customer=True, locale=locale, limit=3)
                assert [(h.article_id, h.locale) for h in view.hits] == [
                    (h.article_id, h.locale) for h in own.hits
                ], (q, locale)
                assert [round(h.score, 6) for h in view.hits] == [round(h.score, 6) for h in own.hits]
                assert [str(h.excerpt) for h in view.hits] == [str(h.excerpt) for h in own.hits]
                assert all(h.visibility == "public" for h in view.hits)


async def _demo_ticket(ws: Any, person: Any, subject: str, body: str) -> int:
    async with ws.platform.db.transaction() as uow:
        t = await tickets.create_ticket(
            uow,
            ws.platform.pubsub,
            principal(person, ws),
            TicketCreate(subject=subject, body=body, requester={"email": "c@example.test", "name": "C"}),
        )
    return int(t["id"] if isinstance(t, dict) else t)


async def test_suggestions_need_meaningful_words_in_common(ws: Any, console: Any, kbase: Any) -> None:
    """The demo's articles and tickets: one stop word ("after") or one everyday word ("times", "plans")
    in common is no suggestion; the article about the ticket's subject is."""
    from helpline.demo.help import load_help

    await load_help(ws.platform, kbase.admin)
    person, agent = await console(Role.agent)

    async def titles(subject: str, body: str) -> list[str]:
        tid = await _demo_ticket(ws, person, subject, body)
        frag = await agent.get(f"/kb/suggest-for-ticket/{tid}")
        assert frag.status_code == 200
        return re.findall(r'<li><a href="/kb/articles/\d+">([^<]*)</a>', frag.text)

    locked = await titles(
        "Locked out after too many password attempts",
        "I mistyped my password a few times and now I'm locked out. I have a customer call in an hour.",
    )
    assert "Reset your password" in locked
    assert "Dashboard totals look wrong after an update" not in locked and "Change your plan" not in locked
    never = await titles(
        "Password reset email never arrives",
        "I've requested the reset link three times. Nothing in my inbox or spam folder.",
    )
    assert never[:1] == ["Reset your password"] and "Change your plan" not in never
    dark = await titles(
        "Feature request: dark mode",
        "Our team works late shifts. A dark theme would really help with eye strain. Any plans?",
    )
    if embed.unavailable() is None:  # words in common ("request", "plans") but nothing in meaning
        assert dark == []
