"""The customers tables, as the service modules write them."""

from __future__ import annotations

from helpline.domains.customers.models import (
    Contact,
    ContactIdentity,
    Organization,
    OrganizationDomain,
)

contacts = Contact.__table__
identities = ContactIdentity.__table__
orgs = Organization.__table__
org_domains = OrganizationDomain.__table__
