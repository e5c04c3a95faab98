"""The alert sweep reads each ticket's summary (``ticket_sla.next_alert_at``, indexed) instead of an
index over every clock: a schedule's recompute then rewrites clocks without touching an index
(PostgreSQL keeps such an update on the same page, a HOT update, when the page has room: the
clocks' pages are kept 80 % full), and an engine save inserts no index entries for its clocks but
the primary key's (docs/performance.md, "SLA engine").

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ticket_sla") as batch:
        batch.add_column(sa.Column("next_alert_at", UTC, nullable=True))
    op.execute(
        "UPDATE ticket_sla SET next_alert_at = (SELECT min(c.alert_at) FROM ticket_clocks c"
        " WHERE c.ticket_id = ticket_sla.ticket_id)"
    )
    op.create_index(
        "ix_ticket_sla_alert",
        "ticket_sla",
        ["next_alert_at"],
        sqlite_where=sa.text("next_alert_at IS NOT NULL"),
        postgresql_where=sa.text("next_alert_at IS NOT NULL"),
    )
    op.drop_index("ix_ticket_clocks_alert", table_name="ticket_clocks")
    op.drop_index("ix_ticket_clocks_schedule", table_name="ticket_clocks")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ticket_clocks SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ticket_clocks RESET (fillfactor)")
    op.create_index("ix_ticket_clocks_schedule", "ticket_clocks", ["schedule_id", "state"])
    op.create_index(
        "ix_ticket_clocks_alert",
        "ticket_clocks",
        ["alert_at"],
        sqlite_where=sa.text("alert_at IS NOT NULL"),
        postgresql_where=sa.text("alert_at IS NOT NULL"),
    )
    op.drop_index("ix_ticket_sla_alert", table_name="ticket_sla")
    with op.batch_alter_table("ticket_sla") as batch:
        batch.drop_column("next_alert_at")
