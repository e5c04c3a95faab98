"""Admin pages of the console: the admin index, people and roles, groups, API tokens and the
workspace's settings (name, branding, time zone, languages).

Only admins reach them (:data:`AdminPage`); any other staff member gets a 403 page, a customer the
sign-in page. Writes go through :mod:`helpline.domains.accounts.service` (a member's role, groups and
deactivation through ``service.do_update_member``, the same function as the users API) and
:mod:`helpline.domains.accounts.workspace_settings`.

A package of private modules; import from here."""

from __future__ import annotations

from helpline.domains.accounts.admin_views._audit import audit_export, audit_page
from helpline.domains.accounts.admin_views._common import (
    FLASHES,
    STAFF_ROLES,
    AdminPage,
    access_group,
    access_member,
    admin_page,
    group_members,
    groups,
    ids_in,
    members,
    router,
    tokens,
    users,
    workspace_groups,
    workspace_people,
)
from helpline.domains.accounts.admin_views._groups import (
    _groups_page,
    create_group,
    group_page,
    groups_page,
    update_group_members,
)
from helpline.domains.accounts.admin_views._people import (
    _user_page,
    _users_page,
    admin_index,
    create_user,
    update_user,
    user_page,
    users_page,
    withdraw_invitation,
)
from helpline.domains.accounts.admin_views._workspace import (
    _settings_page,
    _tokens_page,
    create_token,
    remove_logo,
    revoke_token,
    settings_page,
    tokens_page,
    update_settings,
    upload_logo,
)

__all__ = [
    "FLASHES",
    "STAFF_ROLES",
    "AdminPage",
    "_groups_page",
    "_settings_page",
    "_tokens_page",
    "_user_page",
    "_users_page",
    "access_group",
    "access_member",
    "admin_index",
    "admin_page",
    "audit_export",
    "audit_page",
    "create_group",
    "create_token",
    "create_user",
    "group_members",
    "group_page",
    "groups",
    "groups_page",
    "ids_in",
    "members",
    "remove_logo",
    "revoke_token",
    "router",
    "settings_page",
    "tokens",
    "tokens_page",
    "update_group_members",
    "update_settings",
    "update_user",
    "upload_logo",
    "user_page",
    "users",
    "users_page",
    "withdraw_invitation",
    "workspace_groups",
    "workspace_people",
]
