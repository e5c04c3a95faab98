"""Writes of mailboxes (admin only): create, change, delete. Secrets are write-only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group
from helpline.domains.channels.email.models import Mailbox
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Conflict, Forbidden, Invalid, NotFound
from helpline.web.principal import Principal

mailboxes = Mailbox.__table__
groups = Group.__table__

SECRETS = ("imap_secret", "smtp_secret", "dkim_private_key", "webhook_secret")
TLS = ("ssl", "starttls", "none")


def check_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage mailboxes")


async def _check(uow: UnitOfWork, workspace_id: int, values: dict[str, Any]) -> None:
    if "address" in values:
        address = str(values["address"]).strip().lower()
        if "@" not in address or "+" in address.split("@", 1)[0] or " " in address:
            raise Invalid("address", "an address without +tag, like support@example.com")
        values["address"] = address
    for key in ("imap_tls", "smtp_tls"):
        if key in values and values[key] not in TLS:
            raise Invalid(key, "one of ssl, starttls, none")
    if values.get("imap_auth") not in (None, "password", "xoauth2"):
        raise Invalid("imap_auth", "password or xoauth2")
    if values.get("group_id") is not None:
        found = (
            await uow.execute(
                sa.select(groups.c.id).where(
                    groups.c.id == values["group_id"], groups.c.workspace_id == workspace_id
                )
            )
        ).first()
        if found is None:
            raise Invalid("group_id", f"no group {values['group_id']}")
    if values.get("dkim_private_key"):
        key = str(values["dkim_private_key"])
        if "PRIVATE KEY" not in key:
            raise Invalid("dkim_private_key", "a PEM private key")


async def create_mailbox(uow: UnitOfWork, workspace_id: int, values: dict[str, Any]) -> int:
    await _check(uow, workspace_id, values)
    now = utcnow()
    try:
        async with uow.conn.begin_nested():
            return int(
                (
                    await uow.execute(
                        mailboxes.insert()
                        .values(
                            workspace_id=workspace_id,
                            created_at=now,
                            updated_at=now,
                            **_defaults(values),
                        )
                        .returning(mailboxes.c.id)
                    )
                ).scalar_one()
            )
    except IntegrityError:
        raise Conflict(
            f"the address {values['address']} is a mailbox already",
            errors=[{"field": "address", "message": "in use"}],
        ) from None


def _defaults(values: dict[str, Any]) -> dict[str, Any]:
    out = {
        c.name: c.default.arg for c in mailboxes.c if c.default is not None and not callable(c.default.arg)
    }
    out.update({k: v for k, v in values.items() if v is not None or k in ("group_id",)})
    return out


async def update_mailbox(uow: UnitOfWork, workspace_id: int, mailbox_id: int, values: dict[str, Any]) -> None:
    """Change the given fields; ``null`` clears a text field (a secret, a host) and is ignored elsewhere."""
    values = {
        k: ("" if v is None and isinstance(mailboxes.c[k].type, sa.String) else v)
        for k, v in values.items()
        if v is not None or k == "group_id" or isinstance(mailboxes.c[k].type, sa.String)
    }
    await _check(uow, workspace_id, values)
    if any(k in values for k in ("imap_host", "imap_folder", "imap_username")):
        # Another mailbox on the server: its UIDs mean nothing here, catch up from the start.
        values = {**values, "imap_uidvalidity": None, "imap_last_uid": 0}
    try:
        async with uow.conn.begin_nested():
            result = await uow.execute(
                mailboxes.update()
                .where(mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id)
                .values(**values, updated_at=utcnow())
            )
    except IntegrityError:
        raise Conflict(
            "that address is a mailbox already", errors=[{"field": "address", "message": "in use"}]
        ) from None
    if result.rowcount != 1:
        raise NotFound(f"mailbox {mailbox_id} not found")


async def delete_mailbox(uow: UnitOfWork, workspace_id: int, mailbox_id: int) -> None:
    result = await uow.execute(
        mailboxes.delete().where(mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id)
    )
    if result.rowcount != 1:
        raise NotFound(f"mailbox {mailbox_id} not found")


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A mailbox as the API shows it: secrets never, only whether each is set."""
    out = {k: v for k, v in row.items() if k not in SECRETS and k not in ("lease_owner",)}
    for k in SECRETS:
        out[f"{k}_set"] = bool(row.get(k))
    return out
