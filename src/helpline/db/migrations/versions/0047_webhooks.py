"""Outbound webhooks (docs/webhooks.md): ``webhook_targets`` (an admin's endpoints, their secret,
events and automatic disabling) and ``webhook_deliveries`` (the outbox the ticket-events consumer
writes, one row per target and event, and each delivery's log).

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)
BigId = helpline.db.base.BigId
JSON = helpline.db.base.JSONType


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "webhook_targets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("disabled_at", UTC, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disable_after", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _fk("webhook_targets", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_targets")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_webhook_targets_workspace_id"), "webhook_targets", ["workspace_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("target_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("log", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
        _fk("webhook_deliveries", "target_id", "webhook_targets"),
        _fk("webhook_deliveries", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("target_id", "event_id", name=op.f("uq_webhook_deliveries_target_id_event_id")),
        # Ids are never reused (SQLite would, after the newest rows are deleted): a delivery's id is
        # its ``webhook-id``, by which receivers drop repeats.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_deliveries_target", "webhook_deliveries", ["target_id", "id"])
    op.create_index(op.f("ix_webhook_deliveries_workspace_id"), "webhook_deliveries", ["workspace_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_workspace_id"), table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_target", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_targets_workspace_id"), table_name="webhook_targets")
    op.drop_table("webhook_targets")
