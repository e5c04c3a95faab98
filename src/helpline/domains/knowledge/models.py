"""Tables of the knowledge base: categories and sections, articles with one translation per locale,
every saved text as a version, feedback, files, the search log and deflection events.

Who may read what is decided by two columns only: ``kb_articles.visibility`` (``public`` or
``internal``) and ``kb_translations.published_version_id`` (NULL while a translation is unpublished).
A customer or anonymous visitor reads the *published version* of a translation of a public article,
never the working copy (see ``queries.customer_visible``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, BigId, IdMixin, JSONType, utcnow


class Visibility(enum.StrEnum):
    public = "public"
    internal = "internal"


class State(enum.StrEnum):
    """Where a translation's working copy is: being written, waiting for review, or live."""

    draft = "draft"
    review = "review"
    published = "published"


class Category(IdMixin, Base):
    """A category (``parent_id`` NULL) or a section of one. Names per locale live in ``translations``:
    ``{"fr": {"name": ..., "description": ...}}``."""

    __tablename__ = "kb_categories"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("kb_categories.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(sa.String(120))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    translations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Article(IdMixin, Base):
    __tablename__ = "kb_articles"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True
    )
    visibility: Mapped[str] = mapped_column(sa.String(16), default=Visibility.public.value)
    default_locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    related_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    source_ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Translation(IdMixin, Base):
    """An article in one locale: the working copy (``title``/``body_md``/``state``) and, when
    published, the version customers read (``published_version_id``)."""

    __tablename__ = "kb_translations"
    __table_args__ = (sa.UniqueConstraint("article_id", "locale"),)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    locale: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(300))
    slug: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    body_md: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(16), default=State.draft.value)
    #: No foreign key (the two tables point at each other); versions go only with their translation.
    published_version_id: Mapped[int | None] = mapped_column(BigId)
    published_at: Mapped[datetime | None] = mapped_column()
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Version(IdMixin, Base):
    """One saved text of a translation; never changed. ``body_html`` is sanitized markdown output."""

    __tablename__ = "kb_versions"
    __table_args__ = (sa.UniqueConstraint("translation_id", "number"),)
    translation_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_translations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    body_md: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbFile(IdMixin, Base):
    """An image or attachment of an article, stored by content hash in the platform's storage."""

    __tablename__ = "kb_files"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(IdMixin, Base):
    """An answer to "Was this helpful?", with an optional comment."""

    __tablename__ = "kb_feedback"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    locale: Mapped[str] = mapped_column(sa.String(16))
    helpful: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchLog(IdMixin, Base):
    """Every finished search a customer or the bot ran (help centre, portal, widget, bot), with its
    result count; what a customer types into a form that suggests articles as they type is one row per
    visit (``visit``, at most one row each), ``typing`` until the visit asks a finished question
    (``tracking.log_search``)."""

    __tablename__ = "kb_search_log"
    __table_args__ = (
        sa.Index("ix_kb_search_log_workspace_id_created_at", "workspace_id", "created_at"),
        sa.Index(
            "ux_kb_search_log_visit",
            "workspace_id",
            "visit",
            unique=True,
            postgresql_where=sa.text("visit IS NOT NULL"),
            sqlite_where=sa.text("visit IS NOT NULL"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(sa.String(200))
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    source: Mapped[str] = mapped_column(sa.String(16))
    results: Mapped[int] = mapped_column()
    top_article_id: Mapped[int | None] = mapped_column(BigId)
    visit: Mapped[str | None] = mapped_column(sa.String(64))
    typing: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeflectionEvent(IdMixin, Base):
    """One step of self-service: ``shown``, ``opened``, ``solved``, ``abandoned``, ``submitted``,
    ``bot_answered``, ``handover``. ``visit`` ties the steps of one visit together."""

    __tablename__ = "kb_deflection_events"
    __table_args__ = (
        sa.Index("ix_kb_deflection_events_workspace_id_created_at", "workspace_id", "created_at"),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    visit: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    article_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Embedding(Base):
    """Sentence vectors of a published translation's chunks (title, then paragraphs and list items),
    float32 little-endian, unit length; written only where the ``ai`` extra is installed."""

    __tablename__ = "kb_embeddings"
    translation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("kb_translations.id", ondelete="CASCADE"), primary_key=True
    )
    chunk: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(40))
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
