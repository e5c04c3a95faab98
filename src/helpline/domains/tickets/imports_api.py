"""API of imports: tickets with their history from another help desk (admins; ``docs/import.md``).
The rules and writes are ``tickets.service.import_tickets``'s, shared with ``helpline import``."""

from __future__ import annotations

from fastapi import APIRouter

from helpline.domains.tickets import service
from helpline.domains.tickets.schemas import IMPORT_BATCH, TicketImportRequest, TicketImportResult
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON

router = APIRouter(tags=["imports"])


@router.post(
    "/imports/tickets",
    response_model=TicketImportResult,
    summary=f"Import up to {IMPORT_BATCH} tickets with their history (admins)",
    description=(
        "Each ticket keeps its original times, messages and status changes; events are written with "
        "the times they happened. Importing the same source id again changes nothing (`unchanged`). "
        "A bad ticket is refused with its field errors (`refused`) and the others still import."
    ),
)
async def import_tickets(body: TicketImportRequest, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    service.check_import(actor)
    async with platform.db.transaction() as uow:
        report = await service.import_tickets(uow, actor, body.source, body.tickets)
    return JSON(report.as_dict())
