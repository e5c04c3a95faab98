"""Console: canned responses and saved inbox views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import helpline.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("group_id", BIGINT, nullable=True),
        sa.Column("created_by", BIGINT, nullable=True),
        sa.Column("created_at", helpline.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", helpline.db.base.UTCDateTime(), nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            ondelete="SET NULL",
            name=op.f("fk_canned_responses_created_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], ondelete="CASCADE", name=op.f("fk_canned_responses_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            ondelete="CASCADE",
            name=op.f("fk_canned_responses_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("workspace_id", "title", name=op.f("uq_canned_responses_workspace_id_title")),
    )
    op.create_index(op.f("ix_canned_responses_workspace_id"), "canned_responses", ["workspace_id"])
    op.create_table(
        "saved_views",
        sa.Column("workspace_id", BIGINT, nullable=False),
        sa.Column("owner_id", BIGINT, nullable=False),
        sa.Column("group_id", BIGINT, nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", helpline.db.base.UTCDateTime(), nullable=False),
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], ondelete="CASCADE", name=op.f("fk_saved_views_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_saved_views_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            ondelete="CASCADE",
            name=op.f("fk_saved_views_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
    )
    op.create_index(op.f("ix_saved_views_workspace_id"), "saved_views", ["workspace_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_views_workspace_id"), table_name="saved_views")
    op.drop_table("saved_views")
    op.drop_index(op.f("ix_canned_responses_workspace_id"), table_name="canned_responses")
    op.drop_table("canned_responses")
