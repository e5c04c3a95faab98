"""Time rules (``time_rules``) and what each did to which ticket in which period
(``time_rule_runs``, unique: a rule acts once per ticket and period, however many workers run).

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)
BigId = helpline.db.base.BigId
JSON = helpline.db.base.JSONType


def upgrade() -> None:
    op.create_table(
        "time_rules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_time_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_rules")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_time_rules_workspace_id_name")),
    )
    op.create_index(op.f("ix_time_rules_workspace_id"), "time_rules", ["workspace_id"])
    op.create_table(
        "time_rule_runs",
        sa.Column("rule_id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["time_rules.id"],
            name=op.f("fk_time_rule_runs_rule_id_time_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_time_rule_runs_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_time_rule_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "ticket_id", "period", name=op.f("pk_time_rule_runs")),
    )
    op.create_index(op.f("ix_time_rule_runs_ticket_id"), "time_rule_runs", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("time_rule_runs")
    op.drop_table("time_rules")
