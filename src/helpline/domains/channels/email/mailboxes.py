"""Writes of mailboxes (admin only): create, change, delete. Secrets are write-only.

Before a write, :func:`check_servers` refuses servers the egress guard would not connect to (an
internal address, a port that is not the protocol's), naming the field; the API and the admin pages
call it outside the write transaction, since it may resolve host names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts.models import Group
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.email import oauth2
from helpline.domains.channels.email.models import Mailbox
from helpline.errors import Conflict, Forbidden, Invalid, NotFound
from helpline.platform import egress
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.settings import Settings

mailboxes = Mailbox.__table__
groups = Group.__table__

SECRETS = (
    "imap_secret",
    "smtp_secret",
    "dkim_private_key",
    "webhook_secret",
    "oauth_client_secret",
    "oauth_refresh_token",
)
#: Never shown and not writable: the cached OAuth2 access token (``oauth2.py`` renews it).
HIDDEN = ("oauth_access_token", "lease_owner")
TLS = ("ssl", "starttls", "none")


def check_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage mailboxes")


#: A mailbox's servers: host field, port field, and what the egress guard allows them for.
SERVERS = (("imap_host", "imap_port", egress.IMAP), ("smtp_host", "smtp_port", egress.SMTP))
#: The fields :func:`check_servers` looks at.
SERVER_FIELDS = frozenset({"imap_host", "imap_port", "smtp_host", "smtp_port", "oauth_token_url"})


async def check_servers(
    settings: Settings, values: dict[str, Any], current: dict[str, Any] | None = None
) -> None:
    """Raise :class:`Invalid` (422, naming ``imap_host``, ``imap_port``, ``smtp_host``, ``smtp_port``
    or ``oauth_token_url``) when the egress guard refuses a server as it will be after ``values``
    (over ``current``, the saved row, when changing a mailbox): an internal address in any notation,
    a name resolving to one, a port that is not the protocol's, unless ``HELPLINE_EGRESS_ALLOW``
    allows it. Only the servers ``values`` touch are checked. Call it before the write transaction:
    it may resolve host names. Connections are checked again when they are made."""
    saved = current or {}
    for host_key, port_key, purpose in SERVERS:
        if host_key not in values and port_key not in values:
            continue
        host = values[host_key] if host_key in values else saved.get(host_key)
        port = values.get(port_key) or saved.get(port_key) or mailboxes.c[port_key].default.arg  # type: ignore[union-attr]
        if not host:
            continue  # no server: mail arrives or leaves another way
        try:
            await egress.check(str(host), int(port), purpose, settings)
        except egress.EgressRefused as exc:
            raise Invalid(port_key if exc.part == "port" else host_key, str(exc)) from None
    url = str(values.get("oauth_token_url") or "").strip()
    if url:
        problem = oauth2.token_url_problem(url)
        if problem:
            raise Invalid("oauth_token_url", problem)
        parts = urlsplit(url)
        try:
            await egress.check(
                parts.hostname or "",
                parts.port or (443 if parts.scheme == "https" else 80),
                egress.HTTPS,
                settings,
            )
        except egress.EgressRefused as exc:
            raise Invalid("oauth_token_url", str(exc)) from None


async def _check(uow: UnitOfWork, workspace_id: int, values: dict[str, Any]) -> None:
    if "address" in values:
        address = str(values["address"]).strip().lower()
        if "@" not in address or "+" in address.split("@", 1)[0] or " " in address:
            raise Invalid("address", "an address without +tag, like support@example.com")
        values["address"] = address
    for key in ("imap_tls", "smtp_tls"):
        if key in values and values[key] not in TLS:
            raise Invalid(key, "one of ssl, starttls, none")
    for key in ("imap_auth", "smtp_auth"):
        if values.get(key) not in (None, "password", "xoauth2"):
            raise Invalid(key, "password or xoauth2")
    if values.get("oauth_token_url"):
        values["oauth_token_url"] = str(values["oauth_token_url"]).strip()
        problem = oauth2.token_url_problem(values["oauth_token_url"])
        if problem:
            raise Invalid("oauth_token_url", problem)
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


async def _audit(uow: UnitOfWork, actor: Principal | None, mailbox_id: int, what: str, keys: Any) -> None:
    """Audit an admin's change (field names only: values may be secrets)."""
    if actor is not None:
        await audit.record(
            uow,
            "mailbox.changed",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="mailbox",
            target_id=mailbox_id,
            detail={"change": what, "fields": sorted(keys)},
        )


