"""Background work of the customers domain: deleting the stored files an erasure left unreferenced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helpline.domains.customers import privacy
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform


@job_handler("privacy.purge_files")
async def purge_files(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """Args ``{"sha256": [hash, …]}``. Runs after the erasure committed; re-checks every reference,
    so running twice, or after the same bytes were stored again, deletes nothing that is needed."""
    await privacy.purge_files(platform, [h for args in batch for h in args.get("sha256", [])])
