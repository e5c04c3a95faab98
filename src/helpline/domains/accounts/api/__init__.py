"""HTTP API of accounts: sessions, the current user, 2FA, users, groups and API tokens.

One router (``router``, included by the app) over private modules, in the order their routes are
documented:

- ``_me``: ``/session`` (sign in and out), ``/me`` (profile, password, 2FA)
- ``_users``: ``/users`` and ``/invitations``
- ``_groups``: ``/groups``
- ``_tokens``: ``/tokens``
- ``_common``: table handles and ``fresh`` (re-authentication)
"""

from fastapi import APIRouter

from helpline.domains.accounts.api import _groups, _me, _tokens, _users

router = APIRouter()
for _part in (_me, _users, _groups, _tokens):
    router.include_router(_part.router)

__all__ = ["router"]
