"""Typo correction corrects typos only: a word the knowledge base lacks but English has ("never came",
"export data to csv") is left alone, a correction is kept only when it finds clearly better results,
and real customer questions (BANKING77) are almost never rewritten. The help centre says what it did
and offers the search as typed."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helpline.demo.help import load_help
from helpline.domains.knowledge import search, typo
from tests.integration.knowledge.conftest import anonymous, slug_of

BANKING = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "intent" / "banking77_train.csv"


@pytest.fixture
async def demo_kb(ws: Any, kbase: Any) -> Any:
    await load_help(ws.platform, kbase.admin)
    return ws


@pytest.mark.parametrize("q", ["never came", "export data to csv", "my parcel never came", "change the date"])
async def test_english_words_are_not_rewritten(demo_kb: Any, q: str) -> None:
    async with demo_kb.platform.db.read() as conn:
        result = await search.search(conn, demo_kb.id, q, customer=True, mode="lexical")
    assert result.corrected is None, f"{q!r} was rewritten to {result.corrected!r}"


@pytest.mark.parametrize(
    ("q", "fixed"),
    [("resett my pasword", "reset my password"), ("refnd an invoce", "refund an invoice")],
)
async def test_typos_are_still_corrected_and_shown_in_the_query_as_typed(
    demo_kb: Any, q: str, fixed: str
) -> None:
    async with demo_kb.platform.db.read() as conn:
        result = await search.search(conn, demo_kb.id, q, customer=True, mode="lexical")
        exact = await search.search(conn, demo_kb.id, q, customer=True, mode="lexical", correct=False)
    assert result.corrected == fixed and result.hits
    assert exact.corrected is None


def test_known_words_include_english_and_exclude_typos() -> None:
    assert typo.is_english("came") and typo.is_english("data") and typo.is_english("after")
    assert not typo.is_english("pasword") and not typo.is_english("recieve")


async def test_real_customer_questions_are_rarely_rewritten(demo_kb: Any) -> None:
    """BANKING77's questions are real people's words, typos and all. A rewrite of a word that people
    use again and again across the data set (three times or more) is a rewrite of a real word."""
    if not BANKING.exists():
        pytest.skip(f"{BANKING} is absent (the project's shared data folder)")
    with BANKING.open(newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    used = Counter(w for t in texts for w in re.findall(r"\w+", t.lower()))
    sample = texts[::20]  # 500 questions
    rewritten = []
    async with demo_kb.platform.db.read() as conn:
        for q in sample:
            result = await search.search(conn, demo_kb.id, q, customer=True, mode="lexical", limit=3)
            if result.corrected:
                before = set(re.findall(r"\w+", q.lower()))
                after = set(re.findall(r"\w+", result.corrected.lower()))
                real = [w for w in before - after if used[w] >= 3]
                if real:
                    rewritten.append((q, result.corrected))
    assert len(rewritten) <= len(sample) // 100, rewritten[:10]


async def test_the_help_centre_says_what_it_searched_and_offers_the_words_as_typed(demo_kb: Any) -> None:
    slug = await slug_of(demo_kb)
    async with anonymous(demo_kb) as c:
        r = await c.get(f"/help/{slug}/en/search", params={"q": "resett my pasword"})
        assert "Showing results for" in r.text and "reset my password" in r.text
        instead = re.search(r'href="([^"]*exact=1[^"]*)"[^>]*>resett my pasword</a>', r.text)
        assert instead, "no link to search for the words as typed"
        as_typed = await c.get(instead.group(1).replace("&amp;", "&"))
        assert "Showing results for" not in as_typed.text
        plain = await c.get(f"/help/{slug}/en/search", params={"q": "my parcel never came"})
        assert "Showing results for" not in plain.text
