"""Mail that accounts send: password reset and sign-in links (after commit, with retries)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from helpline.platform.jobs import job_handler
from helpline.platform.runtime import Platform

TEXTS = {
    "reset": (
        "Reset your password",
        "Someone asked to reset the password of your account. If it was you, open this link "
        "within an hour:\n\n{url}\n\nIf it was not you, ignore this message; nothing changes.",
    ),
    "invite": (
        "You are invited to {workspace}",
        "{inviter} invited you to join {workspace} on Helpline as {role}. You already have an "
        "account: open this link within 7 days to accept, signed in as yourself:\n\n{url}\n\n"
        "If you do not know this workspace, ignore this message; nothing changes.",
    ),
    "signin": (
        "Your sign-in link",
        "Open this link within 15 minutes to sign in:\n\n{url}\n\n"
        "If you did not ask for it, ignore this message.",
    ),
}


@job_handler("accounts.send_link")
async def send_link(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        subject, text = TEXTS[args["purpose"]]
        msg = EmailMessage()
        msg["From"] = platform.settings.mail_from
        msg["To"] = args["email"]
        fill = {"url": args["url"], **{k: args.get(k, "") for k in ("inviter", "workspace", "role")}}
        msg["Subject"] = f"{args.get('brand') or 'Helpline'}: {subject.format(**fill)}"
        msg.set_content(text.format(**fill))
        await platform.mail.send(msg)
