"""Admin pages of the email channel: ``/admin/mailboxes`` (every mailbox with its health: the email
status page), a mailbox's settings with the connection test and delete, and ``/admin/email/failed``
(the failed-mail list with reprocess and the original ``.eml``). Admins only
(:data:`~helpline.domains.accounts.admin_views.AdminPage`).

Writes go through :mod:`~helpline.domains.channels.email.mailboxes` and
:mod:`~helpline.domains.channels.email.service`, reads through
:mod:`~helpline.domains.channels.email.queries`, and the form is checked by the API's request bodies
(:mod:`~helpline.domains.channels.email.schemas`): the pages and the API follow the same rules.

A package of private modules; import from here."""

from __future__ import annotations

from helpline.domains.channels.email.views import _failed, _mailboxes
from helpline.domains.channels.email.views._common import router

__all__ = ["_failed", "_mailboxes", "router"]
