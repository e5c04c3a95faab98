"""The email side of the console's ticket page: what each message says about its mail.

For a message that came in by email: its original (.eml) to download, the SPF/DKIM/DMARC verdicts
our receiving host recorded, and whether it has remote pictures (blocked until an agent asks, for
that message and that response only). For an agent's public reply on an email ticket: its delivery
state per recipient, and a Retry button when it failed. The ticket page (``tickets.ticket_views``)
reads all of it in one query (:func:`message_facts`, through ``queries.mail_of_messages``) and
includes this module's routes.

Only staff who can see the ticket get any of it; the portal shows none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.email import images, outbound, queries
from helpline.errors import Conflict
from helpline.web.deps import PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.headers import csp_with_remote_images
from helpline.web.pages import StaffPage, redirect
from helpline.web.types import IdPath

if TYPE_CHECKING:
    from helpline.domains.accounts.principal import Principal

router = APIRouter(include_in_schema=False)

#: Verdicts shown as a warning: the sender's domain did not vouch for this mail.
FAILED = {"fail", "softfail", "permerror"}
AUTH_METHODS = (("spf", "SPF"), ("dkim", "DKIM"), ("dmarc", "DMARC"))


async def message_facts(
    conn: AsyncConnection, actor: Principal, msgs: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Email facts of a ticket's messages that ``actor`` already may see, by message id.

    One query for the page (a UNION of inbound mail and outbound replies, by message id), and none
    at all on a ticket where no message came by email (only mail makes an email ticket)."""
    if not actor.is_staff:
        return {}
    received = [int(m["id"]) for m in msgs if m["channel"] == "email"]
    if not received:
        return {}
    replies = [int(m["id"]) for m in msgs if m["author_kind"] == "agent" and m["public"]]
    rows = await queries.mail_of_messages(conn, actor, received=received, replies=replies)
    by_message: dict[int, dict[str, Any]] = {}
    bodies = {int(m["id"]): m["body_html"] for m in msgs}
    for row in rows:
        message_id = int(row["message_id"])
        facts = by_message.setdefault(message_id, {})
        if int(row["outgoing"]):
            facts["delivery"] = _delivery(row, may_retry=actor.can_reply_publicly)
        else:
            auth = row["data"] or {}
            verdicts = [(label, str(auth[key])) for key, label in AUTH_METHODS if auth.get(key)]
            facts["inbound_id"] = int(row["id"])
            facts["auth"] = verdicts
            facts["auth_failed"] = any(v in FAILED for _, v in verdicts)
            facts["remote_images"] = images.has_blocked(bodies.get(message_id, ""))
    return by_message


def _delivery(row: dict[str, Any], *, may_retry: bool) -> dict[str, Any]:
    described = queries.describe(row)
    return {
        "id": int(row["id"]),
        "state": row["state"],
        "status": described["status"],
        "next_attempt_at": row["next_attempt_at"],
        "recipients": sorted((row["data"] or {}).items()),
        "can_retry": may_retry and row["state"] == "failed",
    }


def show_images(
    msgs: list[dict[str, Any]], facts: dict[int, dict[str, Any]], message_id: int
) -> dict[str, str] | None:
    """Load the blocked pictures of one message of the page (its ``body_html`` is changed in
    ``msgs``) and return the response headers that allow them; ``None`` when there is nothing to
    show (another ticket's message, no pictures): the page then keeps the strict policy."""
    found = facts.get(message_id)
    if not found or not found.get("remote_images"):
        return None
    for m in msgs:
        if int(m["id"]) == message_id:
            m["body_html"] = images.show(m["body_html"])
            found["images_shown"] = True
            return {"Content-Security-Policy": csp_with_remote_images()}
    return None


@router.get("/tickets/{ticket_id}/messages/{message_id}/original.eml")
async def original_eml(
    ticket_id: IdPath, message_id: IdPath, actor: StaffPage, platform: PlatformDep
) -> Response:
    """The email exactly as it arrived, as a download (never shown inline: it is the sender's HTML)."""
    async with platform.db.read() as conn:
        row = await queries.access_original(conn, actor, ticket_id, message_id)
    return await stored_file(
        platform, row["raw_sha256"], f"message-{message_id}.eml", media_type="message/rfc822"
    )


@router.post("/tickets/{ticket_id}/email/{outbound_id}/retry")
async def retry(ticket_id: IdPath, outbound_id: IdPath, actor: StaffPage, platform: PlatformDep) -> Response:
    """The Retry button of a failed email (the same service as the API's retry)."""
    try:
        message_id = await outbound.do_retry(platform, actor, outbound_id, ticket_id=ticket_id)
    except Conflict:  # someone retried it already, or it went out meanwhile: show where it is now
        message_id = None
    anchor = f"#m{message_id}" if message_id else ""
    return redirect(f"/tickets/{ticket_id}?retried={outbound_id}{anchor}")
