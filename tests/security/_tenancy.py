"""What the tenant-isolation walk needs: two workspaces filled with one of every kind of object a route
names, built through the API and pages as people would; a digest of the database to prove a walk
changed nothing; and the map from each route's path parameters to the object they name.

A route added later with a path parameter must get an entry in :data:`PARAMS` (and, for a write, in
:data:`BODIES`), or ``test_every_parameterised_route_is_in_the_map`` fails and says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
import uvicorn
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from helpline.db.base import Base
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.passkeys import relying_party
from helpline.platform.models import Job
from tests.conftest import WS, Person, drain
from tests.integration.accounts.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery"
#: The chat widget's host page (its origin is on the widget's allow-list).
ORIGIN = "http://shop.test:8080"
#: A number no row has: what a missing id answers is what another workspace's id must answer.
MISSING = 987_654_321_098


# --- the two workspaces -----------------------------------------------------------------------------


@dataclass
class Session:
    """A signed-in browser: its session cookie and CSRF token."""

    cookie: str
    csrf: str


@dataclass
class Tenant:
    """A workspace with one of every kind of object; ``word`` is in every name it holds, so a response
    to another workspace's principal that contains it leaked something."""

    ws: WS
    word: str
    #: the domain of its people's and contacts' addresses (addresses are unique across workspaces)
    host: str = ""
    slug: str = ""
    admin: Person | None = None
    agent: Person | None = None
    light: Person | None = None
    customer: Person | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    #: kind -> id or key (``ticket``, ``contact``, ``tag``, ``kb_file_name``, …)
    ids: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> Any:
        return self.ids[kind]

    def person(self, role: str) -> Person:
        who = {"admin": self.admin, "agent": self.agent, "light": self.light, "customer": self.customer}[role]
        assert who is not None
        return who

    def api(self, role: str = "admin") -> httpx.AsyncClient:
        return self.ws.client(self.person(role))

    def pages(self, role: str = "admin", address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client signed in to the pages as ``role`` (cookie; the CSRF token as htmx sends it),
        connecting from ``address``."""
        s = self.sessions[role]
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.ws.app, client=(address, 40000)),
            base_url="http://testserver",
            cookies={"helpline_session": s.cookie},
            headers={"X-CSRF-Token": s.csrf},
        )


#: A trigger every workspace has (tagging what customers write).
TRIGGER: dict[str, Any] = {
    "conditions": {"all": [{"field": "actor", "operator": "is", "value": "customer"}]},
    "actions": [{"type": "add_tags", "value": ["from-customer"]}],
}
#: A time rule every workspace has (closing solved tickets after a week).
TIME_RULE: dict[str, Any] = {
    "conditions": {
        "all": [
            {"field": "status", "operator": "is", "value": "solved"},
            {"field": "hours_since_solved", "operator": "gt", "value": 168},
        ]
    },
    "actions": [{"type": "set_status", "value": "closed"}],
}


def ok(r: httpx.Response, *codes: int) -> httpx.Response:
    assert r.status_code in (codes or (200, 201, 202, 204, 303)), (r.request.method, r.request.url, r.text)
    return r


async def _one(t: Tenant, sql: str, **params: Any) -> Any:
    async with t.ws.platform.db.read() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar_one()


def _mail(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    return msg


async def populate(t: Tenant) -> Tenant:
    """Fill ``t.ws`` with every kind of object, through the API and pages as its people would."""
    w, W = t.word, t.word.capitalize()
    ws = t.ws
    t.host = f"{w}-{uuid.uuid4().hex[:8]}.test"
    t.slug = await _one(t, "SELECT slug FROM workspaces WHERE id = :i", i=ws.id)
    t.admin = await ws.person(Role.admin, email=f"admin@{t.host}", name=f"{W} Admin", password=PASSWORD)
    t.agent = await ws.person(
        Role.agent, email=f"agent@{t.host}", name=f"{W} Agent", password=PASSWORD, groups=[f"{W} Team"]
    )
    t.light = await ws.person(Role.light_agent, email=f"light@{t.host}", name=f"{W} Light", password=PASSWORD)
    t.customer = await ws.person(Role.customer, email=f"carla@{t.host}", name=f"{W} Carla", password=PASSWORD)
    t.ids |= {
        "admin": t.admin.user_id,
        "agent": t.agent.user_id,
        "light": t.light.user_id,
        "customer_user": t.customer.user_id,
        "customer_contact": t.customer.contact_id,
        "team": ws.groups[f"{W} Team"],
        "workspace": ws.id,
        "slug": t.slug,
    }
    anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    async with anon:
        for role in ("admin", "agent", "light", "customer"):
            anon.cookies.clear()
            r = ok(
                await anon.post("/api/v1/session", json={"email": t.person(role).email, "password": PASSWORD})
            )
            t.sessions[role] = Session(anon.cookies["helpline_session"], r.json()["csrf_token"])
    # Admins and agents take chats while a console page is open, unless away: away here, so that the
    # walk's page loads leave the tenant's waiting chat in its queue (the walk must change nothing).
    for role in ("admin", "agent"):
        async with t.pages(role) as page:
            ok(await page.post("/chats/status", data={"status": "away"}))

    async with t.api() as api:
        # customers: an organization (sharing its tickets), a contact with a second identity, a second contact
        t.ids["org"] = ok(
            await api.post(
                "/organizations",
                json={"name": f"{W} Org", "domains": [t.host], "shared_tickets": True, "notes": W},
            )
        ).json()["id"]
        contact = ok(
            await api.post(
                "/contacts",
                json={
                    "email": f"dora@mail.{t.host}",
                    "name": f"{W} Dora",
                    "identities": [{"kind": "phone", "value": "+1 555 0100"}],
                    "organization_id": t["org"],
                    "tags": [f"{w}-contact"],
                },
            )
        ).json()
        t.ids["contact"] = contact["id"]
        t.ids["identity"] = next(i["id"] for i in contact["identities"] if i["kind"] == "phone")
        t.ids["contact2"] = ok(
            await api.post("/contacts", json={"email": f"eddie@mail.{t.host}", "name": f"{W} Eddie"})
        ).json()["id"]
        # a contact of its own for the erase routes, with an identity and a request to erase: the walk's
        # own controls erase B's, so no other step may need it
        t.ids["victim"] = ok(
            await api.post(
                "/contacts",
                json={
                    "email": f"vic@mail.{t.host}",
                    "name": f"{W} Vic",
                    "identities": [{"kind": "phone", "value": "+1 555 0142"}],
                },
            )
        ).json()["id"]
        ok(
            await api.post(
                "/tickets",
                json={"subject": f"{W} forget me", "body": f"{W} vic's words", "requester_id": t["victim"]},
            )
        )
        # the ticket catalog: a custom field and a group
        t.ids["field"] = ok(
            await api.post(
                "/custom-fields",
                json={"key": f"{w}_plan", "label": f"{W} plan", "type": "text", "customer_visible": True},
            )
        ).json()["id"]
        t.ids["group"] = ok(
            await api.post("/groups", json={"name": f"{W} Billing", "member_ids": [t["agent"]]})
        ).json()["id"]
        # business hours and an SLA policy
        t.ids["schedule"] = ok(
            await api.post(
                "/schedules",
                json={
                    "name": f"{W} hours",
                    "body": {"timezone": "UTC", "week": {"mon": [["09:00", "17:00"]]}},
                },
            )
        ).json()["id"]
        t.ids["sla_policy"] = ok(await api.post("/sla-policies", json={"name": f"{W} SLA"})).json()["id"]
        t.ids["time_rule"] = ok(
            await api.post("/time-rules", json={"name": f"{W} close", **TIME_RULE})
        ).json()["id"]
        t.ids["trigger"] = ok(await api.post("/triggers", json={"name": f"{W} tag", **TRIGGER})).json()["id"]
        t.ids["webhook"] = ok(
            await api.post(
                "/webhooks",
                json={
                    "name": f"{W} CRM",
                    "url": "https://hooks.example.com/in",
                    "event_types": ["ticket.created"],
                },
            )
        ).json()["id"]
        # an API token needs a fresh proof: the password
        t.ids["token"] = ok(
            await api.post("/tokens", json={"name": f"{W} script", "password": PASSWORD})
        ).json()["id"]
        # tickets: tags, CCs, followers, an attachment on the first message and on an internal note, a link
        up = ok(
            await api.post("/uploads", files={"file": (f"{w}.png", b"\x89PNG " + w.encode(), "image/png")})
        )
        ticket = ok(
            await api.post(
                "/tickets",
                headers={"Idempotency-Key": f"{w}-first"},
                json={
                    "subject": f"{W} printer on fire",
                    "body": f"{W} secret: the printer",
                    "requester_id": t["contact"],
                    "tags": [f"{w}-vip"],
                    "cc_emails": [f"eddie@mail.{t.host}"],
                    "custom_fields": {f"{w}_plan": f"{W} gold"},
                    "attachments": [up.json()["token"]],
                },
            )
        ).json()
        t.ids["ticket"] = ticket["id"]
        ok(await api.patch(f"/tickets/{t['ticket']}", json={"follower_ids": [t["agent"]]}))
        note_up = ok(await api.post("/uploads", files={"file": (f"{w}-note.txt", w.encode(), "text/plain")}))
        ok(
            await api.post(
                f"/tickets/{t['ticket']}/messages",
                json={
                    "body": f"{W} internal note",
                    "public": False,
                    "attachments": [note_up.json()["token"]],
                },
            )
        )
        msgs = ok(await api.get(f"/tickets/{t['ticket']}/messages")).json()["items"]
        t.ids["message"] = msgs[0]["id"]
        t.ids["attachment"] = msgs[0]["attachments"][0]["id"]
        t.ids["note_attachment"] = msgs[1]["attachments"][0]["id"]
        t.ids["ticket2"] = ok(
            await api.post(
                "/tickets",
                json={"subject": f"{W} second", "body": f"{W} two", "requester_id": t["contact2"]},
            )
        ).json()["id"]
        ok(
            await api.post(
                f"/tickets/{t['ticket']}/links", json={"target_id": t["ticket2"], "kind": "related"}
            )
        )
        t.ids["ticket2_number"] = ok(await api.get(f"/tickets/{t['ticket2']}")).json()["number"]
        t.ids["tag"] = f"{w}-vip"
    # the customer's own request, with an attachment they can download from the portal
    async with t.api("customer") as c:
        up = ok(
            await c.post("/uploads", files={"file": (f"{w}-cust.txt", b"cust " + w.encode(), "text/plain")})
        )
        mine = ok(
            await c.post(
                "/tickets",
                json={
                    "subject": f"{W} my request",
                    "body": f"{W} please",
                    "attachments": [up.json()["token"]],
                },
            )
        ).json()
        t.ids["customer_ticket"] = mine["id"]
        msgs = ok(await c.get(f"/tickets/{mine['id']}/messages")).json()["items"]
        t.ids["customer_attachment"] = msgs[0]["attachments"][0]["id"]

    async with t.pages() as page:
        # a saved view and a canned response (console pages)
        ok(await page.post("/inbox/views", data={"name": f"{W} view", "query": "status=open"}))
        t.ids["view"] = await _one(t, "SELECT max(id) FROM saved_views WHERE workspace_id = :i", i=ws.id)
        ok(
            await page.post(
                "/admin/canned", data={"title": f"{W} hello", "body": f"{W} hi {{{{ customer.name }}}}"}
            )
        )
        t.ids["canned"] = await _one(
            t, "SELECT max(id) FROM canned_responses WHERE workspace_id = :i", i=ws.id
        )

    await _invitation(t)
    await _passkey(t)
    await _email(t)
    await _chat(t)
    await _knowledge(t)
    await _sso(t)
    await drain(ws.platform)
    return t


async def _invitation(t: Tenant) -> None:
    """An open invitation of a person who has an account in a workspace of their own (adding an
    existing account invites it), and the secret of the link mailed to them."""
    w, W = t.word, t.word.capitalize()
    email = f"ivy@elsewhere.{t.host}"
    async with t.ws.platform.db.transaction() as uow:
        elsewhere = await accounts.create_workspace(uow, f"{W} Elsewhere", f"{w}-{uuid.uuid4().hex[:8]}")
        await accounts.create_user(
            uow, elsewhere, email=email, role=Role.agent, name=f"{W} Ivy", password=PASSWORD
        )
    async with t.api() as api:
        r = ok(await api.post("/users", json={"email": email, "role": "agent"}), 202)
    t.ids["invitation"] = r.json()["invitation_id"]
    jobs = Job.__table__
    async with t.ws.platform.db.read() as conn:
        mails: list[dict[str, Any]] = list(
            (
                await conn.execute(
                    sa.select(jobs.c.args).where(jobs.c.kind == "accounts.send_link").order_by(jobs.c.id)
                )
            ).scalars()
        )
        url = [a["url"] for a in mails if a.get("purpose") == "invite" and a.get("email") == email][-1]
    t.ids["invitation_secret"] = url.rsplit("/", 1)[1]


async def _passkey(t: Tenant) -> None:
    """A passkey of the admin's, registered in their browser session (signed in minutes ago, as adding
    one requires) with a software authenticator."""
    auth = SoftAuthenticator(relying_party(t.ws.platform.settings).origin)
    async with t.pages() as page:
        options = ok(await page.post("/api/v1/me/passkeys/options")).json()["publicKey"]
        body = {"name": f"{t.word.capitalize()} laptop", "credential": auth.create(options)}
        t.ids["passkey"] = ok(await page.post("/api/v1/me/passkeys", json=body)).json()["id"]


async def _email(t: Tenant) -> None:
    """A mailbox with a webhook; mail in through it (one with an inline image, one that fails), and an
    agent's reply on the mail's ticket waiting in the outbox."""
    w, W = t.word, t.word.capitalize()
    secret = f"{w}-webhook-secret"
    async with t.api() as api:
        box = ok(
            await api.post(
                "/mailboxes",
                json={
                    "name": f"{W} Support",
                    "address": f"support@desk.{t.host}",
                    "webhook_secret": secret,
                    # a name that resolves nowhere: sending fails at once, and the egress guard (which
                    # refuses loopback addresses and odd ports) lets it be saved
                    "smtp_host": f"smtp.{t.host}",
                    "smtp_port": 587,
                    "smtp_tls": "none",
                },
            )
        ).json()
        t.ids["mailbox"] = box["id"]
        t.ids["mailbox_address"] = box["address"]
        t.ids["webhook_secret"] = secret

        msg = _mail(From=f"Frank <frank@mail.{t.host}>", To=box["address"], Subject=f"{W} mail")
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@mail.{t.host}>"
        msg.set_content(f"{W} by mail")
        msg.add_alternative(f'<p>{W} <img src="cid:pic@{w}"></p>', subtype="html")
        msg.get_payload()[1].add_related(
            b"\x89PNG inline " + t.host.encode(), maintype="image", subtype="png", cid=f"<pic@{w}>"
        )
        for raw, kind in (
            (msg.as_bytes(), "inbound"),
            (f"{W} garbage, no headers\n".encode(), "failed_inbound"),
        ):
            sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            r = ok(
                await api.post(
                    f"/mailboxes/{box['id']}/inbound", content=raw, headers={"X-Helpline-Signature": sig}
                )
            )
            t.ids[kind] = r.json()["id"]
        await drain(t.ws.platform)
        inbound = ok(await api.get(f"/email/inbound/{t['inbound']}")).json()
        failed = ok(await api.get(f"/email/inbound/{t['failed_inbound']}")).json()
        assert inbound["state"] == "processed" and failed["state"] == "failed", (inbound, failed)
        t.ids["mail_ticket"] = inbound["ticket_id"]
        t.ids["mail_message"] = await _one(
            t, "SELECT message_id FROM email_inbound WHERE id = :i", i=t["inbound"]
        )
        t.ids["inline_sha256"] = hashlib.sha256(b"\x89PNG inline " + t.host.encode()).hexdigest()
    async with t.api("agent") as c:
        ok(await c.post(f"/tickets/{t['mail_ticket']}/messages", json={"body": f"{W} reply by mail"}))
    t.ids["outbound"] = await _one(t, "SELECT max(id) FROM email_outbound WHERE workspace_id = :i", i=t.ws.id)


async def _chat(t: Tenant) -> None:
    """A chat widget, a visitor's chat with a file in it."""
    w, W = t.word, t.word.capitalize()
    async with t.api() as api:
        widget = ok(
            await api.post(
                "/chat/widgets",
                json={"name": f"{W} shop", "allowed_origins": [ORIGIN], "answer_bot": True, "greeting": W},
            )
        ).json()
    t.ids |= {"widget": widget["id"], "widget_key": widget["key"]}
    c = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=t.ws.app), base_url="http://testserver", headers={"Origin": ORIGIN}
    )
    async with c:
        frame = {"t": "start", "fields": {"name": f"{W} Vera"}, "body": f"{W} chat hello", "cid": "c0"}
        started = ok(await c.post(f"/chat/frame?widget={widget['key']}", json={"frame": frame})).json()
        assert started["t"] == "started", started
        token = started["token"]
        up = ok(
            await c.post(
                f"/chat/upload?widget={widget['key']}&token={token}",
                files={"file": (f"{w}-chat.txt", w.encode(), "text/plain")},
            )
        ).json()
        frame = {"t": "msg", "cid": "c1", "body": f"{W} file", "files": [up["token"]]}
        assert (
            ok(
                await c.post(f"/chat/frame?widget={widget['key']}", json={"token": token, "frame": frame})
            ).json()["t"]
            == "ack"
        )
    t.ids["visitor_token"] = token
    t.ids["chat_ticket"] = await _one(
        t, "SELECT ticket_id FROM chat_sessions WHERE widget_id = :i", i=widget["id"]
    )
    t.ids["chat_attachment"] = await _one(
        t,
        "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.ticket_id = :i",
        i=t["chat_ticket"],
    )