async def create_mailbox(
    uow: UnitOfWork, workspace_id: int, values: dict[str, Any], *, actor: Principal | None = None
) -> int:
    """A new mailbox; ``actor`` (an admin's request) is recorded in the audit log."""
    await _check(uow, workspace_id, values)
    now = utcnow()
    try:
        async with uow.conn.begin_nested():
            mailbox_id = int(
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
    await _audit(uow, actor, mailbox_id, "created", values)
    return mailbox_id


def _defaults(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in mailboxes.c:
        arg = getattr(c.default, "arg", None)  # a plain value, not a callable like utcnow
        if c.default is not None and not callable(arg):
            out[c.name] = arg
    out.update({k: v for k, v in values.items() if v is not None or k in ("group_id",)})
    return out


async def update_mailbox(
    uow: UnitOfWork,
    workspace_id: int,
    mailbox_id: int,
    values: dict[str, Any],
    *,
    actor: Principal | None = None,
) -> None:
    """Change the given fields; ``null`` clears a text field (a secret, a host) and is ignored elsewhere."""
    values = {
        k: ("" if v is None and isinstance(mailboxes.c[k].type, sa.String) else v)
        for k, v in values.items()
        if v is not None or k == "group_id" or isinstance(mailboxes.c[k].type, sa.String)
    }
    await _check(uow, workspace_id, values)
    where = ("imap_host", "imap_folder", "imap_username")
    watched = (*where, *oauth2.CLIENT_FIELDS)
    if any(k in values for k in watched):
        current = (
            await uow.execute(
                sa.select(*(mailboxes.c[k] for k in watched)).where(
                    mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id
                )
            )
        ).first()
        if current is not None and any(k in values and values[k] != getattr(current, k) for k in where):
            # Another mailbox on the server: its UIDs mean nothing here, catch up from the start.
            values = {**values, "imap_uidvalidity": None, "imap_last_uid": 0}
        if current is not None and any(
            k in values and values[k] != getattr(current, k) for k in oauth2.CLIENT_FIELDS
        ):
            # Another OAuth2 client or grant: its cached token and its last refusal no longer apply.
            values = {**values, **oauth2.RESET}
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
    await _audit(uow, actor, mailbox_id, "updated", values)


async def delete_mailbox(
    uow: UnitOfWork, workspace_id: int, mailbox_id: int, *, actor: Principal | None = None
) -> None:
    result = await uow.execute(
        mailboxes.delete().where(mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == workspace_id)
    )
    if result.rowcount != 1:
        raise NotFound(f"mailbox {mailbox_id} not found")
    await _audit(uow, actor, mailbox_id, "deleted", [])


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A mailbox as the API shows it: secrets never, only whether each is set."""
    out = {k: v for k, v in row.items() if k not in SECRETS and k not in HIDDEN}
    for k in SECRETS:
        out[f"{k}_set"] = bool(row.get(k))
    return out


async def own_addresses(uow: UnitOfWork, workspace_id: int) -> set[str]:
    """This workspace's mailbox addresses. Another workspace of the same install is another
    company: its people may write to us, so its addresses are not ours."""
    return {
        r[0]
        for r in await uow.execute(
            sa.select(mailboxes.c.address).where(mailboxes.c.workspace_id == workspace_id)
        )
    }
