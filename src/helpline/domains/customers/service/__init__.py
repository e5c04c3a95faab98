"""Writes of the customers domain: contacts and their identities, organizations, merging."""

from __future__ import annotations

from helpline.domains.customers.service._actions import (
    check_contact_update,
    check_write,
    do_add_identity,
    do_create_contact,
    do_create_organization,
    do_merge_contacts,
    do_remove_identity,
    do_update_contact,
    do_update_organization,
)
from helpline.domains.customers.service._contacts import (
    add_identity,
    contact_by_identity,
    contacts_by_emails,
    create_contact,
    create_email_contacts,
    find_or_create_contact,
    merge_contacts,
    normalise_identity,
    organization_for_email,
    organizations_for_emails,
    require_contact,
    update_contact,
)
from helpline.domains.customers.service._organizations import (
    create_organization,
    normalise_domain,
    set_domains,
    update_organization,
)
from helpline.domains.customers.service._tables import (
    contacts,
    identities,
    org_domains,
    orgs,
)

__all__ = [
    "add_identity",
    "check_contact_update",
    "check_write",
    "contact_by_identity",
    "contacts",
    "contacts_by_emails",
    "create_contact",
    "create_email_contacts",
    "create_organization",
    "do_add_identity",
    "do_create_contact",
    "do_create_organization",
    "do_merge_contacts",
    "do_remove_identity",
    "do_update_contact",
    "do_update_organization",
    "find_or_create_contact",
    "identities",
    "merge_contacts",
    "normalise_domain",
    "normalise_identity",
    "org_domains",
    "organization_for_email",
    "organizations_for_emails",
    "orgs",
    "require_contact",
    "set_domains",
    "update_contact",
    "update_organization",
]
