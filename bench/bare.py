"""The limit: each benchmarked API operation done with the bare driver, same SQL as the app issues.

The statements mirror what Helpline runs per request (traced from the app): the token lookup and
the caller's groups, then the operation's own reads or its write transaction (contact lookup,
custom fields, ticket number, ticket, message, two events, the search job, then the detail
reads). No framework, no ORM, no JSON rendering: asyncpg with one connection per concurrent
task on PostgreSQL, one sqlite3 connection called sequentially on SQLite.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

COLS = (
    "workspace_id, number, subject, status, priority, type, channel, requester_id, organization_id,"
    " assignee_id, group_id, due_at, custom, version, merged_into_id, created_at, updated_at, solved_at, id"
)

SQL: dict[str, str] = {
    "auth": """SELECT u.id, m.workspace_id, m.role, u.email, u.name, m.contact_id,
        CASE WHEN o.shared_tickets THEN o.id END, t.id, t.last_used_at
        FROM memberships m JOIN users u ON u.id = m.user_id LEFT JOIN contacts c ON c.id = m.contact_id
        LEFT JOIN organizations o ON o.id = c.organization_id
        JOIN api_tokens t ON t.user_id = u.id AND t.workspace_id = m.workspace_id
        WHERE u.is_active AND t.token_hash = $1 AND t.revoked_at IS NULL
          AND (t.expires_at IS NULL OR t.expires_at > $2)""",
    "groups": """SELECT gm.group_id FROM group_members gm JOIN groups g ON g.id = gm.group_id
        WHERE gm.user_id = $1 AND g.workspace_id = $2""",
    "ticket": f"SELECT {COLS} FROM tickets WHERE id = $1 AND workspace_id = $2",
    "tags": "SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ({ids}) ORDER BY tag",
    "followers": "SELECT user_id FROM ticket_followers WHERE ticket_id = $1",
    "ccs": "SELECT contact_id FROM ticket_ccs WHERE ticket_id = $1",
    "links": "SELECT source_id, target_id, kind FROM ticket_links WHERE source_id = $1 OR target_id = $2",
    "list_status": f"""SELECT {COLS} FROM tickets WHERE workspace_id = $1 AND status IN ($2)
        AND priority IN ($3) ORDER BY updated_at DESC, id DESC LIMIT 26""",
    "list_tag": f"""SELECT {COLS} FROM tickets WHERE workspace_id = $1 AND id IN (
        SELECT ticket_id FROM ticket_tags WHERE workspace_id = $1 AND tag = $2)
        ORDER BY updated_at DESC, id DESC LIMIT 26""",
    "search_pg": f"""SELECT {COLS} FROM tickets WHERE workspace_id = $1 AND id IN (
        SELECT ticket_id FROM ticket_search WHERE doc_all @@ plainto_tsquery('english', $2))
        ORDER BY id DESC LIMIT 26""",
    "search_sqlite": f"""SELECT {COLS} FROM tickets WHERE workspace_id = $1 AND id IN (
        SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH $2) ORDER BY id DESC LIMIT 26""",
    "identity": """SELECT contact_id FROM contact_identities
        WHERE workspace_id = $1 AND kind = 'email' AND value = $2""",
    "org_domain": "SELECT organization_id FROM organization_domains WHERE workspace_id = $1 AND domain = $2",
    "new_contact": """INSERT INTO contacts (workspace_id, name, organization_id, notes, tags, attributes,
        created_at, updated_at) VALUES ($1, $2, $3, '', '[]', '{}', $4, $4) RETURNING id""",
    "new_identity": """INSERT INTO contact_identities (workspace_id, contact_id, kind, value, is_primary)
        VALUES ($1, $2, 'email', $3, true) RETURNING id""",
    "fields": """SELECT workspace_id, key, label, type, options, required, customer_visible, position,
        created_at, id FROM custom_fields WHERE workspace_id = $1 ORDER BY position, id""",
    "number_pg": "SELECT nextval('ticket_number_ws_{ws}')",
    "number_sqlite": "UPDATE workspaces SET ticket_seq = ticket_seq + 1 WHERE id = $1 RETURNING ticket_seq",
    "contact_org": "SELECT organization_id FROM contacts WHERE id = $1",
    "insert_ticket": """INSERT INTO tickets (workspace_id, number, subject, status, priority, type, channel,
        requester_id, organization_id, assignee_id, group_id, due_at, custom, version, created_at, updated_at)
        VALUES ($1, $2, $3, 'new', 'normal', NULL, 'api', $4, $5, NULL, NULL, NULL, '{}', 1, $6, $6)
        RETURNING id""",
    "insert_message": """INSERT INTO messages (workspace_id, ticket_id, public, author_kind, author_user_id,
        author_contact_id, channel, body_text, body_html, created_at)
        VALUES ($1, $2, true, 'agent', $3, NULL, 'api', $4, $5, $6) RETURNING id""",
    "insert_event": """INSERT INTO events (workspace_id, ticket_id, kind, field, old, new, actor_user_id,
        actor_kind, created_at) VALUES ($1, $2, $3, NULL, NULL, $4, $5, 'agent', $6)""",
    "insert_job": """INSERT INTO jobs (kind, args, state, dedupe_key, attempts, max_attempts, run_at,
        created_at)
        VALUES ('search.index', $1, 'queued', $2, 0, 8, $3, $3)
        ON CONFLICT (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL DO NOTHING RETURNING id""",
}


def _sqlite(sql: str) -> str:
    """``$n`` placeholders to SQLite's ``?NNN`` (same numbering)."""
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", f"?{n}")
    return sql.replace("true", "1")


def _now_sqlite() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Ops:
    """The benchmarked operations, bound to one workspace. ``params(i)`` of each op comes from api_load."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.ws = state["workspace_id"]
        self.token_hash = hashlib.sha256(state["token"].encode()).hexdigest()

    def _check_hash(self, found: Any) -> None:
        if not found:
            raise RuntimeError("token not found: the bare token lookup does not match the app's hashing")


class PgOps(Ops):
    def __init__(self, state: dict[str, Any], pool: asyncpg.Pool) -> None:
        super().__init__(state)
        self.pool = pool

    async def _auth(self, conn: asyncpg.Connection) -> tuple[int, ...]:
        row = await conn.fetchrow(SQL["auth"], self.token_hash, datetime.now(UTC))
        self._check_hash(row)
        await conn.fetch(SQL["groups"], row[0], self.ws)
        return tuple(row)

    async def _tags(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        if ids:
            await conn.fetch(SQL["tags"].format(ids=",".join(f"${k + 1}" for k in range(len(ids)))), *ids)

    async def _detail(self, conn: asyncpg.Connection, ticket_id: int) -> None:
        row = await conn.fetchrow(SQL["ticket"], ticket_id, self.ws)
        if row is None:
            raise LookupError(ticket_id)
        await self._tags(conn, [ticket_id])
        await conn.fetch(SQL["followers"], ticket_id)
        await conn.fetch(SQL["ccs"], ticket_id)
        await conn.fetch(SQL["links"], ticket_id, ticket_id)

    async def ticket_get(self, ticket_id: int) -> None:
        async with self.pool.acquire() as conn:
            await self._auth(conn)
            await self._detail(conn, ticket_id)

    async def listing(self, key: str, *args: Any) -> None:
        async with self.pool.acquire() as conn:
            await self._auth(conn)
            rows = await conn.fetch(SQL[key], self.ws, *args)
            await self._tags(conn, [r["id"] for r in rows[:25]])

    async def ticket_create(self, body: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            user_id = (await self._auth(conn))[0]
            async with conn.transaction():
                email = body["requester"]["email"]
                contact = await conn.fetchval(SQL["identity"], self.ws, email)
                if contact is None:
                    async with conn.transaction():  # the app's savepoint
                        await conn.fetchval(SQL["identity"], self.ws, email)
                        org = await conn.fetchval(SQL["org_domain"], self.ws, email.split("@")[1])
                        contact = await conn.fetchval(
                            SQL["new_contact"], self.ws, body["requester"]["name"], org, now
                        )
                        await conn.fetchval(SQL["new_identity"], self.ws, contact, email)
                await conn.fetch(SQL["fields"], self.ws)
                number = await conn.fetchval(SQL["number_pg"].format(ws=int(self.ws)))
                org = await conn.fetchval(SQL["contact_org"], contact)
                tid = await conn.fetchval(
                    SQL["insert_ticket"], self.ws, number, body["subject"], contact, org, now
                )
                html = f"<p>{body['body']}</p>"
                mid = await conn.fetchval(
                    SQL["insert_message"], self.ws, tid, user_id, body["body"], html, now
                )
                created = json.dumps({"number": number, "subject": body["subject"], "status": "new"})
                await conn.executemany(
                    SQL["insert_event"],
                    [
                        (self.ws, tid, "created", created, user_id, now),
                        (
                            self.ws,
                            tid,
                            "message_added",
                            json.dumps({"message_id": mid, "public": True}),
                            user_id,
                            now,
                        ),
                    ],
                )
                await conn.fetchval(SQL["insert_job"], json.dumps({"ticket_id": tid}), f"search:{tid}", now)
                await self._detail(conn, tid)


class SqliteOps(Ops):
    """Sequential sqlite3 calls on one connection set up like the app's (WAL, synchronous=NORMAL)."""

    def __init__(self, state: dict[str, Any], path: str) -> None:
        super().__init__(state)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
            "cache_size=-65536",
            "temp_store=MEMORY",
            "mmap_size=268435456",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.sql = {k: _sqlite(v) for k, v in SQL.items()}

    def q(self, key: str, *args: Any, ids: int = 0) -> list[Any]:
        sql = self.sql[key]
        if ids:
            sql = sql.format(ids=",".join("?" * ids))
        return self.db.execute(sql, args).fetchall()

    def _auth(self) -> int:
        rows = self.q("auth", self.token_hash, _now_sqlite())
        self._check_hash(rows)
        self.q("groups", rows[0][0], self.ws)
        return int(rows[0][0])

    def _detail(self, ticket_id: int) -> None:
        if not self.q("ticket", ticket_id, self.ws):
            raise LookupError(ticket_id)
        self.q("tags", ticket_id, ids=1)
        self.q("followers", ticket_id)
        self.q("ccs", ticket_id)
        self.q("links", ticket_id, ticket_id)

    def ticket_get(self, ticket_id: int) -> None:
        self.db.execute("BEGIN")
        try:
            self._auth()
            self._detail(ticket_id)
        finally:
            self.db.execute("ROLLBACK")

    def listing(self, key: str, *args: Any) -> None:
        self.db.execute("BEGIN")
        try:
            self._auth()
            rows = self.q("search_sqlite" if key == "search_pg" else key, self.ws, *args)
            ids = [r[-1] for r in rows[:25]]
            if ids:
                self.q("tags", *ids, ids=len(ids))
        finally:
            self.db.execute("ROLLBACK")

    def ticket_create(self, body: dict[str, Any]) -> None:
        now = _now_sqlite()
        user_id = self._auth()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            email = body["requester"]["email"]
            found = self.q("identity", self.ws, email)
            if found:
                contact = found[0][0]
            else:
                self.q("identity", self.ws, email)
                org = self.q("org_domain", self.ws, email.split("@")[1])
                contact = self.q(
                    "new_contact", self.ws, body["requester"]["name"], org[0][0] if org else None, now
                )[0][0]
                self.q("new_identity", self.ws, contact, email)
            self.q("fields", self.ws)
            number = self.q("number_sqlite", self.ws)[0][0]
            org_id = self.q("contact_org", contact)[0][0]
            tid = self.q("insert_ticket", self.ws, number, body["subject"], contact, org_id, now)[0][0]
            mid = self.q(
                "insert_message", self.ws, tid, user_id, body["body"], f"<p>{body['body']}</p>", now
            )[0][0]
            created = json.dumps({"number": number, "subject": body["subject"], "status": "new"})
            self.db.executemany(
                self.sql["insert_event"],
                [
                    (self.ws, tid, "created", created, user_id, now),
                    (
                        self.ws,
                        tid,
                        "message_added",
                        json.dumps({"message_id": mid, "public": True}),
                        user_id,
                        now,
                    ),
                ],
            )
            self.q("insert_job", json.dumps({"ticket_id": tid}), f"search:{tid}", now)
            self._detail(tid)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


def fts_phrase(word: str) -> str:
    return f'"{word}"'


BareCall = Callable[[int], Any]
