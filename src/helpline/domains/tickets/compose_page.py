"""The ticket page's composing parts, gathered in one read for ``ticket_page``: the history in
sentences (``history_text``), each message's "via" label, the agent's draft and signature, whom a
note may @mention, the snooze, and the logged time."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import queries
from helpline.domains.tickets.channel_port import PageParts
from helpline.domains.tickets.history_text import Names, describe, message_via
from helpline.domains.tickets.page_reads import people_names, requester_names


def _ids(value: Any) -> set[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return set()


async def compose_context(
    conn: AsyncConnection,
    actor: Principal,
    ticket: dict[str, Any],
    msgs: list[dict[str, Any]],
    events: list[dict[str, Any]],
    parts: PageParts,
    people: dict[int, str],
    contacts: dict[int, str],
    groups: dict[int, str],
) -> dict[str, Any]:
    """Context for ``_composer.html`` and ``_history.html`` (adds to ``people`` and ``contacts``)."""
    entries = await queries.time_entries(conn, ticket["id"])
    snooze = await queries.snooze_of(conn, ticket["id"])
    user_ids: set[int] = {e["user_id"] for e in entries if e["user_id"]}
    contact_ids: set[int] = set()
    for e in events:
        if e["field"] in ("assignee_id", "follower_ids"):
            user_ids |= _ids(e["old"]) | _ids(e["new"])
        elif e["field"] in ("requester_id", "cc_contact_ids"):
            contact_ids |= _ids(e["old"]) | _ids(e["new"])
        elif e["kind"] == "created" and isinstance(e["new"], dict):
            contact_ids |= _ids(e["new"].get("requester_id"))
    if snooze and snooze["user_id"]:
        user_ids.add(snooze["user_id"])
    people.update(await people_names(conn, actor, user_ids - set(people)))
    contacts.update(await requester_names(conn, contact_ids - set(contacts)))
    authors = {
        m["id"]: people.get(m["author_user_id"], "Agent")
        if m["author_user_id"] and m["author_kind"] != "customer"
        else contacts.get(m["author_contact_id"], "The customer")
        for m in msgs
        if m["author_user_id"] or m["author_contact_id"]
    }
    names = Names(
        people=people,
        contacts=contacts,
        groups=groups,
        authors=authors,
        requester=contacts.get(ticket["requester_id"], ""),
    )
    draft = await queries.draft_of(conn, actor, ticket["id"])
    return {
        "history": [{"at": e["created_at"], "text": describe(e, names)} for e in events],
        "via": {m["id"]: message_via(m, parts.via) for m in msgs},
        "saved_draft": draft,
        "signature": await queries.signature_of(conn, actor),
        "mention_people": await queries.mentionable(conn, actor, ticket) if actor.is_staff else [],
        "snooze": snooze,
        "time_entries": entries,
        "time_total": sum(e["minutes"] for e in entries),
    }
