"""Writes behind the portal's forms, each composed from the accounts and tickets services.

Signing up never exposes what existed before it: a password account is opened at once only for an
address the workspace has never seen and whose domain belongs to no organization. Every other address
(a user already, a known contact, a colleague of an organization) gets a single-use sign-in link by
email instead, so only whoever reads that mailbox gets in, and the page says the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from helpline.domains.accounts import links
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import service as customers
from helpline.domains.tickets import content
from helpline.domains.tickets.models import FieldType
from helpline.errors import Invalid, Problem
from helpline.platform.db import UnitOfWork
from helpline.platform.jobs import enqueue
from helpline.types import Email

users, members = User.__table__, Membership.__table__
SIGN_IN_TTL = 15 * 60
#: Sign-in links mailed to one address per window, so the form cannot be used to flood a mailbox.
MAX_FILES = 20
_email = TypeAdapter(Email)


@dataclass(frozen=True)
class SignUp:
    """What a sign-up did: ``user_id`` to sign in now, or None when a link went by email instead."""

    user_id: int | None


def check_sign_up(name: str, email: str, password: str) -> tuple[str, str]:
    """(name, email) cleaned; :class:`Invalid` names the first field at fault."""
    name = name.strip()
    if not name:
        raise Invalid("name", "Enter your name.")
    if len(name) > 200:
        raise Invalid("name", "Use at most 200 characters.")
    if "\x00" in name or "\x00" in password:
        raise Invalid("name" if "\x00" in name else "password", "must not contain the NUL character")
    try:
        email = _email.validate_python(email)
    except ValidationError:
        raise Invalid("email", "Enter an email address like name@example.com.") from None
    try:
        accounts.check_password(password)
    except Invalid:
        raise Invalid("password", f"Use at least {accounts.MIN_PASSWORD} characters.") from None
    return name, accounts.normalise_email(email)


async def sign_up(
    uow: UnitOfWork,
    secret: str,
    *,
    workspace_id: int,
    link_url: str,
    brand: str,
    name: str,
    email: str,
    password: str,
) -> SignUp:
    """Open a customer account in the workspace (see the module's docstring for when it is usable at once)."""
    name, email = check_sign_up(name, email, password)
    existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).first()
    fresh = (
        existing is None
        and await customers.contact_by_identity(uow, workspace_id, "email", email) is None
        and await customers.organization_for_email(uow, workspace_id, email) is None
    )
    if fresh:
        return SignUp(
            await accounts.create_user(
                uow, workspace_id, email=email, role=Role.customer, name=name, password=password
            )
        )
    if existing is not None:
        member = (
            await uow.execute(
                sa.select(members.c.id).where(
                    members.c.user_id == existing[0], members.c.workspace_id == workspace_id
                )
            )
        ).first()
        if member is None:
            # No password: an account that already exists keeps its own, and a stranger's choice is never set.
            await accounts.create_user(uow, workspace_id, email=email, role=Role.customer, name=name)
    else:
        await accounts.create_user(uow, workspace_id, email=email, role=Role.customer, name=name)
    await mail_sign_in_link(
        uow, secret, workspace_id=workspace_id, email=email, link_url=link_url, brand=brand
    )
    return SignUp(None)


async def mail_sign_in_link(
    uow: UnitOfWork, secret: str, *, workspace_id: int, email: str, link_url: str, brand: str
) -> bool:
    """Queue a single-use sign-in link (15 minutes) to ``email`` if it is an active member of the workspace.
    Says nothing to the caller's visitor either way; True when a link was queued."""
    try:
        email = accounts.normalise_email(_email.validate_python(email))
    except ValidationError:
        return False
    user_id = await accounts.active_user_by_email(uow, email)
    if user_id is None:
        return False
    member = (
        await uow.execute(
            sa.select(members.c.id).where(
                members.c.user_id == user_id, members.c.workspace_id == workspace_id
            )
        )
    ).first()
    if member is None:
        return False
    token = await links.make(uow, secret, links.SIGN_IN, user_id, ttl=SIGN_IN_TTL)
    await enqueue(
        uow,
        "accounts.send_link",
        {"purpose": links.SIGN_IN, "email": email, "brand": brand, "url": f"{link_url}?token={token}"},
    )
    return True


# --- request forms --------------------------------------------------------------------------------


def field_name(key: str) -> str:
    """The form field of custom field ``key``."""
    return f"cf_{key}"


def custom_values(defs: dict[str, dict[str, Any]], form: Any) -> dict[str, Any]:
    """Typed values of the customer-visible custom fields in a submitted form, for the tickets service to
    validate (a number that does not parse is passed on as text, so the service's message explains it)."""
    values: dict[str, Any] = {}
    for key, defn in defs.items():
        if not defn["customer_visible"]:
            continue
        raw = form.get(field_name(key))
        if defn["type"] == FieldType.checkbox:
            values[key] = raw is not None and raw != ""
            continue
        if not isinstance(raw, str) or not raw.strip():
            continue
        raw = raw.strip()
        if defn["type"] == FieldType.number:
            try:
                values[key] = int(raw)
            except ValueError:
                try:
                    values[key] = float(raw)
                except ValueError:
                    values[key] = raw
        else:
            values[key] = raw
    return values


class Upload(Protocol):
    """A file a customer chose (the web layer's upload object fits)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


async def store_files(uow: UnitOfWork, platform: Any, actor: Principal, files: Sequence[Upload]) -> list[str]:
    """Store the files as the actor's uploads; their tokens, for the message that will carry them."""
    if len(files) > MAX_FILES:
        raise Invalid("attachments", f"attach at most {MAX_FILES} files")
    s = platform.settings
    tokens = []
    for f in files:
        data = await f.read(s.max_attachment_bytes + 1)
        try:
            item = await content.store_upload(
                uow,
                platform.storage,
                workspace_id=actor.workspace_id,
                user_id=actor.user_id,
                filename=f.filename or "file",
                content_type=f.content_type,
                data=data,
                max_bytes=s.max_attachment_bytes,
                blocked=s.blocked_attachment_types,
            )
        except Problem as exc:
            message = exc.errors[0]["message"] if exc.errors else exc.detail
            raise Invalid("attachments", f"{f.filename}: {message}") from None
        tokens.append(item["token"])
    return tokens


def form_errors(exc: Problem) -> dict[str, str]:
    """A service's error as ``{form field: message}`` (``_`` for the form as a whole)."""
    out: dict[str, str] = {}
    for err in exc.errors:
        field = str(err.get("field", "_"))
        if field.startswith("custom_fields."):
            field = field_name(field.split(".", 1)[1])
        out.setdefault(field, str(err.get("message", exc.detail)))
    return out or {"_": exc.detail}
