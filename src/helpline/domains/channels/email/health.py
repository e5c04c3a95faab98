"""Mailbox health for ``helpline check`` and the console's mailboxes page (``/admin/mailboxes``): last
good fetch, backlog, failures, last error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.channels.email.models import InboundMail, Mailbox, OutboundMail

mailboxes = Mailbox.__table__
inbound = InboundMail.__table__
outbox = OutboundMail.__table__

#: A fetcher that has not succeeded for this long is reported.
STALE = timedelta(minutes=15)


async def mailbox_health(conn: AsyncConnection, workspace_id: int | None = None) -> list[dict[str, Any]]:
    """One entry per active mailbox: ``state`` (ok | warn | fail) and a sentence saying why (``detail``),
    and the figures behind it: ``backlog`` (stored, not processed yet), ``failed_24h``, ``unsent``
    (replies failed or retrying in 24 h), ``fetches`` (has an IMAP server), ``last_fetch_ok_at``, and
    ``last_error`` / ``last_error_at`` while the last error is newer than the last good fetch, and
    ``oauth_error`` while the OAuth2 token endpoint refuses to renew the mailbox's access token."""
    q = sa.select(mailboxes).where(mailboxes.c.active.is_(True)).order_by(mailboxes.c.id)
    if workspace_id is not None:
        q = q.where(mailboxes.c.workspace_id == workspace_id)
    boxes = [dict(r) for r in (await conn.execute(q)).mappings()]
    if not boxes:
        return []
    ids = [b["id"] for b in boxes]
    since = utcnow() - timedelta(days=1)
    counts: dict[tuple[int, str], int] = {
        (r.mailbox_id, r.state): r.n
        for r in await conn.execute(
            sa.select(inbound.c.mailbox_id, inbound.c.state, sa.func.count().label("n"))
            .where(
                inbound.c.mailbox_id.in_(ids),
                sa.or_(
                    inbound.c.state == "received",
                    sa.and_(inbound.c.state == "failed", inbound.c.received_at >= since),
                ),
            )
            .group_by(inbound.c.mailbox_id, inbound.c.state)
        )
    }
    unsent: dict[int, int] = {
        r.mailbox_id: r.n
        for r in await conn.execute(
            sa.select(outbox.c.mailbox_id, sa.func.count().label("n"))
            .where(
                outbox.c.mailbox_id.in_(ids),
                outbox.c.state.in_(["failed", "retrying"]),
                outbox.c.created_at >= since,
            )
            .group_by(outbox.c.mailbox_id)
        )
    }
    now = utcnow()
    out = []
    for b in boxes:
        backlog, failed = counts.get((b["id"], "received"), 0), counts.get((b["id"], "failed"), 0)
        parts = [f"backlog {backlog}", f"{failed} failed in 24 h", f"{unsent.get(b['id'], 0)} unsent replies"]
        state = "ok"
        if b["imap_host"]:
            last = b["last_fetch_ok_at"]
            parts.insert(0, f"last good fetch {last.isoformat(timespec='seconds') if last else 'never'}")
            if last is None or now - last > STALE:
                state = "fail" if b["last_error"] else "warn"
        current_error = bool(b["last_error"]) and (
            b["last_fetch_ok_at"] is None or (b["last_error_at"] or now) > b["last_fetch_ok_at"]
        )
        if current_error:
            parts.append(f"last error: {b['last_error'][:200]}")
            state = "fail" if state != "ok" else "warn"
        if failed or unsent.get(b["id"]) or backlog > 1000:
            state = "warn" if state == "ok" else state
        oauth_error = b.get("oauth_error")
        if oauth_error:
            # The token endpoint refused a renewal: no sign-in works until an admin acts.
            if not (current_error and oauth_error in str(b["last_error"])):
                parts.append(f"OAuth2: {oauth_error[:300]}")
            state = "fail"
        out.append(
            {
                "id": b["id"],
                "address": b["address"],
                "workspace_id": b["workspace_id"],
                "state": state,
                "backlog": backlog,
                "failed_24h": failed,
                "unsent": unsent.get(b["id"], 0),
                "fetches": bool(b["imap_host"]),
                "last_fetch_ok_at": b["last_fetch_ok_at"],
                "last_error": b["last_error"] if current_error else None,
                "last_error_at": b["last_error_at"] if current_error else None,
                "oauth_error": oauth_error or None,
                "detail": ", ".join(parts),
            }
        )
    return out


async def check_rows(url: str) -> list[tuple[str, str, str]]:
    """(name, state, hint) rows for ``helpline check``."""
    from helpline.platform.db import Database

    db = Database(url, pool_size=1)
    try:
        async with db.read() as conn:
            rows = await mailbox_health(conn)
    finally:
        await db.dispose()
    if not rows:
        return [
            (
                "email",
                "skip",
                "no mailboxes: connect one on /admin/mailboxes or over /api/v1/mailboxes (see docs/email.md)",
            )
        ]
    return [(f"mailbox {r['address']}", r["state"], r["detail"]) for r in rows]
