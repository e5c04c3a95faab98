"""Privacy requests about a contact (docs/customers.md, "Privacy: export and erase"): export everything
held about them, machine-readable, and erase them. Admins only; both are written to the audit log.

- :func:`export_contact` → the JSON document (:data:`FORMAT_VERSION`); :func:`export_archive` → a ZIP
  of it with their attachments and original emails.
- :func:`do_erase_contact` → counts of what was erased; idempotent.
- :func:`purge_files` (the ``privacy.purge_files`` job, ``customers/jobs.py``) deletes stored files
  that the erasure left without a reference.
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import audit
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import queries
from helpline.domains.customers.privacy import _erase, _export, _scope, _shape
from helpline.domains.customers.privacy._erase import MARKER, MARKER_HTML
from helpline.domains.customers.privacy._export import FORMAT_VERSION
from helpline.domains.customers.privacy._files import REFERENCES
from helpline.domains.customers.privacy._files import purge as purge_files
from helpline.domains.customers.privacy._scope import Subject
from helpline.domains.tickets import service as ticket_service
from helpline.errors import Conflict, Forbidden, Invalid
from helpline.platform import search
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub
from helpline.platform.runtime import Platform

__all__ = [
    "CONFIRM",
    "FORMAT_VERSION",
    "MARKER",
    "MARKER_HTML",
    "REFERENCES",
    "access_subject",
    "check_privacy",
    "chunks_of",
    "do_erase_contact",
    "export_archive",
    "export_contact",
    "purge_files",
]

#: What the erase request's ``confirm`` field must say.
CONFIRM = "ERASE"
#: Bigger archives spill from memory to a temporary file while they are built and sent.
_IN_MEMORY = 8 * 1024 * 1024


def check_privacy(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins may export or erase a contact's data")


async def access_subject(conn: AsyncConnection, actor: Principal, contact_id: int) -> Subject:
    """The contact's data in the actor's workspace: 403 unless an admin, 404 for a contact of another
    workspace (exactly like one that does not exist), 409 for a contact merged into another."""
    check_privacy(actor)
    contact = await queries.access_contact(conn, actor, contact_id)
    if contact["merged_into_id"] is not None:
        raise Conflict(
            f"contact {contact_id} was merged into {contact['merged_into_id']}: "
            "its data is that contact's now, export or erase that one",
            errors=[{"field": "contact_id", "message": "merged"}],
        )
    return await _scope.load(conn, actor.workspace_id, contact)


async def _audited_export(
    platform: Platform, actor: Principal, contact_id: int, how: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    async with platform.db.read() as conn:
        s = await access_subject(conn, actor, contact_id)
        doc, extra = await _export.build(conn, platform.storage, s)
    # Recorded before anything is handed out: no export leaves without its audit entry.
    async with platform.db.transaction() as uow:
        await audit.record(
            uow,
            "contact.exported",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="contact",
            target_id=contact_id,
            detail={"format": how, **_export.counts(doc)},
        )
    return doc, extra


async def export_contact(platform: Platform, actor: Principal, contact_id: int) -> dict[str, Any]:
    """Everything held about the contact in the actor's workspace, as one JSON document."""
    doc, _ = await _audited_export(platform, actor, contact_id, "json")
    return doc


async def export_archive(platform: Platform, actor: Principal, contact_id: int) -> IO[bytes]:
    """The export as a ZIP (positioned at its start): ``contact.json``, every attachment at the
    ``file`` path its entry names (``attachments/<id>/<name>``) and every original email
    (``emails/<id>.eml``). A file storage no longer has is left out. The caller closes it."""
    doc, extra = await _audited_export(platform, actor, contact_id, "zip")
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - the caller closes it
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            await asyncio.to_thread(
                zf.writestr, "contact.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2)
            )
            wanted = [(a["sha256"], _shape.attachment_path(a)) for a in extra["attachments"]]
            wanted += [(m["raw_sha256"], m["file"]) for m in extra["inbound"]]
            for sha, path in wanted:
                try:
                    data = await platform.storage.get(sha)
                except (FileNotFoundError, ValueError):
                    continue
                await asyncio.to_thread(zf.writestr, path, data, zipfile.ZIP_STORED)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


async def chunks_of(archive: IO[bytes], size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """The archive's bytes for a streaming response; closes it when done (or abandoned)."""
    try:
        while chunk := await asyncio.to_thread(archive.read, size):
            yield chunk
    finally:
        archive.close()


def check_confirm(confirm: str | None) -> None:
    if (confirm or "").strip() != CONFIRM:
        raise Invalid("confirm", f"type {CONFIRM} to confirm; erasing cannot be undone")


async def do_erase_contact(
    uow: UnitOfWork, pubsub: PubSub, actor: Principal, contact_id: int, *, confirm: str | None
) -> dict[str, int]:
    """Erase the contact in the actor's workspace (admins only, ``confirm`` must be :data:`CONFIRM`).

    Messages of their tickets and theirs elsewhere are redacted to :data:`MARKER`, their tickets'
    subjects and free-text fields too; attachments and original emails go (the files once nothing
    else references them); identities, sign-in membership, chat visitor details, search rows and
    delivery records lose what identifies them. Tickets, numbers, statuses and times stay. Returns
    the counts of what changed (all empty on a second run, which changes and records nothing).
    """
    s = await access_subject(uow.conn, actor, contact_id)
    check_confirm(confirm)
    counts, affected = await _erase.erase(uow, s, actor_user_id=actor.user_id)
    if affected:
        await search.index_tickets(uow, sorted(affected))
        for t in sorted(affected):
            ticket_service.after_change(uow, pubsub, actor.workspace_id, t, "erased")
    if counts:
        await audit.record(
            uow,
            "contact.erased",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="contact",
            target_id=contact_id,
            detail=counts,
        )
    return counts
