"""Business hours and SLAs (docs/sla.md).

- ``schedules`` (+ ``schedule_versions``, append-only, and ``schedule_groups``): business hours.
- ``sla_policies``: ordered policies with conditions, targets per priority and escalations.
- ``sla_events``: each ticket's append-only SLA stream (warnings and breaches once per cycle).
- ``ticket_clocks``: the current state of each clock, kept by the engine (a cache of the stream).
- ``ticket_sla``: per ticket, its policy and soonest due time (the inbox's "next breach").

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0043"
down_revision: str | None = "0042"
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
        "schedules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _fk("schedules", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_schedules_workspace_id_name")),
    )
    op.create_index(op.f("ix_schedules_workspace_id"), "schedules", ["workspace_id"])
    op.create_table(
        "schedule_versions",
        sa.Column("schedule_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("valid_from", UTC, nullable=False),
        _fk("schedule_versions", "schedule_id", "schedules"),
        sa.PrimaryKeyConstraint("schedule_id", "version", name=op.f("pk_schedule_versions")),
    )
    op.create_table(
        "schedule_groups",
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("schedule_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        _fk("schedule_groups", "group_id", "groups"),
        _fk("schedule_groups", "schedule_id", "schedules"),
        _fk("schedule_groups", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_schedule_groups")),
    )
    op.create_index(op.f("ix_schedule_groups_schedule_id"), "schedule_groups", ["schedule_id"])
    op.create_table(
        "sla_policies",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_fallback", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("targets", JSON, nullable=False),
        sa.Column("escalations", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _fk("sla_policies", "workspace_id", "workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_sla_policies_workspace_id_name")),
    )
    op.create_index(op.f("ix_sla_policies_workspace_id"), "sla_policies", ["workspace_id"])
    op.create_table(
        "sla_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("data", JSON, nullable=False),
        _fk("sla_events", "workspace_id", "workspaces"),
        _fk("sla_events", "ticket_id", "tickets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
    )
    op.create_index("ix_sla_events_ticket", "sla_events", ["ticket_id", "id"])
    op.create_index(op.f("ix_sla_events_workspace_id"), "sla_events", ["workspace_id"])
    op.create_index(
        "uq_sla_events_alert",
        "sla_events",
        ["ticket_id", "metric", "cycle", "kind"],
        unique=True,
        sqlite_where=sa.text("kind IN ('warn', 'breach')"),
        postgresql_where=sa.text("kind IN ('warn', 'breach')"),
    )
    op.create_table(
        "ticket_clocks",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("policy_id", BigId, nullable=True),
        sa.Column("target_seconds", sa.Integer(), nullable=True),
        sa.Column("warn_seconds", sa.Integer(), nullable=False),
        sa.Column("business", sa.Boolean(), nullable=False),
        sa.Column("schedule_id", BigId, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("since", UTC, nullable=False),
        sa.Column("elapsed_business", sa.Float(), nullable=False),
        sa.Column("elapsed_calendar", sa.Float(), nullable=False),
        sa.Column("due_at", UTC, nullable=True),
        sa.Column("warn_at", UTC, nullable=True),
        sa.Column("alert_at", UTC, nullable=True),
        sa.Column("warned_at", UTC, nullable=True),
        sa.Column("breached_at", UTC, nullable=True),
        sa.Column("stopped_at", UTC, nullable=True),
        sa.Column("achieved", sa.Boolean(), nullable=True),
        _fk("ticket_clocks", "ticket_id", "tickets"),
        _fk("ticket_clocks", "workspace_id", "workspaces"),
        _fk("ticket_clocks", "policy_id", "sla_policies", "SET NULL"),
        _fk("ticket_clocks", "schedule_id", "schedules", "SET NULL"),
        sa.PrimaryKeyConstraint("ticket_id", "metric", name=op.f("pk_ticket_clocks")),
    )
    op.create_index(
        "ix_ticket_clocks_alert",
        "ticket_clocks",
        ["alert_at"],
        sqlite_where=sa.text("alert_at IS NOT NULL"),
        postgresql_where=sa.text("alert_at IS NOT NULL"),
    )
    op.create_index("ix_ticket_clocks_schedule", "ticket_clocks", ["schedule_id", "state"])
    op.create_table(
        "ticket_sla",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("policy_id", BigId, nullable=True),
        sa.Column("schedule_id", BigId, nullable=True),
        sa.Column("next_due_at", UTC, nullable=True),
        sa.Column("next_warn_at", UTC, nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("facts", JSON, nullable=False),
        _fk("ticket_sla", "ticket_id", "tickets"),
        _fk("ticket_sla", "workspace_id", "workspaces"),
        _fk("ticket_sla", "policy_id", "sla_policies", "SET NULL"),
        _fk("ticket_sla", "schedule_id", "schedules", "SET NULL"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_sla")),
    )
    op.create_index("ix_ticket_sla_ws_due", "ticket_sla", ["workspace_id", "next_due_at"])
    op.create_index("ix_ticket_sla_schedule", "ticket_sla", ["schedule_id", "ticket_id"])
    op.create_index(
        "ix_ticket_sla_breached",
        "ticket_sla",
        ["workspace_id"],
        sqlite_where=sa.text("breached"),
        postgresql_where=sa.text("breached"),
    )


def downgrade() -> None:
    for table in (
        "ticket_sla",
        "ticket_clocks",
        "sla_events",
        "sla_policies",
        "schedule_groups",
        "schedule_versions",
        "schedules",
    ):
        op.drop_table(table)
