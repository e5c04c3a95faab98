"""Imports every table so ``Base.metadata`` is complete (for Alembic and tests)."""

from helpline.db.base import Base
from helpline.domains.accounts import models as accounts
from helpline.domains.automation import models as automation
from helpline.domains.channels.chat import models as chat  # noqa: F401 (registers the chat tables)
from helpline.domains.channels.email import models as email
from helpline.domains.customers import models as customers
from helpline.domains.knowledge import models as knowledge  # noqa: F401 (registers the knowledge tables)
from helpline.domains.tickets import models as tickets
from helpline.domains.webhooks import models as webhooks
from helpline.platform import models as platform

__all__ = ["Base", "accounts", "automation", "customers", "email", "platform", "tickets", "webhooks"]
