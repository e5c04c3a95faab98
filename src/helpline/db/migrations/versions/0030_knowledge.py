"""Knowledge base: categories and sections, articles, translations, versions, files, feedback, search
log, deflection events, sentence embeddings; the article search index (FTS5 with porter stemming on
SQLite, a tsvector per translation with its language's text-search configuration on PostgreSQL).

Revision ID: 0030
Revises: 0020
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import helpline.db.base

revision: str = "0030"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = helpline.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _fk(table: str, col: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [col], [f"{target}.id"], ondelete=ondelete, name=op.f(f"fk_{table}_{col}_{target}")
    )


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", BIGINT, autoincrement=True, nullable=False)


def _index(table: str, *cols: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(cols)}"), table, list(cols))


INDEXES: dict[str, list[tuple[str, ...]]] = {
    "kb_categories": [("parent_id",)],
    "kb_articles": [("workspace_id",), ("section_id",), ("source_ticket_id",), ("created_by",)],
    "kb_translations": [("workspace_id",), ("updated_by",)],
    "kb_versions": [("created_by",)],
    "kb_files": [("workspace_id",), ("article_id",)],
    "kb_feedback": [("workspace_id",), ("article_id",)],
    "kb_search_log": [("workspace_id", "created_at")],
    "kb_deflection_events": [("workspace_id", "created_at")],
}


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("parent_id", BIGINT, nullable=True),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("translations", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_categories", "parent_id", "kb_categories", "CASCADE"),
        _fk("kb_categories", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("workspace_id", "slug", name=op.f("uq_kb_categories_workspace_id_slug")),
    )
    op.create_table(
        "kb_articles",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("section_id", BIGINT, nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("default_locale", sa.String(length=16), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("related_ids", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("helpful_yes", sa.Integer(), nullable=False),
        sa.Column("helpful_no", sa.Integer(), nullable=False),
        sa.Column("source_ticket_id", BIGINT, nullable=True),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _id(),
        _fk("kb_articles", "created_by", "users", "SET NULL"),
        _fk("kb_articles", "section_id", "kb_categories", "SET NULL"),
        _fk("kb_articles", "source_ticket_id", "tickets", "SET NULL"),
        _fk("kb_articles", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    op.create_table(
        "kb_translations",
        sa.Column("article_id", BIGINT, nullable=False),
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("published_version_id", BIGINT, nullable=True),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("updated_by", BIGINT, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        _id(),
        _fk("kb_translations", "article_id", "kb_articles", "CASCADE"),
        _fk("kb_translations", "updated_by", "users", "SET NULL"),
        _fk("kb_translations", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_translations")),
        sa.UniqueConstraint("article_id", "locale", name=op.f("uq_kb_translations_article_id_locale")),
    )
    op.create_table(
        "kb_versions",
        sa.Column("translation_id", BIGINT, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_versions", "created_by", "users", "SET NULL"),
        _fk("kb_versions", "translation_id", "kb_translations", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_versions")),
        sa.UniqueConstraint("translation_id", "number", name=op.f("uq_kb_versions_translation_id_number")),
    )
    op.create_table(
        "kb_files",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("article_id", BIGINT, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_files", "article_id", "kb_articles", "CASCADE"),
        _fk("kb_files", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_files")),
    )
    op.create_table(
        "kb_feedback",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("article_id", BIGINT, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_feedback", "article_id", "kb_articles", "CASCADE"),
        _fk("kb_feedback", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback")),
    )
    op.create_table(
        "kb_search_log",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("top_article_id", BIGINT, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_search_log", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_search_log")),
    )
    op.create_table(
        "kb_deflection_events",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("visit", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("article_id", BIGINT, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _id(),
        _fk("kb_deflection_events", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_deflection_events")),
    )
    op.create_table(
        "kb_embeddings",
        sa.Column("translation_id", BIGINT, nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        _fk("kb_embeddings", "translation_id", "kb_translations", "CASCADE"),
        sa.PrimaryKeyConstraint("translation_id", "chunk", name=op.f("pk_kb_embeddings")),
    )
    for table, index_cols in INDEXES.items():
        for cols in index_cols:
            _index(table, *cols)

    if op.get_bind().dialect.name == "sqlite":
        # rowid = kb_translations.id; filled from the published version only.
        op.execute(
            "CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        op.execute("CREATE VIRTUAL TABLE kb_fts_vocab USING fts5vocab(kb_fts, 'row')")
    else:
        op.execute(
            "CREATE TABLE kb_search ("
            " translation_id BIGINT PRIMARY KEY"
            "  CONSTRAINT fk_kb_search_translation_id_kb_translations"
            "  REFERENCES kb_translations (id) ON DELETE CASCADE,"
            " workspace_id BIGINT NOT NULL,"
            " config regconfig NOT NULL,"
            " doc tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_kb_search_doc ON kb_search USING gin (doc)")
        op.execute("CREATE INDEX ix_kb_search_workspace_id ON kb_search (workspace_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_fts_vocab")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    else:
        op.execute("DROP TABLE IF EXISTS kb_search")
    for table, index_cols in INDEXES.items():
        for cols in index_cols:
            op.drop_index(op.f(f"ix_{table}_{'_'.join(cols)}"), table_name=table)
    for table in (
        "kb_embeddings",
        "kb_deflection_events",
        "kb_search_log",
        "kb_feedback",
        "kb_files",
        "kb_versions",
        "kb_translations",
        "kb_articles",
        "kb_categories",
    ):
        op.drop_table(table)
