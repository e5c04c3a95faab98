"""Job handlers of the email channel: ``email.process`` (inbound) and ``email.send`` (outbound)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helpline.domains.channels.email import send as _send  # registers email.send
from helpline.domains.channels.email.process import process_batch
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

_ = _send


@job_handler("email.process")
async def process(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """The batch in one transaction, each message in its own savepoint: one that fails is marked
    failed and the rest go on."""
    await process_batch(platform, sorted({int(a["inbound_id"]) for a in batch}))
