"""Chat channel: widgets, visitors, chat sessions (queue state and sequence counters), per-message
sequence numbers with client ids, agent chat status.

Revision ID: 0020
Revises: 0010
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import helpline.db.base

revision: str = "0020"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = helpline.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _fk(table: str, col: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{col}_{target}")
    return sa.ForeignKeyConstraint([col], [f"{target}.id"], ondelete=ondelete, name=name)


def upgrade() -> None:
    op.create_table(
        "chat_widgets",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("allowed_origins", JSON, nullable=False),
        sa.Column("theme", JSON, nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("texts", JSON, nullable=False),
        sa.Column("prechat_fields", JSON, nullable=False),
        sa.Column("max_chats_per_agent", sa.Integer(), nullable=False),
        sa.Column("schedule", JSON, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("group_id", BIGINT, nullable=True),
        sa.Column("identity_secret", sa.String(length=80), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        _fk("chat_widgets", "group_id", "groups", "SET NULL"),
        _fk("chat_widgets", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_widgets")),
        sa.UniqueConstraint("key", name=op.f("uq_chat_widgets_key")),
    )
    op.create_index(op.f("ix_chat_widgets_group_id"), "chat_widgets", ["group_id"])
    op.create_index(op.f("ix_chat_widgets_workspace_id"), "chat_widgets", ["workspace_id"])

    op.create_table(
        "chat_visitors",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("widget_id", BIGINT, nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("contact_id", BIGINT, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        _fk("chat_visitors", "contact_id", "contacts", "SET NULL"),
        _fk("chat_visitors", "widget_id", "chat_widgets", "CASCADE"),
        _fk("chat_visitors", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitors")),
        sa.UniqueConstraint("widget_id", "external_id", name=op.f("uq_chat_visitors_widget_id_external_id")),
    )
    op.create_index(op.f("ix_chat_visitors_contact_id"), "chat_visitors", ["contact_id"])
    op.create_index(op.f("ix_chat_visitors_workspace_id"), "chat_visitors", ["workspace_id"])

    op.create_table(
        "chat_sessions",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("widget_id", BIGINT, nullable=False),
        sa.Column("visitor_id", BIGINT, nullable=False),
        sa.Column("ticket_id", BIGINT, nullable=False),
        sa.Column("group_id", BIGINT, nullable=True),
        sa.Column("agent_id", BIGINT, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("pseq", sa.Integer(), nullable=False),
        sa.Column("visitor_read_pseq", sa.Integer(), nullable=False),
        sa.Column("agent_read_pseq", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("queued_at", UTC, nullable=False),
        sa.Column("accepted_at", UTC, nullable=True),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        _fk("chat_sessions", "agent_id", "users", "SET NULL"),
        _fk("chat_sessions", "group_id", "groups", "SET NULL"),
        _fk("chat_sessions", "ticket_id", "tickets", "CASCADE"),
        _fk("chat_sessions", "visitor_id", "chat_visitors", "CASCADE"),
        _fk("chat_sessions", "widget_id", "chat_widgets", "CASCADE"),
        _fk("chat_sessions", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_chat_sessions_ticket_id")),
    )
    op.create_index(op.f("ix_chat_sessions_agent_id"), "chat_sessions", ["agent_id"])
    op.create_index(op.f("ix_chat_sessions_group_id"), "chat_sessions", ["group_id"])
    op.create_index(op.f("ix_chat_sessions_widget_id"), "chat_sessions", ["widget_id"])
    op.create_index("ix_chat_sessions_visitor", "chat_sessions", ["visitor_id", "state"])
    op.create_index("ix_chat_sessions_ws_state", "chat_sessions", ["workspace_id", "state", "queued_at"])

    op.create_table(
        "chat_messages",
        sa.Column("ticket_id", BIGINT, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pseq", sa.Integer(), nullable=True),
        sa.Column("message_id", BIGINT, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("chat_messages", "message_id", "messages", "CASCADE"),
        _fk("chat_messages", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "seq", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_chat_messages_message_id")),
        sa.UniqueConstraint("ticket_id", "client_id", name=op.f("uq_chat_messages_ticket_id_client_id")),
        sa.UniqueConstraint("ticket_id", "pseq", name=op.f("uq_chat_messages_ticket_id_pseq")),
    )

    op.create_table(
        "chat_agents",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _fk("chat_agents", "user_id", "users", "CASCADE"),
        _fk("chat_agents", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_chat_agents")),
    )
    op.create_index(op.f("ix_chat_agents_user_id"), "chat_agents", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_agents_user_id"), table_name="chat_agents")
    op.drop_table("chat_agents")
    op.drop_table("chat_messages")
    for name in ("ix_chat_sessions_ws_state", "ix_chat_sessions_visitor"):
        op.drop_index(name, table_name="chat_sessions")
    for col in ("widget_id", "group_id", "agent_id"):
        op.drop_index(op.f(f"ix_chat_sessions_{col}"), table_name="chat_sessions")
    op.drop_table("chat_sessions")
    for col in ("workspace_id", "contact_id"):
        op.drop_index(op.f(f"ix_chat_visitors_{col}"), table_name="chat_visitors")
    op.drop_table("chat_visitors")
    for col in ("workspace_id", "group_id"):
        op.drop_index(op.f(f"ix_chat_widgets_{col}"), table_name="chat_widgets")
    op.drop_table("chat_widgets")
