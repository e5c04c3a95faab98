"""Accounts (issue 11, docs/adr/0011-accounts-and-sign-in.md): a person's identity apart from their
membership in each workspace, invitations, the instance operator, re-authentication, the append-only
audit log, passkeys and single sign-on.

- ``memberships.is_active`` (deactivated in one workspace only); ``invitations`` (an offer of a
  membership to a person who already has an account, accepted by them).
- ``users``: ``password_by_admin``, ``totp_pending`` (set-up no longer switches 2FA off),
  ``is_operator``.
- ``web_sessions``: ``method`` and ``reauth_at`` (existing sessions proved themselves when they began).
- ``workspaces``: ``disabled_at``.
- ``audit_log`` with triggers that refuse UPDATE and DELETE; ``passkey_credentials``;
  ``sso_providers`` and ``sso_identities``.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)
BigId = helpline.db.base.BigId
JSON = helpline.db.base.JSONType


def _audit_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_append_only_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        # TRUNCATE skips row triggers; a statement trigger refuses it too.
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def upgrade() -> None:
    add = op.add_column
    add("memberships", sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        "invitations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("group_ids", JSON, nullable=False),
        sa.Column("invited_by", sa.BigInteger(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("accepted_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_invitations_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_invitations_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_workspace_id", "invitations", ["workspace_id"])
    op.create_index("ix_invitations_user_id", "invitations", ["user_id"])

    add("users", sa.Column("password_by_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    add("users", sa.Column("totp_pending", sa.String(length=64), nullable=True))
    add("users", sa.Column("is_operator", sa.Boolean(), server_default=sa.false(), nullable=False))

    add("web_sessions", sa.Column("method", sa.String(length=20), server_default="password", nullable=False))
    add("web_sessions", sa.Column("reauth_at", UTC, nullable=True))
    op.execute("UPDATE web_sessions SET reauth_at = created_at")

    add("workspaces", sa.Column("disabled_at", UTC, nullable=True))

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_ws_at", "audit_log", ["workspace_id", "at"])
    op.create_index("ix_audit_log_ws_action", "audit_log", ["workspace_id", "action"])
    _audit_guards()

    op.create_table(
        "passkey_credentials",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", JSON, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_passkey_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_passkey_credentials"),
        sa.UniqueConstraint("credential_id", name="uq_passkey_credentials_credential_id"),
    )
    op.create_index("ix_passkey_credentials_user_id", "passkey_credentials", ["user_id"])

    op.create_table(
        "sso_providers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("default_role", sa.String(length=20), nullable=False),
        sa.Column("group_claim", sa.String(length=120), nullable=False),
        sa.Column("group_map", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_sso_providers_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sso_providers"),
        sa.UniqueConstraint("workspace_id", "slug", name="uq_sso_providers_workspace_id_slug"),
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("provider_id", BigId, nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["sso_providers.id"],
            name="fk_sso_identities_provider_id_sso_providers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sso_identities_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sso_identities"),
        sa.UniqueConstraint("provider_id", "subject", name="uq_sso_identities_provider_id_subject"),
    )
    op.create_index("ix_sso_identities_user_id", "sso_identities", ["user_id"])


def downgrade() -> None:
    op.drop_table("sso_identities")
    op.drop_table("sso_providers")
    op.drop_table("passkey_credentials")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only_delete")
        op.drop_table("audit_log")
    else:
        op.drop_table("audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_column("workspaces", "disabled_at")
    op.drop_column("web_sessions", "reauth_at")
    op.drop_column("web_sessions", "method")
    op.drop_column("users", "is_operator")
    op.drop_column("users", "totp_pending")
    op.drop_column("users", "password_by_admin")
    op.drop_table("invitations")
    op.drop_column("memberships", "is_active")
