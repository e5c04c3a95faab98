"""Mailboxes: OAuth2 that renews itself. ``smtp_auth`` (XOAUTH2 for sending too), the OAuth2 client
(token endpoint, client id and secret, refresh token, scope), the cached access token with its
expiry, and the last refusal of the token endpoint (shown in health; no new attempt for a while).

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)

_COLUMNS = (
    "smtp_auth",
    "oauth_token_url",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_refresh_token",
    "oauth_scope",
    "oauth_access_token",
    "oauth_expires_at",
    "oauth_error",
    "oauth_error_at",
)


def upgrade() -> None:
    add = op.add_column
    table = "email_mailboxes"
    add(table, sa.Column("smtp_auth", sa.String(length=16), server_default="password", nullable=False))
    add(table, sa.Column("oauth_token_url", sa.String(length=2000), server_default="", nullable=False))
    add(table, sa.Column("oauth_client_id", sa.String(length=500), server_default="", nullable=False))
    add(table, sa.Column("oauth_client_secret", sa.Text(), server_default="", nullable=False))
    add(table, sa.Column("oauth_refresh_token", sa.Text(), server_default="", nullable=False))
    add(table, sa.Column("oauth_scope", sa.String(length=1000), server_default="", nullable=False))
    add(table, sa.Column("oauth_access_token", sa.Text(), server_default="", nullable=False))
    add(table, sa.Column("oauth_expires_at", UTC, nullable=True))
    add(table, sa.Column("oauth_error", sa.Text(), nullable=True))
    add(table, sa.Column("oauth_error_at", UTC, nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table and drops the old one, and with foreign keys
    # on, dropping email_mailboxes would cascade to every mailbox's mail records. ALTER TABLE ... DROP
    # COLUMN (SQLite 3.35 or later) leaves the rows where they are.
    for name in reversed(_COLUMNS):
        op.drop_column("email_mailboxes", name)
