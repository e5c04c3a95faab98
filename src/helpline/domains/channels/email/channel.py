"""The email channel as the app installs it (``channels.startup``): see ``channels/base.py``."""

from __future__ import annotations

from helpline.domains.channels.base import Channel
from helpline.domains.channels.email import jobs, send, ticket_page_views
from helpline.domains.channels.email.adapter import EmailAdapter
from helpline.domains.channels.email.api import body_limits
from helpline.domains.channels.email.api import router as api_router
from helpline.domains.channels.email.runtime import EmailRuntime
from helpline.domains.channels.email.views import router as admin_pages

CHANNEL = Channel(
    name="email",
    port=EmailAdapter,
    api_routers=(api_router,),  # mailboxes, the raw-MIME webhook, deliveries, retry
    page_routers=(admin_pages, ticket_page_views.router),  # /admin/mailboxes…; the ticket page's .eml, Retry
    jobs=(jobs, send),  # email.process, email.send
    runtime=EmailRuntime,  # SMTP receiver, IMAP fetchers, stale inbound mail
    body_limits=body_limits,
)
