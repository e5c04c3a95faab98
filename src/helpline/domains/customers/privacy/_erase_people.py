"""Erasing what identifies a contact outside their tickets' content: the contact rows and identities,
their sign-in accounts (only as far as this workspace owns them), chat visitors, mail delivery records,
and their knowledge-base searches and feedback. Called by :func:`._erase.erase`, in its transaction;
each step touches only what is not erased yet, so a second run counts zero."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import (
    ApiToken,
    Invitation,
    PasskeyCredential,
    RecoveryCode,
    SsoIdentity,
    SsoProvider,
    User,
    WebSession,
)
from helpline.domains.channels.email.models import AddressStatus, OutboundState
from helpline.domains.customers.privacy._scope import (
    Subject,
    chat_sessions,
    contacts,
    feedback,
    feedback_rows,
    identities,
    members,
    outbound,
    search_log,
    search_log_rows,
    visitors,
)
from helpline.platform.db import UnitOfWork

#: The address an erased account keeps (``users.email`` is unique and required).
ERASED_EMAIL = "erased-{user_id}@erased.invalid"

users = User.__table__
web_sessions = WebSession.__table__
api_tokens = ApiToken.__table__
passkeys = PasskeyCredential.__table__
recovery_codes = RecoveryCode.__table__
sso_identities = SsoIdentity.__table__
sso_providers = SsoProvider.__table__
invitations = Invitation.__table__
address_status = AddressStatus.__table__

_UNSENT = (OutboundState.queued.value, OutboundState.retrying.value)


async def erase_contacts(uow: UnitOfWork, s: Subject, n: Counter[str]) -> None:
    if s.identities:
        await uow.execute(identities.delete().where(identities.c.id.in_([i["id"] for i in s.identities])))
        n["identities"] += len(s.identities)
    now = utcnow()
    result = await uow.execute(
        contacts.update()
        .where(
            contacts.c.id.in_(s.contact_ids),
            sa.or_(
                contacts.c.erased_at.is_(None),
                contacts.c.name != "",
                contacts.c.notes != "",
                contacts.c.organization_id.is_not(None),
            ),
        )
        .values(name="", notes="", tags=[], attributes={}, organization_id=None, updated_at=now)
    )
    n["contacts"] += int(result.rowcount)
    await uow.execute(
        contacts.update()
        .where(contacts.c.id.in_(s.contact_ids), contacts.c.erased_at.is_(None))
        .values(erased_at=now)
    )


async def erase_accounts(uow: UnitOfWork, s: Subject, n: Counter[str]) -> list[int]:
    """Their customer memberships of this workspace go; an account left with no workspace is disabled
    and loses its address, password and every way to sign in. An account that is still a member
    elsewhere keeps all of that: this workspace's admin does not change what another observes."""
    now = utcnow()
    ws = s.workspace_id
    user_ids = []
    for m in s.memberships:
        uid = m["user_id"]
        user_ids.append(uid)
        await uow.execute(members.delete().where(members.c.id == m["id"]))
        await uow.execute(
            web_sessions.update()
            .where(
                web_sessions.c.user_id == uid,
                web_sessions.c.workspace_id == ws,
                web_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        await uow.execute(
            api_tokens.update()
            .where(
                api_tokens.c.user_id == uid,
                api_tokens.c.workspace_id == ws,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        ours = sa.select(sso_providers.c.id).where(sso_providers.c.workspace_id == ws)
        await uow.execute(
            sso_identities.delete().where(
                sso_identities.c.user_id == uid, sso_identities.c.provider_id.in_(ours)
            )
        )
        n["memberships"] += 1
        elsewhere = (
            await uow.execute(sa.select(sa.func.count()).select_from(members).where(members.c.user_id == uid))
        ).scalar_one()
        await uow.execute(  # an offer of this workspace to them is gone with them
            invitations.update()
            .where(
                invitations.c.user_id == uid,
                invitations.c.workspace_id == ws,
                invitations.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        invited_elsewhere = (
            await uow.execute(
                sa.select(sa.func.count())
                .select_from(invitations)
                .where(
                    invitations.c.user_id == uid,
                    invitations.c.accepted_at.is_(None),
                    invitations.c.revoked_at.is_(None),
                )
            )
        ).scalar_one()
        if elsewhere or invited_elsewhere:  # another workspace still knows this account
            continue
        done = await uow.execute(
            users.update()
            .where(users.c.id == uid, users.c.is_operator.is_(False))
            .values(
                email=ERASED_EMAIL.format(user_id=uid),
                name="",
                password_hash=None,
                password_by_admin=False,
                totp_secret=None,
                totp_enabled=False,
                totp_pending=None,
                is_active=False,
            )
        )
        if not done.rowcount:
            continue
        for table in (passkeys, recovery_codes, sso_identities):
            await uow.execute(table.delete().where(table.c.user_id == uid))
        await uow.execute(
            web_sessions.update()
            .where(web_sessions.c.user_id == uid, web_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await uow.execute(
            api_tokens.update()
            .where(api_tokens.c.user_id == uid, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        n["accounts_disabled"] += 1
    return user_ids


async def erase_chat(uow: UnitOfWork, s: Subject, n: Counter[str]) -> None:
    if s.visitor_ids:
        result = await uow.execute(
            visitors.update()
            .where(
                visitors.c.id.in_(s.visitor_ids),
                sa.or_(
                    visitors.c.name != "",
                    visitors.c.email != "",
                    visitors.c.external_id.is_not(None),
                    visitors.c.contact_id.is_not(None),
                ),
            )
            .values(name="", email="", external_id=None, contact_id=None)
        )
        n["chat_visitors"] += int(result.rowcount)
    # The page a chat began on can carry who they are in its address.
    await uow.execute(
        chat_sessions.update().where(s.sessions(), chat_sessions.c.origin != "").values(origin="")
    )


async def erase_mail_out(uow: UnitOfWork, s: Subject, n: Counter[str]) -> None:
    """Mail to them: their addresses leave the delivery records, and nothing unsent goes to them."""
    requested = set(s.requested)
    rows = (
        (
            await uow.execute(
                sa.select(outbound).where(
                    sa.or_(
                        s.outbound_mail(),
                        sa.and_(
                            outbound.c.workspace_id == s.workspace_id, outbound.c.ticket_id.in_(s.cc_only)
                        ),
                    )
                )
            )
        )
        .mappings()
        .all()
    )
    for r in rows:
        before = r["recipients"] or {}
        recipients = {k: v for k, v in before.items() if k.lower() not in s.emails}
        theirs = recipients != before or r["first_recipient"].lower() in s.emails
        values: dict[str, Any] = {}
        if recipients != before:
            values["recipients"] = recipients
        if r["first_recipient"].lower() in s.emails:
            values["first_recipient"] = ""
        if r["ticket_id"] in requested and r["payload"]:
            values["payload"] = {}  # a rendered acknowledgement repeats their subject
        # Nothing more goes out to them or about them; an agent may retry it for the others.
        if r["state"] in _UNSENT and (theirs or r["ticket_id"] in requested):
            values.update(
                state=OutboundState.failed.value,
                last_error="erased at the customer's request",
                next_attempt_at=None,
            )
        if values:
            await uow.execute(outbound.update().where(outbound.c.id == r["id"]).values(**values))
            n["outbound_emails"] += 1
    if s.emails:
        result = await uow.execute(
            address_status.delete().where(
                address_status.c.workspace_id == s.workspace_id,
                sa.func.lower(address_status.c.address).in_(sorted(s.emails)),
            )
        )
        n["bounce_records"] += int(result.rowcount)


async def erase_knowledge(uow: UnitOfWork, s: Subject, texts: set[str], n: Counter[str]) -> None:
    result = await uow.execute(search_log.delete().where(search_log_rows(s, texts)))
    n["search_log"] += int(result.rowcount)
    result = await uow.execute(
        feedback.update().where(feedback_rows(s), feedback.c.comment != "").values(comment="")
    )
    n["feedback"] += int(result.rowcount)
