"""What the email channel's admin pages share: the router, the messages shown after a redirect, and
the mailbox form (parsed into the API's request bodies, so the page and the API check the same rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from helpline.domains.accounts.admin_views import FLASHES as ADMIN_FLASHES
from helpline.domains.channels.email.mailboxes import SECRETS, mailboxes
from helpline.domains.channels.email.schemas import MailboxCreate, MailboxUpdate, no_nul
from helpline.web.forms import errors_of

router = APIRouter(include_in_schema=False)

FLASHES = {
    **ADMIN_FLASHES,
    "reprocessed": "Sent back for processing. If it fails again, it comes back to this list.",
}

#: Form fields by kind. A blank port, folder or choice means the column's default.
TEXT = (
    "name",
    "address",
    "imap_host",
    "imap_username",
    "imap_folder",
    "imap_move_to",
    "smtp_host",
    "smtp_username",
    "oauth_token_url",
    "oauth_client_id",
    "oauth_scope",
    "dkim_domain",
    "dkim_selector",
    "auto_ack_subject",
    "auto_ack_body",
)
DEFAULTED = ("imap_port", "imap_tls", "imap_auth", "imap_folder", "smtp_port", "smtp_tls", "smtp_auth")
FLAGS = ("active", "auto_ack")
PORTS = ("imap_port", "smtp_port")
DEFAULTS: dict[str, Any] = {k: mailboxes.c[k].default.arg for k in DEFAULTED}  # type: ignore[union-attr]
TLS_CHOICES = [("ssl", "SSL/TLS (usually port 993 or 465)"), ("starttls", "STARTTLS"), ("none", "None")]
AUTH_CHOICES = [("password", "Password"), ("xoauth2", "OAuth2 (XOAUTH2)")]


def form_values(form: dict[str, Any]) -> dict[str, Any]:
    """The submitted form as request-body values. Secrets: blank keeps the saved one, the "remove"
    box clears it (``None``)."""
    out: dict[str, Any] = {}
    for k in TEXT:
        raw = form.get(k, "")
        value = raw if isinstance(raw, str) else ""
        out[k] = value.replace("\r\n", "\n").strip() if k == "auto_ack_body" else value.strip()
    for k in DEFAULTED:
        raw = form.get(k, "")
        value = raw.strip() if isinstance(raw, str) else ""
        out[k] = value or DEFAULTS[k]
    for k in FLAGS:
        out[k] = form.get(k) == "on"
    group = form.get("group_id", "")
    out["group_id"] = (group.strip() or None) if isinstance(group, str) else None
    for k in SECRETS:
        raw = form.get(k, "")
        if form.get(f"clear_{k}") == "on":
            out[k] = None
        elif isinstance(raw, str) and raw.strip():
            out[k] = raw.strip() if k == "dkim_private_key" else raw
    return out


def form_errors(exc: Exception) -> dict[str, str]:
    """Field → message, with plainer words for a port that is not a number from 1 to 65535 (a
    port the egress guard refuses keeps its own sentence)."""
    errors = errors_of(exc)
    if isinstance(exc, ValidationError):
        for k in PORTS:
            if k in errors:
                errors[k] = "a port number from 1 to 65535"
    return errors


def create_values(form: dict[str, Any]) -> dict[str, Any]:
    """Checked values for ``mailboxes.create_mailbox``; raises ValidationError or Problem."""
    values = {k: v for k, v in form_values(form).items() if v is not None}
    return no_nul(MailboxCreate.model_validate(values).model_dump(exclude_none=True))


def update_values(form: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Checked values for ``mailboxes.update_mailbox``: only what differs from ``current`` (the row with
    its secrets), so saving an unchanged IMAP server does not restart its fetch from the beginning."""
    values = MailboxUpdate.model_validate(form_values(form)).model_dump(exclude_unset=True)
    changed = {
        k: v
        for k, v in values.items()
        if (k in SECRETS and (v is not None or current.get(k))) or (k not in SECRETS and current.get(k) != v)
    }
    return no_nul(changed)


def shown_values(row: dict[str, Any]) -> dict[str, Any]:
    """A mailbox row as the form shows it (never its secrets)."""
    out = {k: row.get(k) for k in (*TEXT, *DEFAULTED) if k not in SECRETS}
    out.update({k: "on" if row.get(k) else "" for k in FLAGS})
    out["group_id"] = row.get("group_id") or ""
    return out


def resubmitted(form: dict[str, Any]) -> dict[str, Any]:
    """The submitted form shown again after an error, without the secrets typed into it
    (``secrets_dropped`` says whether any was, so the page can ask for them again)."""
    out = {k: v for k, v in form.items() if k not in SECRETS and k != "csrf_token"}
    out.update({k: "on" if form.get(k) == "on" else "" for k in FLAGS})
    out["secrets_dropped"] = any(isinstance(form.get(k), str) and form[k].strip() for k in SECRETS)
    return out


__all__ = [
    "AUTH_CHOICES",
    "TLS_CHOICES",
    "ValidationError",
    "create_values",
    "form_errors",
    "resubmitted",
    "router",
    "shown_values",
    "update_values",
]
