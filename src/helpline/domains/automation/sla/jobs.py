"""The SLA engine's jobs: the alert sweep, the mail and webhook of an escalation, and the
recomputes after a configuration change. Importing this module registers them and the engine's
feed consumer."""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from helpline.domains.accounts.models import GroupMember, Membership
from helpline.domains.automation import signing
from helpline.domains.automation.sla import alerts, engine, recompute
from helpline.domains.tickets.history_text import METRIC_NAMES
from helpline.domains.tickets.jobs import mail_staff
from helpline.domains.tickets.models import Ticket
from helpline.platform import egress
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

engine.install()

members_t = Membership.__table__
group_members_t = GroupMember.__table__
tickets_t = Ticket.__table__


log = logging.getLogger(__name__)


@job_handler("sla.sweep")
async def sweep(platform: Platform, batch: list[dict[str, Any]]) -> None:
    while await alerts.sweep(platform) >= 500:
        pass


@job_handler("sla.recompute")
async def recompute_schedule(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for sid in sorted({int(a["schedule_id"]) for a in batch}):
        await recompute.schedule_changed(platform, sid)


@job_handler("sla.reapply")
async def reapply(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for ws in sorted({int(a["workspace_id"]) for a in batch}):
        await recompute.policies_changed(platform, ws)


async def recipients(
    platform: Platform, ticket_id: int, user_ids: list[int], group_ids: list[int]
) -> list[int]:
    """The staff named (directly or by group) who may see the ticket: admins, and agents when the
    ticket has no group, is theirs, or is in one of their groups."""
    async with platform.db.read() as conn:
        ticket = (
            await conn.execute(
                sa.select(tickets_t.c.workspace_id, tickets_t.c.group_id, tickets_t.c.assignee_id).where(
                    tickets_t.c.id == ticket_id
                )
            )
        ).first()
        if ticket is None:
            return []
        named = set(user_ids)
        if group_ids:
            named |= set(
                (
                    await conn.execute(
                        sa.select(group_members_t.c.user_id).where(group_members_t.c.group_id.in_(group_ids))
                    )
                ).scalars()
            )
        if not named:
            return []
        staff = (
            await conn.execute(
                sa.select(members_t.c.user_id, members_t.c.role).where(
                    members_t.c.workspace_id == ticket.workspace_id,
                    members_t.c.user_id.in_(named),
                    members_t.c.role.in_(["admin", "agent", "light-agent"]),
                    members_t.c.is_active.is_(True),
                )
            )
        ).all()
        in_group: set[int] = set()
        if ticket.group_id is not None:
            in_group = set(
                (
                    await conn.execute(
                        sa.select(group_members_t.c.user_id).where(
                            group_members_t.c.group_id == ticket.group_id
                        )
                    )
                ).scalars()
            )
    return sorted(
        int(r.user_id)
        for r in staff
        if r.role == "admin"
        or ticket.group_id is None
        or r.user_id == ticket.assignee_id
        or r.user_id in in_group
    )


@job_handler("sla.notify")
async def notify(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        tid = int(args["ticket_id"])
        what = METRIC_NAMES.get(args["metric"], args["metric"])
        subject = f"{what} target missed" if args["stage"] == "breach" else f"{what} target due soon"
        for uid in await recipients(platform, tid, args.get("user_ids") or [], args.get("group_ids") or []):
            await mail_staff(platform, tid, uid, subject, [f"{subject} (due {args['due_at']})."])


@job_handler("sla.webhook", alone=True)
async def webhook(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """POST the alert to the escalation's URL through the egress guard, signed with the secret the
    policy holds now for that URL (none left: the call is dropped); a failure raises, so the job
    runner retries it with backoff (each webhook alone: one that fails never sends another again)."""
    async with egress.http_client(platform.settings, purpose=egress.HTTP, timeout=10) as client:
        for args in batch:
            secret = await _secret(platform, args)
            if secret is None:
                log.info("SLA webhook to %s dropped: its policy no longer calls it", args.get("url"))
                continue
            body = orjson.dumps(
                {
                    "type": f"sla.{args['stage']}",
                    "timestamp": args["due_at"],
                    "data": {
                        "workspace_id": args["workspace_id"],
                        "ticket_id": args["ticket_id"],
                        "metric": args["metric"],
                        "stage": args["stage"],
                        "due_at": args["due_at"],
                    },
                }
            )
            msg_id = str(args.get("id") or f"msg_{uuid.uuid4().hex}")
            headers = signing.headers(secret, msg_id, int(time.time()), body)
            response = await client.post(args["url"], content=body, headers=headers)
            response.raise_for_status()


async def _secret(platform: Platform, args: dict[str, Any]) -> str | None:
    """The secret of the policy's webhook escalation to ``args["url"]`` (its workspace's policy),
    ``""`` when it has none, None when the policy no longer calls that URL."""
    if "secret" in args:  # a job queued before secrets stayed out of job arguments
        return str(args["secret"] or "")
    async with platform.db.read() as conn:
        escalations = (
            await conn.execute(
                sa.select(alerts.policies_t.c.escalations).where(
                    alerts.policies_t.c.id == args.get("policy_id"),
                    alerts.policies_t.c.workspace_id == args.get("workspace_id"),
                )
            )
        ).scalar()
    for rule in escalations or []:
        for action in rule.get("actions") or [] if isinstance(rule, dict) else []:
            if action.get("type") == "webhook" and action.get("url") == args.get("url"):
                return str(action.get("secret") or "")
    return None
