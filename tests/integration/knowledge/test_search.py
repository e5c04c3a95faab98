"""Lexical search with stemming, typo correction, highlighting; translations searched per language."""

from __future__ import annotations

from typing import Any

from helpline.domains.knowledge import search, typo
from tests.integration.knowledge.conftest import need_semantic


async def test_stemming_and_highlight(ws: Any, kbase: Any) -> None:
    aid = await kbase.article(
        "Cancelling an order", "An order can be cancelled until it ships. Cancellations are free."
    )
    await kbase.article("Delivery", "We deliver everywhere.")
    async with ws.platform.db.read() as conn:
        result = await search.search(conn, ws.id, "how to cancel orders", mode="lexical")
    assert result.hits[0].article_id == aid
    assert "<mark>" in str(result.hits[0].excerpt)
    assert result.mode == "lexical"


async def test_typos_are_corrected(ws: Any, kbase: Any) -> None:
    aid = await kbase.article("Password reset", "To reset your password, use the Forgot password link.")
    async with ws.platform.db.read() as conn:
        result = await search.search(conn, ws.id, "pasword resett", mode="lexical")
    assert result.corrected == "password reset"
    assert result.hits and result.hits[0].article_id == aid


async def test_translations_searched_in_their_language(ws: Any, kbase: Any) -> None:
    aid = await kbase.article("Change your address", "Open your profile to change the delivery address.")
    await kbase.translate(
        aid, "fr", "Changer votre adresse", "Ouvrez votre profil pour changer l'adresse de livraison."
    )
    async with ws.platform.db.read() as conn:
        fr = await search.search(conn, ws.id, "adresse de livraison", locale="fr", mode="lexical")
        en = await search.search(conn, ws.id, "adresse de livraison", locale="en", mode="lexical")
    assert [(h.article_id, h.locale) for h in fr.hits] == [(aid, "fr")]
    assert all(h.locale == "en" for h in en.hits)


async def test_markup_in_articles_is_escaped_in_excerpts(ws: Any, kbase: Any) -> None:
    await kbase.article(
        "Scripts <script>alert(1)</script>", "Never <img src=x onerror=alert(1)> paste scripts."
    )
    async with ws.platform.db.read() as conn:
        result = await search.search(conn, ws.id, "scripts paste", mode="lexical")
    assert "<img" not in str(result.hits[0].excerpt) and "<script" not in str(result.hits[0].excerpt)


def test_vocabulary_correction() -> None:
    from collections import Counter

    v = typo.Vocabulary(Counter({"refund": 5, "refunds": 2, "transfer": 9, "transaction": 3}))
    assert v.correct("refnud") == "refund"
    assert v.correct("transfre") == "transfer"
    assert v.correct("xyzzy") == "xyzzy"
    assert typo.distance("abcd", "acbd") == 1


async def test_semantic_finds_paraphrases(ws: Any, kbase: Any) -> None:
    need_semantic()
    aid = await kbase.article("My card has not arrived", "Cards arrive within 5 working days of your order.")
    await kbase.article("Exchange rates", "We use the interbank rate for every currency conversion.")
    async with ws.platform.db.read() as conn:
        result = await search.search(conn, ws.id, "the new card I ordered never came", mode="semantic")
        fused = await search.search(conn, ws.id, "the new card I ordered never came")
    assert result.hits[0].article_id == aid
    assert fused.mode == "fused" and fused.hits[0].article_id == aid
