"""``helpline demo``: fill the default workspace with a help desk that looks lived in.

Everything is created through the domain services, as the API would, so the demo has the same events
and jobs as real use; only the timestamps are moved, in the transaction that wrote them, to spread the
history over the last 90 days (so the SLA engine, reading the events after commit, sees the story's times).
Sign in with any demo login and the password :data:`DEMO_PASSWORD`.

- ``people``: staff, groups, organizations, contacts, custom fields, canned responses
- ``sla``: business hours with the country's holidays, SLA policies, and stories that show them
- ``tickets``: each ticket's story, told through the tickets service, then moved back in time
- ``help``: the help centre's articles and the chat widget
- ``texts``: the words they are made of
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from helpline.db.base import utcnow
from helpline.demo import help as help_demo
from helpline.demo import sla as sla_demo
from helpline.demo.people import ADMIN_EMAIL, DEMO_PASSWORD, MEMBERS, USERS, load_people
from helpline.demo.texts import ORGS, STAFF
from helpline.demo.tickets import index_jobs, load_tickets
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings

__all__ = ["ADMIN_EMAIL", "DEMO_PASSWORD", "load_demo"]


async def load_demo(settings: Settings, *, contacts: int, tickets: int, seed: int) -> list[str]:
    """Create the demo in the default workspace; the lines to print (URL, logins, an API token).

    If ``admin@example.com`` is already there, nothing is created and the logins are returned.
    """
    platform = build_platform(settings)
    console = Console(stderr=True)
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.default_workspace(uow)
            exists = (
                await uow.execute(
                    sa.select(USERS.c.id)
                    .join(MEMBERS, MEMBERS.c.user_id == USERS.c.id)
                    .where(USERS.c.email == ADMIN_EMAIL, MEMBERS.c.workspace_id == ws)
                )
            ).first()
        if exists:
            console.print("The demo is already loaded; nothing was changed.", highlight=False)
            return _lines(settings, await _customer_email(platform, ws), None)
        rng = random.Random(seed)
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            people = progress.add_task("people & organizations", total=contacts + len(ORGS) + len(STAFF) + 1)
            ctx, token = await load_people(platform, rng, contacts, progress, people)
            body = await sla_demo.load_sla(platform, ctx, utcnow())
            work = progress.add_task("tickets", total=tickets)
            await load_tickets(platform, ctx, rng, tickets, progress, work, sla_demo.showcase(ctx, body))
            await index_jobs(platform, progress, ctx.ws)
            await help_demo.load_help(platform, ctx.admin.principal)
            await help_demo.load_chat_widget(platform, ctx.admin.principal)
        return _lines(settings, next((r.email for r in ctx.requesters if r.signin), None), token)
    finally:
        await platform.close()


def _lines(settings: Settings, customer: str | None, token: str | None) -> list[str]:
    out = [
        f"Helpline is at {settings.base_url}  (start it with `helpline serve`)",
        f"  agent console   {settings.base_url}/login",
        f"  customer portal {settings.base_url}/portal",
        f"  help centre     {settings.base_url}/help/{accounts.DEFAULT_WORKSPACE}",
        f"  chat widget     {settings.base_url}/admin/chat-widgets (its snippet, for your site's pages)",
        f"  admin     {ADMIN_EMAIL} / {DEMO_PASSWORD}",
        f"  agent     {STAFF[0][1]} / {DEMO_PASSWORD}",
        f"  customer  {customer or '(none)'} / {DEMO_PASSWORD}",
    ]
    if token:
        out.append(f"  API token (admin)  {token}")
    else:
        out.append(f"  API token: `helpline tokens create --email {ADMIN_EMAIL}`")
    return out


async def _customer_email(platform: Platform, ws: int) -> str | None:
    m, u = MEMBERS, USERS
    async with platform.db.read() as conn:
        return (
            await conn.execute(
                sa.select(u.c.email)
                .join(m, m.c.user_id == u.c.id)
                .where(m.c.workspace_id == ws, m.c.role == Role.customer.value)
                .order_by(u.c.id)
                .limit(1)
            )
        ).scalar()
