"""The mailbox connection test: can we log in to its IMAP folder and to its SMTP server?

Both go through the egress guard like the fetcher and the sender do, and every result is our own
sentence (:mod:`failures`): the test never shows what the remote sent, so it cannot be used to read
an internal service's banner (ADR 0012)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from helpline.domains.channels.email import oauth2
from helpline.domains.channels.email.failures import describe
from helpline.domains.channels.email.imap import ImapConnection, ImapError
from helpline.domains.channels.email.imap import connect as imap_connect
from helpline.domains.channels.email.smtp_client import SmtpSession

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

TIMEOUT = 15.0


async def _imap(platform: Platform, mailbox: dict[str, Any]) -> dict[str, Any]:
    if not mailbox["imap_host"]:
        return {"state": "skip", "detail": "no IMAP server: mail arrives by the SMTP receiver or the webhook"}

    def probe(conn: ImapConnection) -> str:
        try:
            conn.select()
            waiting = len(conn.new_uids(int(mailbox["imap_last_uid"] or 0)))
            return f"logged in, folder {mailbox['imap_folder']!r} opened, {waiting} message(s) to fetch"
        finally:
            conn.close()

    async def run() -> str:
        return await asyncio.to_thread(probe, await imap_connect(platform, mailbox, TIMEOUT))

    try:
        # The OAuth2 refresh (when due) and the login together.
        return {"state": "ok", "detail": await asyncio.wait_for(run(), TIMEOUT + oauth2.TIMEOUT + 5)}
    except (ImapError, oauth2.OAuth2Error) as exc:  # already says which server and why
        return {"state": "fail", "detail": str(exc)[:500]}
    except Exception as exc:
        return {"state": "fail", "detail": describe(exc)[:500]}


async def _smtp(platform: Platform, mailbox: dict[str, Any]) -> dict[str, Any]:
    session = SmtpSession(platform, mailbox)
    server = session._server()
    if server is None:
        return {
            "state": "skip",
            "detail": "no SMTP server: replies go through the install's console transport",
        }
    try:
        await asyncio.wait_for(session._connect(server), TIMEOUT + oauth2.TIMEOUT)
        return {
            "state": "ok",
            "detail": f"{server['host']}:{server['port']} accepted the connection"
            + (" and the login" if server["user"] else "")
            + (" (XOAUTH2)" if server["user"] and server["auth"] == "xoauth2" else ""),
        }
    except oauth2.OAuth2Error as exc:  # the token endpoint, not the SMTP server
        return {"state": "fail", "detail": str(exc)[:500]}
    except Exception as exc:
        return {
            "state": "fail",
            "detail": f"{server['host']}:{server['port']}: {describe(exc)}"[:500],
        }
    finally:
        await session.close()


async def test_connection(platform: Platform, mailbox: dict[str, Any]) -> dict[str, Any]:
    imap, smtp = await asyncio.gather(_imap(platform, mailbox), _smtp(platform, mailbox))
    return {"imap": imap, "smtp": smtp, "ok": "fail" not in (imap["state"], smtp["state"])}
