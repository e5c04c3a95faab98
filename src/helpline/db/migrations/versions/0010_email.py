"""Email channel: mailboxes, inbound mail stored raw by hash, threads, Message-IDs, outbox, bounces.

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import helpline.db.base

revision: str = "0010"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = helpline.db.base.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")

_TABLES = (
    "email_outbound",
    "email_inbound",
    "email_threads",
    "email_message_ids",
    "email_mailboxes",
    "email_address_status",
    "email_outbox_cursor",
)


def upgrade() -> None:
    op.create_table(
        "email_outbox_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox_cursor")),
    )
    op.create_table(
        "email_address_status",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("last_reason", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_address_status_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "address", name=op.f("pk_email_address_status")),
    )
    op.create_table(
        "email_mailboxes",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("group_id", BIGINT, nullable=True),
        sa.Column("imap_host", sa.String(length=255), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_tls", sa.String(length=16), nullable=False),
        sa.Column("imap_username", sa.String(length=320), nullable=False),
        sa.Column("imap_auth", sa.String(length=16), nullable=False),
        sa.Column("imap_secret", sa.Text(), nullable=False),
        sa.Column("imap_folder", sa.String(length=255), nullable=False),
        sa.Column("imap_move_to", sa.String(length=255), nullable=False),
        sa.Column("imap_uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("imap_last_uid", sa.BigInteger(), nullable=False),
        sa.Column("smtp_host", sa.String(length=255), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("smtp_tls", sa.String(length=16), nullable=False),
        sa.Column("smtp_username", sa.String(length=320), nullable=False),
        sa.Column("smtp_secret", sa.Text(), nullable=False),
        sa.Column("dkim_domain", sa.String(length=253), nullable=False),
        sa.Column("dkim_selector", sa.String(length=63), nullable=False),
        sa.Column("dkim_private_key", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("auto_ack", sa.Boolean(), nullable=False),
        sa.Column("auto_ack_subject", sa.String(length=500), nullable=False),
        sa.Column("auto_ack_body", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("last_fetch_ok_at", UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_email_mailboxes_group_id_groups"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_mailboxes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_mailboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_email_mailboxes_address")),
    )
    op.create_index(
        op.f("ix_email_mailboxes_workspace_id"), "email_mailboxes", ["workspace_id"], unique=False
    )
    op.create_table(
        "email_message_ids",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("rfc_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", BIGINT, nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_message_ids_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_message_ids_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "rfc_id", name=op.f("pk_email_message_ids")),
    )
    op.create_index(op.f("ix_email_message_ids_ticket_id"), "email_message_ids", ["ticket_id"], unique=False)
    op.create_table(
        "email_threads",
        sa.Column("ticket_id", BIGINT, nullable=False),
        sa.Column("mailbox_id", BIGINT, nullable=False),
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["email_mailboxes.id"],
            name=op.f("fk_email_threads_mailbox_id_email_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_email_threads_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_threads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_email_threads")),
    )
    op.create_index(op.f("ix_email_threads_mailbox_id"), "email_threads", ["mailbox_id"], unique=False)
    op.create_table(
        "email_inbound",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("mailbox_id", BIGINT, nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("envelope_from", sa.String(length=320), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", BIGINT, nullable=True),
        sa.Column("message_id", BIGINT, nullable=True),
        sa.Column("auth", JSON, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("processed_at", UTC, nullable=True),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["email_mailboxes.id"],
            name=op.f("fk_email_inbound_mailbox_id_email_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_email_inbound_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_inbound_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_inbound_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_inbound")),
        sa.UniqueConstraint(
            "mailbox_id", "message_key", name=op.f("uq_email_inbound_mailbox_id_message_key")
        ),
    )
    op.create_index(
        "ix_email_inbound_sender",
        "email_inbound",
        ["mailbox_id", "from_address", "received_at"],
        unique=False,
    )
    op.create_index(
        "ix_email_inbound_ws_state", "email_inbound", ["workspace_id", "state", "id"], unique=False
    )
    op.create_table(
        "email_outbound",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("mailbox_id", BIGINT, nullable=False),
        sa.Column("ticket_id", BIGINT, nullable=True),
        sa.Column("message_id", BIGINT, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rfc_message_id", sa.String(length=255), nullable=False),
        sa.Column("first_recipient", sa.String(length=320), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTC, nullable=True),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["email_mailboxes.id"],
            name=op.f("fk_email_outbound_mailbox_id_email_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_email_outbound_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_email_outbound_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_outbound_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbound")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_outbound_message_id")),
    )
    op.create_index(op.f("ix_email_outbound_ticket_id"), "email_outbound", ["ticket_id"], unique=False)
    op.create_index(
        "ix_email_outbound_to",
        "email_outbound",
        ["workspace_id", "kind", "first_recipient", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_email_outbound_ws_state", "email_outbound", ["workspace_id", "state", "id"], unique=False
    )

    # The outbox sweep starts after the last message that exists now: installing the channel does
    # not mail out old replies.
    op.execute(
        "INSERT INTO email_outbox_cursor (id, last_message_id) SELECT 1, COALESCE(MAX(id), 0) FROM messages"
    )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)  # their indexes go with them
