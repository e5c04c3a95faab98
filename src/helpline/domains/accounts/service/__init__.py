"""Writes of the accounts domain: workspaces, users and memberships, groups, tokens, sessions, 2FA.

A package of private modules (``_people``: workspaces, groups, people, tokens; ``_members``: changing
a member, the one write behind the users API and the admin page; ``_signin``: passwords, sessions,
two-factor); import from here."""

from __future__ import annotations

from helpline.domains.accounts import security
from helpline.domains.accounts.service._common import (
    DEFAULT_WORKSPACE,
    MIN_PASSWORD,
    check_password,
    group_members,
    groups,
    members,
    normalise_email,
    recovery,
    sessions,
    ticket_sequence,
    tokens,
    users,
    workspaces,
)
from helpline.domains.accounts.service._members import check_member_update, do_update_member
from helpline.domains.accounts.service._people import (
    create_group,
    create_token,
    create_user,
    create_workspace,
    default_workspace,
    group_id_for,
    revoke_token,
    set_group_members,
    user_id_by_email,
    workspace_by_slug,
)
from helpline.domains.accounts.service._signin import (
    active_user_by_email,
    authenticate,
    begin_totp,
    confirm_totp,
    disable_totp,
    end_sessions,
    membership_workspace,
    second_factor,
    set_password,
    start_session,
)

__all__ = [
    "DEFAULT_WORKSPACE",
    "MIN_PASSWORD",
    "active_user_by_email",
    "authenticate",
    "begin_totp",
    "check_member_update",
    "check_password",
    "confirm_totp",
    "create_group",
    "create_token",
    "create_user",
    "create_workspace",
    "default_workspace",
    "disable_totp",
    "do_update_member",
    "end_sessions",
    "group_id_for",
    "group_members",
    "groups",
    "members",
    "membership_workspace",
    "normalise_email",
    "recovery",
    "revoke_token",
    "second_factor",
    "security",
    "sessions",
    "set_group_members",
    "set_password",
    "start_session",
    "ticket_sequence",
    "tokens",
    "user_id_by_email",
    "users",
    "workspace_by_slug",
    "workspaces",
]
