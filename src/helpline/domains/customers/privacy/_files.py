"""Deleting stored files that an erasure left without a reference.

Storage is content-addressed and shared by the whole instance: the same bytes attached to two tickets
(or in two workspaces, or used as a help-centre file or a workspace logo) are one file. A file is
deleted only when, after the erasure committed, no remaining row of any workspace names its hash.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import Workspace
from helpline.domains.channels.email.models import InboundMail
from helpline.domains.knowledge.models import KbFile
from helpline.domains.tickets.models import Attachment, Upload
from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

#: Every column that names a stored file by its SHA-256. A new one must be added here, or erasing a
#: contact could delete a file it still needs (tests/contract/test_storage.py lists them too).
REFERENCES: tuple[sa.Column[Any], ...] = (
    Attachment.__table__.c.sha256,
    Upload.__table__.c.sha256,
    InboundMail.__table__.c.raw_sha256,
    KbFile.__table__.c.sha256,
)


async def referenced(conn: AsyncConnection, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` some row still names (attachments, uploads, inbound mail, help-centre files,
    workspace logos)."""
    found: set[str] = set()
    for col in REFERENCES:
        found |= {str(r[0]) for r in await conn.execute(sa.select(col).where(col.in_(hashes)).distinct())}
    # A logo is kept in the workspace's settings document rather than in a column of its own.
    settings = sa.cast(Workspace.__table__.c.settings, sa.Text)
    for h in set(hashes) - found:
        if (
            await conn.execute(sa.select(sa.literal(1)).where(settings.contains(h, autoescape=True)).limit(1))
        ).first():
            found.add(h)
    return found


async def purge(platform: Platform, hashes: list[str]) -> int:
    """Delete the files among ``hashes`` that nothing references; how many were deleted. Idempotent."""
    wanted = sorted({h for h in hashes if isinstance(h, str) and h})
    if not wanted:
        return 0
    async with platform.db.read() as conn:
        keep = await referenced(conn, wanted)
    gone = 0
    for h in wanted:
        if h in keep:
            continue
        try:
            gone += bool(await platform.storage.delete(h))
        except ValueError:
            log.warning("not a stored file's hash, skipped: %r", h[:80])
    return gone
