"""What belongs to a contact, for export and erasure: one definition both use, so what is exported is
what is erased.

A contact's data is the contact and every contact merged into it, their identities, their customer
sign-in (membership) in this workspace, the tickets they requested (all of each conversation) and the
tickets they are CC'd on (there: the public messages, and what they wrote), their chat visitors and
sessions, the inbound mail from their addresses or on their tickets, the outbound mail to them, and
the knowledge-base search-log and feedback rows that carry their words or addresses.
Everything here is scoped to one workspace: nothing of another workspace is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.channels.chat.models import ChatSession, ChatVisitor
from helpline.domains.channels.email.models import InboundMail, OutboundMail
from helpline.domains.customers.models import Contact, ContactIdentity, IdentityKind
from helpline.domains.knowledge.models import Feedback, SearchLog
from helpline.domains.tickets.models import Attachment, Message, Ticket, TicketCC

contacts = Contact.__table__
identities = ContactIdentity.__table__
members = Membership.__table__
users = User.__table__
tickets = Ticket.__table__
messages = Message.__table__
attachments = Attachment.__table__
ccs = TicketCC.__table__
visitors = ChatVisitor.__table__
chat_sessions = ChatSession.__table__
inbound = InboundMail.__table__
outbound = OutboundMail.__table__
search_log = SearchLog.__table__
feedback = Feedback.__table__

#: Search-log queries are kept normalised to this many characters (``knowledge.tracking.log_search``).
_QUERY_CHARS = 200
#: Identity values shorter than this are not searched for inside free text (a 2-letter handle would
#: match half the log).
_MIN_NEEDLE = 5


@dataclass
class Subject:
    """The rows that make up one contact's data in one workspace (ids, and the values to match)."""

    workspace_id: int
    contact: dict[str, Any]
    #: The contact and every contact merged into it.
    contact_ids: list[int]
    identities: list[dict[str, Any]] = field(default_factory=list)
    #: Lower-case email addresses (identities, and the sign-in accounts' addresses).
    emails: set[str] = field(default_factory=set)
    #: Customer memberships in this workspace that sign in as this contact.
    memberships: list[dict[str, Any]] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)
    cc_only: list[int] = field(default_factory=list)
    visitor_ids: list[int] = field(default_factory=list)

    def requested_q(self) -> sa.Select[Any]:
        return sa.select(tickets.c.id).where(
            tickets.c.workspace_id == self.workspace_id, tickets.c.requester_id.in_(self.contact_ids)
        )

    def authored(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            messages.c.workspace_id == self.workspace_id, messages.c.author_contact_id.in_(self.contact_ids)
        )

    def erased_messages(self) -> sa.ColumnElement[bool]:
        """Messages erasure redacts: every message of their tickets, and theirs anywhere else."""
        return sa.or_(messages.c.ticket_id.in_(self.requested_q()), self.authored())

    def exported_messages(self) -> sa.ColumnElement[bool]:
        """Messages the export holds: every message of their tickets, the public messages of the
        tickets they are CC'd on (they received those), and theirs anywhere else."""
        return sa.or_(
            self.erased_messages(),
            sa.and_(messages.c.ticket_id.in_(self.cc_only), messages.c.public.is_(True)),
        )

    def inbound_mail(self) -> sa.ColumnElement[bool]:
        """Inbound mail from their addresses, or that became a message of theirs or of their tickets."""
        cond: list[sa.ColumnElement[bool]] = [
            inbound.c.ticket_id.in_(self.requested_q()),
            inbound.c.message_id.in_(sa.select(messages.c.id).where(self.authored())),
        ]
        if self.emails:
            cond += [
                sa.func.lower(inbound.c.from_address).in_(sorted(self.emails)),
                sa.func.lower(inbound.c.envelope_from).in_(sorted(self.emails)),
            ]
        return sa.and_(inbound.c.workspace_id == self.workspace_id, sa.or_(*cond))

    def outbound_mail(self) -> sa.ColumnElement[bool]:
        """Mail sent on their tickets, or whose first recipient is theirs (CC'd recipients of other
        mail are found in ``recipients`` by the caller)."""
        cond: list[sa.ColumnElement[bool]] = [outbound.c.ticket_id.in_(self.requested_q())]
        if self.emails:
            cond.append(sa.func.lower(outbound.c.first_recipient).in_(sorted(self.emails)))
        return sa.and_(outbound.c.workspace_id == self.workspace_id, sa.or_(*cond))

    def sessions(self) -> sa.ColumnElement[bool]:
        cond: list[sa.ColumnElement[bool]] = [chat_sessions.c.ticket_id.in_(self.requested_q())]
        if self.visitor_ids:
            cond.append(chat_sessions.c.visitor_id.in_(self.visitor_ids))
        return sa.and_(chat_sessions.c.workspace_id == self.workspace_id, sa.or_(*cond))

    def needles(self) -> list[str]:
        """Identity values worth looking for inside free text (search queries, feedback comments)."""
        return sorted({i["value"] for i in self.identities if len(i["value"]) >= _MIN_NEEDLE} | self.emails)


