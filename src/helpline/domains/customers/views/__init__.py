"""Console pages of customers: contacts (list, search, profile with timeline, edit, identities, merge)
and organizations (list, search, profile, edit); a contact's privacy actions (export, erase: admins).

Every read goes through :mod:`helpline.domains.customers.queries` (scoped by the actor's workspace)
and every write through :mod:`helpline.domains.customers.service`, which refuses light agents. Staff
only: customers are sent to the portal by :data:`StaffPage`.
"""

from __future__ import annotations

from fastapi import APIRouter

from helpline.domains.customers.views import _contacts, _organizations, _privacy

router = APIRouter(include_in_schema=False)
router.include_router(_contacts.router)
router.include_router(_organizations.router)
router.include_router(_privacy.router)

__all__ = ["router"]
