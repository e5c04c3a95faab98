"""Request and response bodies of the knowledge base's public JSON (``api.py``, and the chat widget's
``/chat/help/*`` routes, which take the same requests).

The responses describe what ``deflection.suggest`` and ``deflection.answer`` return, so the OpenAPI
document says what a front end gets; customers are only ever given public, published articles.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from helpline.types import Strict


class AnswerIn(Strict):
    question: str = Field(min_length=1, max_length=2000)
    locale: str = Field(default="en", max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    visit: str = Field(default="", max_length=64)
    source: str = Field(default="widget", pattern="^(widget|portal|email|helpcenter)$")


class EventIn(Strict):
    visit: str = Field(min_length=1, max_length=64)
    kind: str = Field(pattern="^(opened|solved|abandoned|submitted|handover)$")
    source: str = Field(default="widget", pattern="^(widget|portal|helpcenter|email)$")
    article_id: int | None = None


class SuggestedArticle(BaseModel):
    id: int
    title: str
    url: str = Field(description="The article in the help centre")
    excerpt: str = Field(description="Escaped HTML: the matching passage with `<mark>`ed words")
    score: float


class Suggestions(BaseModel):
    articles: list[SuggestedArticle] = Field(description="Best first; empty below 3 characters")
    mode: Literal["none", "fused", "lexical", "semantic"] = Field(
        description="How it searched: `none` for fewer than 3 characters; `lexical` without embeddings"
    )


class CitedArticle(BaseModel):
    id: int
    title: str
    url: str


class BotAnswer(BaseModel):
    answer: str | None = Field(description="A passage of the article; null when handing over to a person")
    article: CitedArticle | None
    confidence: float
    handover: bool = Field(description="True: no answer, the customer should reach a person")
    reason: Literal["low_confidence", "asked_for_human"] | None = Field(
        default=None, description="Why it hands over (only when `handover` is true)"
    )
