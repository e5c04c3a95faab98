"""The audit log: every security-relevant action, with who, from where and when. Append-only.

:func:`record` writes one entry in the caller's transaction, so an entry exists exactly when the
action committed (a failed sign-in, which changes nothing, commits its entry on its own). The
client's address comes from the request being served (``web/context.py`` sets :data:`client_ip`);
jobs and the CLI record ``""``. Database triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL)
of ``audit_log``, so not even the application can rewrite history.

Actions are dotted names from :data:`ACTIONS` (a test checks that every recorded name is listed
there, so the admin page's filter and the docs stay complete).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import AuditEntry
from helpline.domains.accounts.principal import Principal
from helpline.platform.db import UnitOfWork

audit_log = AuditEntry.__table__

#: The address of the client whose request is being served ('' outside a request).
client_ip: ContextVar[str] = ContextVar("helpline_client_ip", default="")

#: Every action the product records, with the sentence the admin page shows for it.
ACTIONS: dict[str, str] = {
    "signin.succeeded": "signed in",
    "signin.failed": "failed to sign in",
    "signout": "signed out",
    "sessions.ended": "ended sessions",
    "password.changed": "changed their password",
    "password.reset": "reset their password by email",
    "password.reset_requested": "asked for a password reset",
    "email.changed": "changed their email address",
    "2fa.enabled": "turned two-factor authentication on",
    "2fa.disabled": "turned two-factor authentication off",
    "passkey.added": "added a passkey",
    "passkey.removed": "removed a passkey",
    "token.created": "created an API token",
    "token.revoked": "revoked an API token",
    "member.created": "added a person",
    "member.invited": "invited a person",
    "member.joined": "accepted an invitation",
    "member.invitation_revoked": "withdrew an invitation",
    "member.updated": "changed a person",
    "group.created": "created a group",
    "group.updated": "changed a group",
    "group.deleted": "deleted a group",
    "settings.changed": "changed workspace settings",
    "mailbox.changed": "changed a mailbox",
    "webhook.changed": "changed a webhook",
    "sso.changed": "changed single sign-on",
    "audit.exported": "exported the audit log",
    "contact.exported": "exported a contact's data",
    "contact.erased": "erased a contact",
    "workspace.created": "created a workspace",
    "workspace.disabled": "disabled a workspace",
    "workspace.enabled": "enabled a workspace",
    "user.disabled": "disabled a person on the whole instance",
    "user.enabled": "enabled a person on the whole instance",
}


async def record(
    uow: UnitOfWork,
    action: str,
    *,
    workspace_id: int | None,
    actor: Principal | None = None,
    actor_user_id: int | None = None,
    actor_email: str = "",
    target_type: str = "",
    target_id: object = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry. ``actor`` (a principal) or ``actor_user_id``/``actor_email`` name who acted;
    neither means the system or an anonymous client."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to audit.ACTIONS")
    if actor is not None:
        actor_user_id, actor_email = actor.user_id, actor.email
    await uow.execute(
        audit_log.insert().values(
            workspace_id=workspace_id,
            at=utcnow(),
            actor_user_id=actor_user_id,
            actor_email=actor_email[:320],
            ip=client_ip.get()[:64],
            action=action,
            target_type=target_type,
            target_id=str(target_id)[:64],
            detail=detail or {},
        )
    )


async def record_own(uow: UnitOfWork, action: str, actor: Principal) -> None:
    """Record a change a person made to their own account, in the workspace they acted from."""
    await record(
        uow, action, workspace_id=actor.workspace_id, actor=actor, target_type="user", target_id=actor.user_id
    )


def _filtered(
    workspace_id: int | None,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> sa.Select[Any]:
    stmt = sa.select(audit_log).where(
        audit_log.c.workspace_id.is_(None)
        if workspace_id is None
        else audit_log.c.workspace_id == workspace_id
    )
    if action:
        # "2fa" finds 2fa.enabled and 2fa.disabled; a full name finds itself.
        stmt = stmt.where(sa.or_(audit_log.c.action == action, audit_log.c.action.startswith(f"{action}.")))
    if actor:
        stmt = stmt.where(audit_log.c.actor_email.contains(actor.strip().lower(), autoescape=True))
    if target:
        stmt = stmt.where(audit_log.c.target_id == target)
    if since is not None:
        stmt = stmt.where(audit_log.c.at >= since)
    if until is not None:
        stmt = stmt.where(audit_log.c.at < until)
    return stmt


async def search(
    conn: AsyncConnection,
    workspace_id: int | None,
    *,
    before: int | None = None,
    limit: int = 50,
    **filters: Any,
) -> tuple[list[dict[str, Any]], int | None]:
    """Entries of one workspace (``None``: the instance's own), newest first, with the cursor of the
    next page (the smallest id shown) when there is one."""
    stmt = _filtered(workspace_id, **filters)
    if before is not None:
        stmt = stmt.where(audit_log.c.id < before)
    rows = (await conn.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit + 1))).mappings().all()
    items = [dict(r) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


EXPORT_FIELDS = (
    "id",
    "at",
    "action",
    "actor_user_id",
    "actor_email",
    "ip",
    "target_type",
    "target_id",
    "detail",
)


async def export(
    conn: AsyncConnection, workspace_id: int | None, fmt: str, **filters: Any
) -> AsyncIterator[bytes]:
    """Every matching entry, oldest first, as CSV or JSON lines, a chunk per 500 entries."""
    after = 0
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(EXPORT_FIELDS)
        yield out.getvalue().encode()
    while True:
        stmt = _filtered(workspace_id, **filters).where(audit_log.c.id > after)
        rows = (await conn.execute(stmt.order_by(audit_log.c.id).limit(500))).mappings().all()
        if not rows:
            return
        after = rows[-1]["id"]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            for r in rows:
                writer.writerow(
                    [
                        _csv_safe(orjson.dumps(r[f]).decode() if f == "detail" else _text(r[f]))
                        for f in EXPORT_FIELDS
                    ]
                )
            yield out.getvalue().encode()
        else:
            yield b"".join(orjson.dumps({f: r[f] for f in EXPORT_FIELDS}) + b"\n" for r in rows)


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (an email or name may start with ``=``)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
