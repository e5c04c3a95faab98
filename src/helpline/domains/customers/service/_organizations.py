"""Organizations and the email domains that place contacts in them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.customers.service._tables import org_domains, orgs
from helpline.errors import Conflict, Invalid
from helpline.platform.db import UnitOfWork


def normalise_domain(domain: str) -> str:
    d = domain.strip().lower().lstrip("@")
    if "." not in d or " " in d or len(d) > 253:
        raise Invalid("domains", f"{domain!r} is not a domain")
    return d


async def create_organization(
    uow: UnitOfWork,
    workspace_id: int,
    *,
    name: str,
    domains: list[str] | None = None,
    shared_tickets: bool = False,
    notes: str = "",
    tags: list[str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> int:
    name = name.strip()
    if not name:
        raise Invalid("name", "must not be empty")
    dup = (
        await uow.execute(
            sa.select(orgs.c.id).where(orgs.c.workspace_id == workspace_id, orgs.c.name == name)
        )
    ).first()
    if dup:
        raise Conflict(
            f"an organization named {name!r} exists", errors=[{"field": "name", "message": "taken"}]
        )
    now = utcnow()
    org_id = int(
        (
            await uow.execute(
                orgs.insert()
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    shared_tickets=shared_tickets,
                    notes=notes,
                    tags=sorted(set(tags or [])),
                    attributes=attributes or {},
                    created_at=now,
                    updated_at=now,
                )
                .returning(orgs.c.id)
            )
        ).scalar_one()
    )
    await set_domains(uow, workspace_id, org_id, domains or [])
    return org_id


async def set_domains(uow: UnitOfWork, workspace_id: int, org_id: int, domains: list[str]) -> None:
    wanted = sorted({normalise_domain(d) for d in domains})
    if wanted:
        taken = (
            await uow.execute(
                sa.select(org_domains.c.domain).where(
                    org_domains.c.workspace_id == workspace_id,
                    org_domains.c.domain.in_(wanted),
                    org_domains.c.organization_id != org_id,
                )
            )
        ).first()
        if taken:
            raise Conflict(
                f"the domain {taken[0]} belongs to another organization",
                errors=[{"field": "domains", "message": "in use"}],
            )
    await uow.execute(org_domains.delete().where(org_domains.c.organization_id == org_id))
    if wanted:
        await uow.execute(
            org_domains.insert(),
            [{"workspace_id": workspace_id, "organization_id": org_id, "domain": d} for d in wanted],
        )


async def update_organization(
    uow: UnitOfWork, workspace_id: int, org_id: int, changes: dict[str, Any]
) -> None:
    if "domains" in changes:
        await set_domains(uow, workspace_id, org_id, changes.pop("domains"))
    if "name" in changes:
        dup = (
            await uow.execute(
                sa.select(orgs.c.id).where(
                    orgs.c.workspace_id == workspace_id, orgs.c.name == changes["name"], orgs.c.id != org_id
                )
            )
        ).first()
        if dup:
            raise Conflict(
                "another organization has that name", errors=[{"field": "name", "message": "taken"}]
            )
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    if changes:
        await uow.execute(orgs.update().where(orgs.c.id == org_id).values(**changes, updated_at=utcnow()))