async def load(conn: AsyncConnection, workspace_id: int, contact: dict[str, Any]) -> Subject:
    """The subject of ``contact`` (already checked to be in ``workspace_id``)."""
    merged = [
        int(r[0])
        for r in await conn.execute(
            sa.select(contacts.c.id).where(
                contacts.c.workspace_id == workspace_id, contacts.c.merged_into_id == contact["id"]
            )
        )
    ]
    s = Subject(workspace_id, contact, sorted({contact["id"], *merged}))
    s.identities = [
        dict(r)
        for r in (
            await conn.execute(
                sa.select(identities)
                .where(identities.c.workspace_id == workspace_id, identities.c.contact_id.in_(s.contact_ids))
                .order_by(identities.c.id)
            )
        ).mappings()
    ]
    s.emails = {i["value"].lower() for i in s.identities if i["kind"] == IdentityKind.email}
    s.memberships = [
        dict(r)
        for r in (
            await conn.execute(
                sa.select(members, users.c.email.label("user_email"), users.c.name.label("user_name"))
                .join(users, users.c.id == members.c.user_id)
                .where(
                    members.c.workspace_id == workspace_id,
                    members.c.contact_id.in_(s.contact_ids),
                    members.c.role == Role.customer.value,
                )
                .order_by(members.c.id)
            )
        ).mappings()
    ]
    s.emails |= {m["user_email"].lower() for m in s.memberships if "@" in m["user_email"]}
    s.requested = [int(r[0]) for r in await conn.execute(s.requested_q().order_by(tickets.c.id))]
    s.cc_only = [
        int(r[0])
        for r in await conn.execute(
            sa.select(ccs.c.ticket_id)
            .join(tickets, tickets.c.id == ccs.c.ticket_id)
            .where(
                tickets.c.workspace_id == workspace_id,
                ccs.c.contact_id.in_(s.contact_ids),
                tickets.c.requester_id.not_in(s.contact_ids),
            )
            .order_by(ccs.c.ticket_id)
        )
    ]
    s.visitor_ids = [
        int(r[0])
        for r in await conn.execute(
            sa.select(visitors.c.id)
            .where(
                visitors.c.workspace_id == workspace_id,
                sa.or_(
                    visitors.c.contact_id.in_(s.contact_ids),
                    visitors.c.id.in_(
                        sa.select(chat_sessions.c.visitor_id).where(
                            chat_sessions.c.ticket_id.in_(s.requested_q())
                        )
                    ),
                ),
            )
            .order_by(visitors.c.id)
        )
    ]
    return s


async def their_texts(conn: AsyncConnection, s: Subject) -> set[str]:
    """What they wrote, normalised like a search-log query: a question put to the answer bot or typed
    into a suggesting form is logged with these words (the log names no contact)."""
    rows = await conn.execute(
        sa.select(sa.func.substr(messages.c.body_text, 1, 4 * _QUERY_CHARS)).where(
            s.authored(), messages.c.redacted_at.is_(None)
        )
    )
    return {t for (raw,) in rows if (t := " ".join(str(raw or "").split())[:_QUERY_CHARS])}


def search_log_rows(s: Subject, texts: set[str]) -> sa.ColumnElement[bool]:
    """Search-log rows of theirs: a query that is one of their texts or holds one of their addresses."""
    cond: list[sa.ColumnElement[bool]] = [
        search_log.c.query.icontains(n, autoescape=True) for n in s.needles()
    ]
    texts_l = sorted(texts)
    for i in range(0, len(texts_l), 500):
        cond.append(search_log.c.query.in_(texts_l[i : i + 500]))
    if not cond:
        return sa.false()
    return sa.and_(search_log.c.workspace_id == s.workspace_id, sa.or_(*cond))


def feedback_rows(s: Subject) -> sa.ColumnElement[bool]:
    """Article feedback whose comment holds one of their addresses or handles."""
    cond = [feedback.c.comment.icontains(n, autoescape=True) for n in s.needles()]
    if not cond:
        return sa.false()
    return sa.and_(feedback.c.workspace_id == s.workspace_id, sa.or_(*cond))