async def _knowledge(t: Tenant) -> None:
    """A category with a section; a published public article with a German translation, a second
    version and a file; an internal article."""
    w, W = t.word, t.word.capitalize()
    async with t.pages() as page:
        ok(await page.post("/kb/categories", data={"name": f"{W} Guides"}))
        t.ids["category"] = await _one(
            t, "SELECT max(id) FROM kb_categories WHERE workspace_id = :i", i=t.ws.id
        )
        ok(await page.post("/kb/categories", data={"name": f"{W} Printers", "parent_id": str(t["category"])}))
        t.ids["section"] = await _one(
            t, "SELECT max(id) FROM kb_categories WHERE workspace_id = :i", i=t.ws.id
        )
        t.ids["category_slug"] = await _one(
            t, "SELECT slug FROM kb_categories WHERE id = :i", i=t["category"]
        )
        form = {
            "title": f"{W} reset the printer",
            "body_md": f"{W} turn it off",
            "section_id": str(t["section"]),
        }
        r = ok(await page.post("/kb/new", data=form))
        aid = int(re.search(r"/kb/articles/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
        t.ids["article"] = aid
        ok(
            await page.post(
                f"/kb/articles/{aid}", data={**form, "body_md": f"{W} turn it off and on", "note": "v2"}
            )
        )
        ok(await page.post(f"/kb/articles/{aid}/state", data={"locale": "en", "state": "published"}))
        de = {
            "title": f"{W} Drucker",
            "body_md": f"{W} aus und an",
            "locale": "de",
            "section_id": str(t["section"]),
        }
        ok(await page.post(f"/kb/articles/{aid}", data=de))
        ok(await page.post(f"/kb/articles/{aid}/state", data={"locale": "de", "state": "published"}))
        ok(
            await page.post(
                f"/kb/articles/{aid}/files", files={"file": (f"{w}-manual.txt", w.encode(), "text/plain")}
            )
        )
        r = ok(
            await page.post(
                "/kb/new", data={"title": f"{W} internal only", "body_md": W, "visibility": "internal"}
            )
        )
        t.ids["internal_article"] = int(re.search(r"/kb/articles/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    t.ids["kb_file"] = await _one(t, "SELECT id FROM kb_files WHERE article_id = :i", i=aid)
    t.ids["kb_file_name"] = f"{w}-manual.txt"
    t.ids["version"] = await _one(
        t,
        "SELECT min(v.id) FROM kb_versions v JOIN kb_translations tr ON tr.id = v.translation_id "
        "WHERE tr.article_id = :i AND tr.locale = 'en'",
        i=aid,
    )
    t.ids["article_ref"] = f"{aid}-" + await _one(
        t, "SELECT slug FROM kb_translations WHERE article_id = :i AND locale = 'en'", i=aid
    )


async def _sso(t: Tenant) -> None:
    """An OpenID Connect provider (single sign-on) with a slug of its own, mapping a claim value to a
    group. Adding one does not read the issuer's discovery document (signing in does), so the issuer is
    an https URL under a name that resolves nowhere: a sign-in through it fails at once, alike for
    everyone."""
    w, W = t.word, t.word.capitalize()
    async with t.api() as api:
        provider = ok(
            await api.post(
                "/sso-providers",
                json={
                    "kind": "oidc",
                    "name": f"{W} IdP",
                    "slug": f"{w}-idp",
                    "issuer": f"https://idp.{t.host}",
                    "client_id": f"{w}-client",
                    "client_secret": f"{w}-client-secret",
                    "group_claim": "groups",
                    "group_map": {f"{w}-staff": t["group"]},
                },
            ),
            201,
        ).json()
    t.ids |= {"sso_provider": provider["id"], "sso_slug": provider["slug"]}


# --- the database, as a digest --------------------------------------------------------------------

#: Columns that change when a principal is merely used (a token's last use): not a change of data.
VOLATILE = {"api_tokens": {"last_used_at"}}


def _scope(table: sa.Table, ws_ids: list[int], seen: tuple[str, ...] = ()) -> Any:
    """A WHERE clause for the rows of ``table`` that belong to the workspaces ``ws_ids``: by its own
    ``workspace_id``, as a member (users), or through a foreign key to a row that belongs (children
    such as CCs, followers, versions). ``None`` for a table that belongs to nobody (jobs)."""
    if table.name == "workspaces":
        return table.c.id.in_(ws_ids)
    if "workspace_id" in table.c:
        return table.c.workspace_id.in_(ws_ids)
    if table.name == "users":
        members = Base.metadata.tables["memberships"]
        return table.c.id.in_(sa.select(members.c.user_id).where(members.c.workspace_id.in_(ws_ids)))
    clauses = []
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent.name in seen or parent is table:
            continue
        where = _scope(parent, ws_ids, (*seen, table.name))
        if where is not None:
            clauses.append(fk.parent.in_(sa.select(fk.column).where(where)))
    return sa.or_(*clauses) if clauses else None


async def digest(
    platform: Any, ws_ids: list[int], ignore: dict[str, set[str]] | None = None, *, own: bool = False
) -> dict[str, dict[str, str]]:
    """Every table's rows that belong to ``ws_ids`` (and, unless ``own``, every row of tables that
    belong to nobody, such as ``jobs``), as ``{table: {primary key: row}}``, volatile columns (and
    ``ignore``) left out."""
    out: dict[str, dict[str, str]] = {}
    async with platform.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            skip = VOLATILE.get(table.name, set()) | (ignore or {}).get(table.name, set())
            cols = [c for c in table.c if c.name not in skip]
            stmt = sa.select(*cols)
            where = _scope(table, ws_ids)
            if where is not None:
                stmt = stmt.where(where)
            elif own:
                continue
            pk = [c.name for c in table.primary_key.columns]
            rows = {}
            for r in (await conn.execute(stmt)).mappings():
                rows[repr(tuple(r[k] for k in pk))] = repr(sorted(r.items()))
            out[table.name] = rows
    return out


def differences(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """What changed between two digests: one line per table and row."""
    out = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                what = "added" if key not in old else "removed" if key not in new else "changed"
                out.append(f"{table} {key} {what}: {old.get(key)} -> {new.get(key)}")
    return out


# --- the routes and what their path parameters name ---------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """A path parameter that names objects of a workspace: the tenant's ``kinds`` (each is walked).
    ``missing`` is a value no workspace has."""

    kinds: tuple[str, ...]
    missing: Any = MISSING

    def values(self, t: Tenant) -> list[Any]:
        return [t[k] for k in self.kinds]


@dataclass(frozen=True)
class Home:
    """A parameter that names the workspace itself (a help centre's or portal's slug, the brand's id), or
    a slug public with it (its single sign-on provider's): in the id walk it is the principal's own
    workspace's; the public walk puts the other one's in."""

    kind: str
    missing: Any = "no-such-workspace"


@dataclass(frozen=True)
class Secret:
    """A parameter that is itself the credential: a mailed link's secret (an invitation). Public to
    whoever holds it, so the public walk puts the other workspace's in (B's principals must get what a
    stranger gets), and ``missing`` (made up) must answer 404 to everyone."""

    kind: str
    missing: Any = "made-up-secret-" + "x" * 20


@dataclass(frozen=True)
class Const:
    """A parameter that names nothing of a workspace (a locale, a path suffix)."""

    value: Any


Param = Obj | Home | Secret | Const


def obj(*kinds: str, missing: Any = MISSING) -> Obj:
    return Obj(kinds, missing)


#: (path prefix, parameter name) -> what it names. The longest matching prefix wins. A new route with a
#: path parameter needs an entry here (the coverage test says which).
PARAMS: dict[tuple[str, str], Param] = {
    # API
    ("/api/v1/tickets/", "ticket_id"): obj("ticket", "customer_ticket"),
    ("/api/v1/tickets/{ticket_id}/email-deliveries", "ticket_id"): obj("mail_ticket"),
    ("/api/v1/tickets/{ticket_id}/links/", "target_id"): obj("ticket2"),
    ("/api/v1/tags/", "name"): obj("tag", missing="no-such-tag"),
    ("/api/v1/custom-fields/", "field_id"): obj("field"),
    ("/api/v1/schedules/", "schedule_id"): obj("schedule"),
    ("/api/v1/sla-policies/", "policy_id"): obj("sla_policy"),
    ("/api/v1/time-rules/", "rule_id"): obj("time_rule"),
    ("/api/v1/triggers/", "rule_id"): obj("trigger"),
    ("/api/v1/webhooks/", "webhook_id"): obj("webhook"),
    ("/api/v1/attachments/", "attachment_id"): obj("attachment", "note_attachment"),
    ("/api/v1/contacts/", "contact_id"): obj("contact"),
    ("/api/v1/contacts/{contact_id}/erase", "contact_id"): obj("victim"),
    ("/api/v1/contacts/{contact_id}/identities/", "identity_id"): obj("identity"),
    ("/api/v1/organizations/", "org_id"): obj("org"),
    ("/api/v1/users/", "user_id"): obj("admin", "agent", "light", "customer_user"),
    ("/api/v1/groups/", "group_id"): obj("group"),
    ("/api/v1/tokens/", "token_id"): obj("token"),
    ("/api/v1/invitations/", "invitation_id"): obj("invitation"),
    ("/api/v1/me/passkeys/", "passkey_id"): obj("passkey"),
    # the instance operator's: everyone else is refused before the id is looked at (EXCEPTIONS)
    ("/api/v1/workspaces/", "workspace_id"): obj("workspace"),
    ("/api/v1/mailboxes/", "mailbox_id"): obj("mailbox"),
    ("/api/v1/email/inbound/", "inbound_id"): obj("inbound", "failed_inbound"),
    ("/api/v1/email/outbound/", "outbound_id"): obj("outbound"),
    ("/api/v1/email/inline/", "sha256"): obj("inline_sha256", missing="0" * 64),
    ("/api/v1/chat/widgets/", "widget_id"): obj("widget"),
    ("/api/v1/help/", "slug"): Home("slug"),
    ("/api/v1/sso-providers/", "provider_id"): obj("sso_provider"),
    # console pages
    ("/brand/", "workspace_id"): Home("workspace", missing=MISSING),
    ("/inbox/views/", "view_id"): obj("view"),
    ("/tickets/", "ticket_id"): obj("ticket"),
    ("/tickets/{ticket_id}/messages/", "ticket_id"): obj("mail_ticket"),
    ("/tickets/{ticket_id}/messages/", "message_id"): obj("mail_message"),
    ("/tickets/{ticket_id}/email/", "ticket_id"): obj("mail_ticket"),
    ("/tickets/{ticket_id}/email/", "outbound_id"): obj("outbound"),
    ("/contacts/", "contact_id"): obj("contact"),
    ("/contacts/{contact_id}/erase", "contact_id"): obj("victim"),
    ("/contacts/{contact_id}/identities/", "identity_id"): obj("identity"),
    ("/organizations/", "org_id"): obj("org"),
    ("/admin/groups/", "group_id"): obj("group"),
    ("/admin/users/", "user_id"): obj("admin", "agent", "light", "customer_user"),
    ("/admin/tokens/", "token_id"): obj("token"),
    ("/admin/invitations/", "invitation_id"): obj("invitation"),
    ("/profile/passkeys/", "passkey_id"): obj("passkey"),
    ("/admin/fields/", "field_id"): obj("field"),
    ("/admin/tags/", "name"): obj("tag", missing="no-such-tag"),
    ("/admin/canned/", "canned_id"): obj("canned"),
    ("/admin/schedules/", "schedule_id"): obj("schedule"),
    ("/admin/sla-policies/", "policy_id"): obj("sla_policy"),
    ("/admin/time-rules/", "rule_id"): obj("time_rule"),
    ("/admin/webhooks/", "webhook_id"): obj("webhook"),
    ("/admin/email/inbound/", "inbound_id"): obj("failed_inbound"),
    ("/admin/mailboxes/", "mailbox_id"): obj("mailbox"),
    ("/admin/chat-widgets/", "widget_id"): obj("widget"),
    ("/admin/sso/", "provider_id"): obj("sso_provider"),
    ("/chats/", "ticket_id"): obj("chat_ticket"),
    ("/chat/", "rest"): Const("poll"),
    ("/chat/files/", "attachment_id"): obj("chat_attachment"),
    ("/kb/suggest-for-ticket/", "ticket_id"): obj("ticket"),
    ("/kb/from-ticket/", "ticket_id"): obj("ticket"),
    ("/kb/articles/", "article_id"): obj("article", "internal_article"),
    ("/kb/files/", "file_id"): obj("kb_file"),
    ("/kb/versions/", "version_id"): obj("version"),
    # public by a secret that was mailed (accepting an invitation)
    ("/invitations/", "secret"): Secret("invitation_secret"),
    # the customer portal and the help centre (public by their slug)
    ("/portal/", "slug"): Home("slug"),
    ("/portal/{slug}/requests/", "ticket_id"): obj("customer_ticket"),
    ("/portal/{slug}/attachments/", "attachment_id"): obj("customer_attachment"),
    ("/help/", "slug"): Home("slug"),
    ("/help/{slug}/", "locale"): Const("en"),
    ("/help/{slug}/files/", "file_id"): obj("kb_file"),
    ("/help/{slug}/files/{file_id}/", "name"): obj("kb_file_name", missing="missing.txt"),
    ("/help/{slug}/{locale}/categories/", "category_slug"): obj("category_slug", missing="no-such-category"),
    ("/help/{slug}/{locale}/articles/", "ref"): obj("article_ref", missing=f"{MISSING}-missing"),
    ("/help/{slug}/{locale}/articles/{article_id}", "article_id"): obj("article"),
    # single sign-on: public by the workspace's slug and its provider's
    ("/sso/", "workspace_slug"): Home("slug"),
    ("/sso/{workspace_slug}/", "provider_slug"): Home("sso_slug", missing="no-such-provider"),
}


def param_of(path: str, name: str) -> Param | None:
    found = [(prefix, p) for (prefix, n), p in PARAMS.items() if n == name and path.startswith(prefix)]
    return max(found, key=lambda x: len(x[0]))[1] if found else None


def path_params(path: str) -> list[str]:
    return [m.split(":")[0] for m in re.findall(r"{([^}]+)}", path)]


def fill(path: str, values: dict[str, Any]) -> str:
    return re.sub(r"{([^}:]+)(:[^}]*)?}", lambda m: str(values[m.group(1)]), path)


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    websocket: bool
    endpoint: Callable[..., Any] | None
    api: APIRoute | None


def routes(app: Any) -> list[Route]:
    """Every route of the app (API, pages, WebSockets), with included routers flattened."""
    out = []
    for rc in iter_route_contexts(app.routes):
        r = rc.original_route
        path = rc.path
        if path is None:
            continue
        methods = tuple(sorted(set(rc.methods or ()) - {"HEAD"}))
        out.append(
            Route(
                path,
                methods,
                isinstance(r, APIWebSocketRoute),
                rc.endpoint,
                r if isinstance(r, APIRoute) else None,
            )
        )
    return out


# --- what each write sends --------------------------------------------------------------------------

Body = Callable[[Tenant], dict[str, Any]]


def _json(**body: Any) -> Body:
    return lambda _t: {"json": body}


def _form(**data: Any) -> Body:
    return lambda _t: {"data": data}


NOTHING: Body = lambda _t: {}  # noqa: E731

#: A request body flag: the form is one shown before sign-in, whose CSRF check is a double-submit cookie
#: (the walk sends a matching cookie and header, so the check passes and the route itself answers).
ANON_CSRF = "anon_csrf"


def _anon_form(**data: Any) -> Body:
    return lambda _t: {"data": data, ANON_CSRF: True}


def _signed(t: Tenant) -> dict[str, Any]:
    """A raw message signed with the principal's own mailbox secret (all they could sign with)."""
    raw = b"From: x@x.test\r\nSubject: hi\r\nMessage-ID: <w@x.test>\r\n\r\nhello\r\n"
    sig = "sha256=" + hmac.new(t["webhook_secret"].encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"X-Helpline-Signature": sig, "Content-Type": "message/rfc822"}}


def _chat_visitor(t: Tenant) -> dict[str, Any]:
    """The principal's own visitor of their own widget (the only credential these routes take)."""
    return {
        "params": {"widget": t["widget_key"]},
        "headers": {"Origin": ORIGIN, "X-Chat-Token": t["visitor_token"]},
    }


#: (method, path) -> the request's body (and any query or headers), for a principal of tenant ``t``:
#: ids in it are the principal's own, so only the path names another workspace's object. Every write
#: on a route with a path parameter needs an entry (``NOTHING`` when it takes no body).
BODIES: dict[tuple[str, str], Body] = {
    # API
    ("PATCH", "/api/v1/tickets/{ticket_id}"): _json(subject="changed", status="solved"),
    ("POST", "/api/v1/tickets/{ticket_id}/messages"): _json(body="a reply", public=True),
    ("POST", "/api/v1/tickets/{ticket_id}/merge"): lambda t: {"json": {"target_id": t["ticket2"]}},
    ("POST", "/api/v1/tickets/{ticket_id}/split"): lambda t: {"json": {"message_id": t["message"]}},
    ("POST", "/api/v1/tickets/{ticket_id}/links"): lambda t: {
        "json": {"target_id": t["ticket2"], "kind": "related"}
    },
    ("DELETE", "/api/v1/tickets/{ticket_id}/links/{target_id}"): NOTHING,
    ("PUT", "/api/v1/tickets/{ticket_id}/draft"): _json(body="a draft", public=True),
    ("DELETE", "/api/v1/tickets/{ticket_id}/draft"): NOTHING,
    ("PUT", "/api/v1/tickets/{ticket_id}/snooze"): lambda _t: {
        "json": {"until": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    },
    ("DELETE", "/api/v1/tickets/{ticket_id}/snooze"): NOTHING,
    ("POST", "/api/v1/tickets/{ticket_id}/time-entries"): _json(minutes=5, note="x"),
    ("PATCH", "/api/v1/tags/{name}"): _json(name="renamed"),
    ("DELETE", "/api/v1/tags/{name}"): NOTHING,
    ("PATCH", "/api/v1/custom-fields/{field_id}"): _json(label="changed"),
    ("DELETE", "/api/v1/custom-fields/{field_id}"): NOTHING,
    ("PATCH", "/api/v1/schedules/{schedule_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/schedules/{schedule_id}"): NOTHING,
    ("POST", "/api/v1/schedules/{schedule_id}/holidays/import"): lambda _t: {
        "json": {"country": "DE", "year": datetime.now(UTC).year}
    },
    ("PATCH", "/api/v1/sla-policies/{policy_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/sla-policies/{policy_id}"): NOTHING,
    ("PATCH", "/api/v1/time-rules/{rule_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/time-rules/{rule_id}"): NOTHING,
    ("PATCH", "/api/v1/triggers/{rule_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/triggers/{rule_id}"): NOTHING,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): NOTHING,
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): NOTHING,
    ("POST", "/api/v1/webhooks/{webhook_id}/test"): NOTHING,
    ("PATCH", "/api/v1/contacts/{contact_id}"): _json(name="changed", notes="changed"),
    ("POST", "/api/v1/contacts/{contact_id}/identities"): _json(kind="phone", value="+1 555 0199"),
    ("DELETE", "/api/v1/contacts/{contact_id}/identities/{identity_id}"): NOTHING,
    ("POST", "/api/v1/contacts/{contact_id}/merge"): lambda t: {"json": {"source_id": t["contact2"]}},
    ("PATCH", "/api/v1/organizations/{org_id}"): _json(name="changed", shared_tickets=False),
    ("PATCH", "/api/v1/users/{user_id}"): _json(name="changed", is_active=False),
    ("PATCH", "/api/v1/groups/{group_id}"): _json(name="changed", member_ids=[]),
    ("DELETE", "/api/v1/groups/{group_id}"): NOTHING,
    ("DELETE", "/api/v1/tokens/{token_id}"): NOTHING,
    ("DELETE", "/api/v1/invitations/{invitation_id}"): NOTHING,
    ("PATCH", "/api/v1/me/passkeys/{passkey_id}"): _json(name="changed"),
    ("DELETE", "/api/v1/me/passkeys/{passkey_id}"): NOTHING,
    ("PATCH", "/api/v1/workspaces/{workspace_id}"): _json(disabled=True),
    ("POST", "/api/v1/contacts/{contact_id}/erase"): _json(confirm="ERASE"),
    ("PATCH", "/api/v1/mailboxes/{mailbox_id}"): _json(name="changed", active=False),
    ("DELETE", "/api/v1/mailboxes/{mailbox_id}"): NOTHING,
    ("POST", "/api/v1/mailboxes/{mailbox_id}/test"): NOTHING,
    ("POST", "/api/v1/mailboxes/{mailbox_id}/inbound"): _signed,
    ("POST", "/api/v1/email/inbound/{inbound_id}/reprocess"): NOTHING,
    ("POST", "/api/v1/email/outbound/{outbound_id}/retry"): NOTHING,
    ("PATCH", "/api/v1/chat/widgets/{widget_id}"): _json(name="changed", enabled=False),
    ("PATCH", "/api/v1/sso-providers/{provider_id}"): _json(name="changed", enabled=False),
    ("DELETE", "/api/v1/sso-providers/{provider_id}"): NOTHING,
    ("POST", "/api/v1/help/{slug}/answer"): _json(question="how do I reset the printer", locale="en"),
    ("POST", "/api/v1/help/{slug}/events"): lambda t: {
        "json": {"visit": "v1", "kind": "article", "article_id": t["article"]}
    },
    # console pages
    ("POST", "/inbox/views/{view_id}/delete"): NOTHING,
    ("POST", "/tickets/{ticket_id}/messages"): _form(body="a reply", public="true"),
    ("POST", "/tickets/{ticket_id}/properties"): _form(status="solved", priority="high"),
    ("POST", "/tickets/{ticket_id}/merge"): lambda t: {"data": {"target": str(t["ticket2_number"])}},
    ("POST", "/tickets/{ticket_id}/split"): lambda t: {
        "data": {"message_id": str(t["message"]), "subject": "x"}
    },
    ("POST", "/tickets/{ticket_id}/links"): lambda t: {
        "data": {"target": str(t["ticket2_number"]), "kind": "related"}
    },
    ("GET", "/tickets/{ticket_id}/canned"): lambda t: {"params": {"id": t["canned"]}},
    ("POST", "/tickets/{ticket_id}/presence"): _form(state="typing"),
    ("POST", "/tickets/{ticket_id}/tab/close"): _form(back="/inbox"),
    ("POST", "/tickets/{ticket_id}/draft"): _form(body="a draft", public="true"),
    ("POST", "/tickets/{ticket_id}/snooze"): _form(**{"for": "1d"}),
    ("POST", "/tickets/{ticket_id}/snooze/end"): NOTHING,
    ("POST", "/tickets/{ticket_id}/time"): _form(minutes="5", note="x"),
    ("POST", "/tickets/{ticket_id}/email/{outbound_id}/retry"): NOTHING,
    ("POST", "/contacts/{contact_id}/edit"): _form(name="changed", notes="changed", tags=""),
    ("POST", "/contacts/{contact_id}/identities"): _form(kind="phone", identity_value="+1 555 0199"),
    ("POST", "/contacts/{contact_id}/identities/{identity_id}/remove"): NOTHING,
    ("POST", "/contacts/{contact_id}/merge"): lambda t: {"data": {"source_id": str(t["contact2"])}},
    ("POST", "/contacts/{contact_id}/export"): NOTHING,
    ("POST", "/contacts/{contact_id}/erase"): _form(confirm="ERASE"),
    ("POST", "/organizations/{org_id}/edit"): _form(name="changed", domains="", notes="", tags=""),
    ("POST", "/admin/groups/{group_id}"): _form(member_ids=[]),
    ("POST", "/admin/users/{user_id}"): _form(role="agent", name="changed"),
    ("POST", "/admin/tokens/{token_id}/revoke"): NOTHING,
    ("POST", "/admin/invitations/{invitation_id}/withdraw"): NOTHING,
    ("POST", "/profile/passkeys/{passkey_id}/rename"): _form(name="changed"),
    ("POST", "/profile/passkeys/{passkey_id}/remove"): NOTHING,
    ("POST", "/admin/fields/{field_id}"): _form(label="changed", options=""),
    ("POST", "/admin/fields/{field_id}/delete"): NOTHING,
    ("POST", "/admin/tags/{name:path}/rename"): _form(new_name="renamed"),
    ("POST", "/admin/tags/{name:path}/delete"): _form(confirm="1"),
    ("POST", "/admin/canned/{canned_id}"): _form(title="changed", body="changed"),
    ("POST", "/admin/canned/{canned_id}/delete"): NOTHING,
    ("POST", "/admin/schedules/{schedule_id}"): _form(name="changed", timezone="UTC"),
    ("POST", "/admin/schedules/{schedule_id}/holidays/import"): lambda _t: {
        "data": {"country": "DE", "year": str(datetime.now(UTC).year)}
    },
    ("POST", "/admin/schedules/{schedule_id}/delete"): NOTHING,
    ("POST", "/admin/sla-policies/{policy_id}"): _form(name="changed"),
    ("POST", "/admin/sla-policies/{policy_id}/move"): _form(direction="up"),
    ("POST", "/admin/sla-policies/{policy_id}/delete"): NOTHING,
    ("POST", "/admin/time-rules/{rule_id}"): _form(name="changed"),
    ("POST", "/admin/time-rules/{rule_id}/move"): _form(direction="up"),
    ("POST", "/admin/time-rules/{rule_id}/delete"): NOTHING,
    ("POST", "/admin/webhooks/{webhook_id}"): _form(
        name="changed", url="https://changed.example.com/", event_types="ticket.created"
    ),
    ("POST", "/admin/webhooks/{webhook_id}/enable"): NOTHING,
    ("POST", "/admin/webhooks/{webhook_id}/disable"): NOTHING,
    ("POST", "/admin/webhooks/{webhook_id}/rotate"): NOTHING,
    ("POST", "/admin/webhooks/{webhook_id}/test"): NOTHING,
    ("POST", "/admin/webhooks/{webhook_id}/delete"): NOTHING,
    ("POST", "/admin/email/inbound/{inbound_id}/reprocess"): NOTHING,
    ("POST", "/admin/mailboxes/{mailbox_id}"): _form(name="changed", address="changed@x.test"),
    ("POST", "/admin/mailboxes/{mailbox_id}/test"): NOTHING,
    ("POST", "/admin/mailboxes/{mailbox_id}/delete"): NOTHING,
    ("POST", "/admin/chat-widgets/{widget_id}"): _form(name="changed", allowed_origins=ORIGIN),
    ("POST", "/admin/sso/{provider_id}"): _form(
        name="changed", slug="changed", default_role="agent", issuer="https://idp.changed.test", client_id="x"
    ),
    ("POST", "/admin/sso/{provider_id}/delete"): NOTHING,
    ("POST", "/chats/{ticket_id}/accept"): NOTHING,
    ("POST", "/chats/{ticket_id}/send"): _form(body="a reply", cid="x1"),
    ("POST", "/chats/{ticket_id}/transfer"): lambda t: {"data": {"to": f"agent:{t['agent']}"}},
    ("POST", "/chats/{ticket_id}/close"): NOTHING,
    ("GET", "/chat/files/{attachment_id}"): _chat_visitor,
    ("OPTIONS", "/chat/{rest:path}"): lambda t: {
        "params": {"widget": t["widget_key"]},
        "headers": {"Origin": ORIGIN},
    },
    ("POST", "/kb/from-ticket/{ticket_id}"): NOTHING,
    ("POST", "/kb/articles/{article_id}"): _form(title="changed", body_md="changed", locale="en"),
    ("POST", "/kb/articles/{article_id}/state"): _form(locale="en", state="draft"),
    ("POST", "/kb/articles/{article_id}/related"): lambda t: {
        "data": {"related": str(t["internal_article"])}
    },
    ("POST", "/kb/articles/{article_id}/files"): lambda _t: {
        "files": {"file": ("x.txt", b"x", "text/plain")}
    },
    ("POST", "/kb/versions/{version_id}/restore"): NOTHING,
    # the portal and the help centre
    # a new address each time: failed sign-ins are throttled per account (and per client address)
    ("POST", "/portal/{slug}/login"): lambda _t: {
        "data": {"email": f"nobody-{uuid.uuid4().hex[:8]}@x.test", "password": "wrong password"},
        ANON_CSRF: True,
    },
    ("POST", "/portal/{slug}/login/code"): _anon_form(otp="000000"),
    ("POST", "/portal/{slug}/login/email"): _anon_form(email="nobody@x.test"),
    ("POST", "/portal/{slug}/login/link"): _anon_form(token="no-such-token"),
    ("POST", "/portal/{slug}/signup"): _anon_form(),
    ("POST", "/portal/{slug}/logout"): NOTHING,
    ("POST", "/portal/{slug}/requests/new"): _form(subject="x", body="y"),
    ("POST", "/portal/{slug}/requests/{ticket_id}/reply"): _form(body="a reply"),
    ("POST", "/portal/{slug}/requests/{ticket_id}/solve"): NOTHING,
    ("POST", "/portal/{slug}/profile"): _form(name="changed", timezone="Europe/Berlin"),
    ("POST", "/portal/{slug}/profile/password"): _form(current=PASSWORD, password="a-new-password-1"),
    ("POST", "/help/{slug}/{locale}/articles/{article_id}/feedback"): _anon_form(helpful="no", comment="bad"),
    # an identity provider's answer to a sign-in nobody started (no CSRF token: the provider's page posts
    # it; the flow named by RelayState stands in)
    ("POST", "/sso/{workspace_slug}/{provider_slug}/acs"): _form(
        SAMLResponse="PHNhbWxwOlJlc3BvbnNlLz4=", RelayState="no-such-flow"
    ),
    # a wrong password: the invitation is looked up and shown again with the error, nothing accepted
    ("POST", "/invitations/{secret}"): _anon_form(password="not the password"),
}


# --- ids in bodies and queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cross:
    """A route that takes an object's id in its body or query: called with the principal's own objects
    in the path (``path``: parameter -> kind) and another workspace's ``kind`` as ``request(t, x)``'s
    ``x``. ``ok`` is a success status it may answer (a list filter, a bulk run that reports each id)
    when, as for a missing id, nothing of the other workspace is shown or changed."""

    method: str
    route: str
    kind: str
    request: Callable[[Tenant, Any], dict[str, Any]]
    path: tuple[tuple[str, str], ...] = ()
    ok: int | None = None


def _ticket(**extra: Any) -> Callable[[Tenant, Any], dict[str, Any]]:
    return lambda _t, x: {
        "json": {
            "subject": "s",
            "body": "b",
            "requester": {"email": "new@x.test"},
            **{k: v(x) for k, v in extra.items()},
        }
    }


def _j(**fields: Callable[[Any], Any]) -> Callable[[Tenant, Any], dict[str, Any]]:
    return lambda _t, x: {"json": {k: f(x) for k, f in fields.items()}}


def _f(**fields: Callable[[Any], Any]) -> Callable[[Tenant, Any], dict[str, Any]]:
    return lambda _t, x: {"data": {k: f(x) for k, f in fields.items()}}


def _q(**fields: Callable[[Any], Any]) -> Callable[[Tenant, Any], dict[str, Any]]:
    return lambda _t, x: {"params": {k: f(x) for k, f in fields.items()}}


def same(value: Any) -> Callable[[Any], Any]:
    return lambda _x: value


def it(x: Any) -> Any:
    return x


def listed(x: Any) -> list[Any]:
    return [x]


def text(x: Any) -> str:
    return str(x)


TICKET = (("ticket_id", "ticket"),)
#: Every route that takes an object's id outside its path.
CROSS: list[Cross] = [
    # API: tickets
    Cross(
        "POST",
        "/api/v1/tickets",
        "contact",
        lambda _t, x: {"json": {"subject": "s", "body": "b", "requester_id": x}},
    ),
    Cross("POST", "/api/v1/tickets", "agent", _ticket(assignee_id=it)),
    Cross("POST", "/api/v1/tickets", "group", _ticket(group_id=it)),
    Cross("PATCH", "/api/v1/tickets/{ticket_id}", "contact", _j(requester_id=it), TICKET),
    Cross("PATCH", "/api/v1/tickets/{ticket_id}", "agent", _j(assignee_id=it), TICKET),
    Cross("PATCH", "/api/v1/tickets/{ticket_id}", "group", _j(group_id=it), TICKET),
    Cross("PATCH", "/api/v1/tickets/{ticket_id}", "agent", _j(follower_ids=listed), TICKET),
    Cross("POST", "/api/v1/tickets/{ticket_id}/merge", "ticket", _j(target_id=it), TICKET),
    Cross("POST", "/api/v1/tickets/{ticket_id}/split", "message", _j(message_id=it), TICKET),
    Cross(
        "POST", "/api/v1/tickets/{ticket_id}/links", "ticket", _j(target_id=it, kind=same("related")), TICKET
    ),
    Cross(
        "POST",
        "/api/v1/tickets/bulk-update",
        "ticket",
        _j(ids=listed, changes=same({"status": "solved"})),
        ok=200,
    ),
    Cross("GET", "/api/v1/tickets", "contact", _q(requester_id=it), ok=200),
    Cross("GET", "/api/v1/tickets", "org", _q(organization_id=it), ok=200),
    Cross("GET", "/api/v1/tickets", "agent", _q(assignee_id=it), ok=200),
    Cross("GET", "/api/v1/tickets", "group", _q(group_id=it), ok=200),
    # API: customers
    Cross("POST", "/api/v1/contacts", "org", _j(email=same("new@x.test"), organization_id=it)),
    Cross(
        "PATCH", "/api/v1/contacts/{contact_id}", "org", _j(organization_id=it), (("contact_id", "contact"),)
    ),
    Cross(
        "POST",
        "/api/v1/contacts/{contact_id}/merge",
        "contact",
        _j(source_id=it),
        (("contact_id", "contact"),),
    ),
    Cross("GET", "/api/v1/contacts", "org", _q(organization_id=it), ok=200),
    # API: people, groups, tokens
    Cross(
        "POST", "/api/v1/users", "group", _j(email=same("new@x.test"), role=same("agent"), group_ids=listed)
    ),
    Cross("PATCH", "/api/v1/users/{user_id}", "group", _j(group_ids=listed), (("user_id", "agent"),)),
    Cross("POST", "/api/v1/groups", "agent", _j(name=same("New"), member_ids=listed)),
    Cross("PATCH", "/api/v1/groups/{group_id}", "agent", _j(member_ids=listed), (("group_id", "group"),)),
    Cross("POST", "/api/v1/tokens", "agent", _j(name=same("x"), user_id=it, password=same(PASSWORD))),
    # API: channels
    Cross("POST", "/api/v1/mailboxes", "group", _j(name=same("x"), address=same("new@x.test"), group_id=it)),
    Cross("PATCH", "/api/v1/mailboxes/{mailbox_id}", "group", _j(group_id=it), (("mailbox_id", "mailbox"),)),
    Cross("GET", "/api/v1/email/inbound", "mailbox", _q(mailbox_id=it), ok=200),
    Cross("POST", "/api/v1/chat/widgets", "group", _j(name=same("x"), group_id=it)),
    Cross("PATCH", "/api/v1/chat/widgets/{widget_id}", "group", _j(group_id=it), (("widget_id", "widget"),)),
    # API: single sign-on (a claim value mapped to another workspace's group)
    Cross(
        "POST",
        "/api/v1/sso-providers",
        "group",
        lambda _t, x: {
            "json": {
                "kind": "oidc",
                "name": "x",
                "slug": "new-idp",
                "issuer": "https://idp.new.test",
                "client_id": "x",
                "client_secret": "y",
                "group_claim": "groups",
                "group_map": {"staff": x},
            }
        },
    ),
    Cross(
        "PATCH",
        "/api/v1/sso-providers/{provider_id}",
        "group",
        _j(group_map=lambda x: {"staff": x}),
        (("provider_id", "sso_provider"),),
    ),
    # API: schedules and SLA policies
    Cross(
        "POST",
        "/api/v1/schedules",
        "group",
        _j(name=same("x"), body=same({"timezone": "UTC"}), group_ids=listed),
    ),
    Cross(
        "PATCH",
        "/api/v1/schedules/{schedule_id}",
        "group",
        _j(group_ids=listed),
        (("schedule_id", "schedule"),),
    ),
    Cross(
        "POST",
        "/api/v1/sla-policies",
        "group",
        _j(
            name=same("x"),
            escalations=lambda x: [{"on": "breach", "actions": [{"type": "notify", "group_ids": [x]}]}],
        ),
    ),
    Cross(
        "POST",
        "/api/v1/sla-policies",
        "agent",
        _j(
            name=same("x"),
            escalations=lambda x: [{"on": "warn", "actions": [{"type": "assign", "user_id": x}]}],
        ),
    ),
    Cross(
        "POST",
        "/api/v1/time-rules",
        "group",
        _j(
            name=same("x"),
            conditions=same(TIME_RULE["conditions"]),
            actions=lambda x: [{"type": "set_group", "value": x}, {"type": "set_status", "value": "closed"}],
        ),
    ),
    Cross(
        "POST",
        "/api/v1/time-rules",
        "agent",
        _j(
            name=same("x"),
            conditions=same(TIME_RULE["conditions"]),
            actions=lambda x: [
                {"type": "set_assignee", "value": x},
                {"type": "set_status", "value": "closed"},
            ],
        ),
    ),
    Cross(
        "POST",
        "/api/v1/triggers",
        "group",
        _j(
            name=same("x"),
            conditions=same(TRIGGER["conditions"]),
            actions=lambda x: [{"type": "set_group", "value": x}],
        ),
    ),
    # console pages
    Cross("GET", "/tickets/{ticket_id}/canned", "canned", _q(id=it), TICKET),
    Cross("POST", "/tickets/{ticket_id}/properties", "agent", _f(assignee_id=text), TICKET),
    Cross("POST", "/tickets/{ticket_id}/properties", "group", _f(group_id=text), TICKET),
    Cross("POST", "/tickets/{ticket_id}/split", "message", _f(message_id=text, subject=same("x")), TICKET),
    Cross(
        "POST", "/inbox/bulk", "ticket", _f(ticket_ids=lambda x: [str(x)], bulk_status=same("solved")), ok=303
    ),
    Cross("POST", "/contacts/new", "org", _f(name=same("x"), email=same("new@x.test"), organization_id=text)),
    Cross(
        "POST",
        "/contacts/{contact_id}/edit",
        "org",
        _f(name=same("x"), organization_id=text),
        (("contact_id", "contact"),),
    ),
    Cross(
        "POST", "/contacts/{contact_id}/merge", "contact", _f(source_id=text), (("contact_id", "contact"),)
    ),
    Cross("POST", "/admin/groups", "agent", _f(name=same("New"), member_ids=text)),
    Cross("POST", "/admin/groups/{group_id}", "agent", _f(member_ids=text), (("group_id", "group"),)),
    Cross("POST", "/admin/users", "group", _f(email=same("new@x.test"), role=same("agent"), group_ids=text)),
    Cross(
        "POST",
        "/admin/users/{user_id}",
        "group",
        _f(role=same("agent"), group_ids=text),
        (("user_id", "agent"),),
    ),
    Cross("POST", "/admin/tokens", "agent", _f(name=same("x"), user_id=text)),
    Cross("POST", "/admin/canned", "group", _f(title=same("x"), body=same("y"), group_id=text)),
    Cross(
        "POST",
        "/admin/canned/{canned_id}",
        "group",
        _f(title=same("x"), body=same("y"), group_id=text),
        (("canned_id", "canned"),),
    ),
    Cross(
        "POST",
        "/admin/mailboxes/{mailbox_id}",
        "group",
        lambda t, x: {"data": {"name": "x", "address": t["mailbox_address"], "group_id": str(x)}},
        (("mailbox_id", "mailbox"),),
    ),
    Cross(
        "POST",
        "/admin/chat-widgets/{widget_id}",
        "group",
        _f(name=same("x"), allowed_origins=same(ORIGIN), group_id=text),
        (("widget_id", "widget"),),
    ),
    Cross(
        "POST",
        "/chats/{ticket_id}/transfer",
        "agent",
        _f(to=lambda x: f"agent:{x}"),
        (("ticket_id", "chat_ticket"),),
    ),
    Cross(
        "POST",
        "/chats/{ticket_id}/transfer",
        "group",
        _f(to=lambda x: f"group:{x}"),
        (("ticket_id", "chat_ticket"),),
    ),
    Cross("POST", "/kb/new", "section", _f(title=same("x"), body_md=same("y"), section_id=text)),
    Cross(
        "POST",
        "/kb/articles/{article_id}",
        "section",
        _f(title=same("x"), body_md=same("y"), section_id=text),
        (("article_id", "article"),),
    ),
    # ids not the workspace's articles are dropped, as missing ones are (the list is saved without them)
    Cross(
        "POST",
        "/kb/articles/{article_id}/related",
        "article",
        _f(related=text),
        (("article_id", "article"),),
        ok=303,
    ),
    # a parent not the workspace's is refused by going back to the list with ?error=category
    Cross("POST", "/kb/categories", "category", _f(name=same("x"), parent_id=text), ok=303),
]


# --- a real server, for the WebSockets ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """``http://127.0.0.1:<port>`` serving ``app`` with uvicorn in this event loop."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


class Socket:
    """The console's chat socket of one principal: JSON frames out and in."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seen: list[str] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.conn.send(orjson.dumps(frame).decode())

    async def answer(self, frame: dict[str, Any], timeout: float = 10) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Send ``frame`` and a ping; what came back before the pong that is about the frame (an error,
        or something about its ticket). Frames are handled in order, so the pong comes after."""
        await self.send(frame)
        await self.send({"t": "ping"})
        out = []
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
            self.seen.append(str(raw))
            got = orjson.loads(raw)
            if got.get("t") == "pong":
                return out
            if got.get("t") == "error" or got.get("ticket") == frame.get("ticket"):
                out.append(dict(got))

    async def rest(self, seconds: float = 0.3) -> None:
        with contextlib.suppress(TimeoutError):
            while True:
                self.seen.append(str(await asyncio.wait_for(self.conn.recv(), seconds)))


@contextlib.asynccontextmanager
async def agent_socket(base: str, t: Tenant, role: str) -> AsyncIterator[Socket]:
    s = t.sessions[role]
    conn = await websockets.connect(
        base.replace("http://", "ws://") + "/chat/agent/ws",
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"helpline_session={s.cookie}"},
    )
    try:
        yield Socket(conn)
    finally:
        await conn.close()
