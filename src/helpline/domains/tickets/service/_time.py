"""Time tracking: agents log the minutes they spent on a ticket, with an optional note. Reads and
sums (per ticket, per agent) are ``queries.time_entries`` / ``queries.time_report``."""

from __future__ import annotations

from typing import Any

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.models import TimeEntry
from helpline.errors import Forbidden, Invalid
from helpline.platform.db import UnitOfWork

time_entries = TimeEntry.__table__
#: One entry is at most a day's work.
MAX_MINUTES = 24 * 60


def check_time_entry(actor: Principal, minutes: int, note: str) -> None:
    if not actor.is_staff:
        raise Forbidden("only staff log time on tickets")
    if not 0 < minutes <= MAX_MINUTES:
        raise Invalid("minutes", f"give between 1 and {MAX_MINUTES} minutes")
    if len(note) > 500:
        raise Invalid("note", "at most 500 characters")


async def log_time(
    uow: UnitOfWork, actor: Principal, ticket: dict[str, Any], minutes: int, note: str = ""
) -> dict[str, Any]:
    """Log ``minutes`` by ``actor`` on ``ticket`` (already access-checked); the stored entry."""
    note = note.strip()
    check_time_entry(actor, minutes, note)
    row = (
        (
            await uow.execute(
                time_entries.insert()
                .values(
                    workspace_id=ticket["workspace_id"],
                    ticket_id=ticket["id"],
                    user_id=actor.user_id,
                    minutes=minutes,
                    note=note,
                    created_at=utcnow(),
                )
                .returning(*time_entries.c)
            )
        )
        .mappings()
        .one()
    )
    return dict(row)
