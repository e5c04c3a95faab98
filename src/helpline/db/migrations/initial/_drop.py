"""Revision 0001 undone: every table, in dependency order."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def drop_tables() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_message_id"))

    op.drop_table("attachments")
    with op.batch_alter_table("ticket_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_tags_ws_tag")

    op.drop_table("ticket_tags")
    with op.batch_alter_table("ticket_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_links_target_id"))

    op.drop_table("ticket_links")
    op.drop_table("ticket_followers")
    with op.batch_alter_table("ticket_ccs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_ccs_contact_id"))

    op.drop_table("ticket_ccs")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_ticket")

    op.drop_table("messages")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_ws_created")
        batch_op.drop_index("ix_events_ticket")

    op.drop_table("events")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_ws_updated")
        batch_op.drop_index("ix_tickets_ws_status")
        batch_op.drop_index("ix_tickets_ws_requester")
        batch_op.drop_index("ix_tickets_ws_org")
        batch_op.drop_index("ix_tickets_ws_group")
        batch_op.drop_index("ix_tickets_ws_created")
        batch_op.drop_index("ix_tickets_ws_assignee")

    op.drop_table("tickets")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("contact_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_identities_contact_id"))

    op.drop_table("contact_identities")
    with op.batch_alter_table("organization_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_domains_organization_id"))

    op.drop_table("organization_domains")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_id"))

    op.drop_table("group_members")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_ws_org")

    op.drop_table("contacts")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    op.drop_table("uploads")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_user_id"))

    op.drop_table("recovery_codes")
    op.drop_table("organizations")
    op.drop_table("idempotency_keys")
    op.drop_table("groups")
    op.drop_table("custom_fields")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("workspaces")
    op.drop_table("users")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_jobs_dedupe_queued",
            sqlite_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
            postgresql_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
        )
        batch_op.drop_index("ix_jobs_ready")

    op.drop_table("jobs")
