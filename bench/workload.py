"""What each benchmarked request asks for, and how many rows it matches in the seeded data.

Shared by ``api_load.py`` (HTTP and bare runs get the same parameters for request ``i``) and
``profile_app.py``.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from typing import Any

import asyncpg
from bare import fts_phrase
from common import (
    contact_email,
    contact_name,
    dialect,
    plain_pg_url,
    sentence_pool,
    sqlite_path,
    subject_pool,
)

OPS = ["healthz", "ticket_get", "list_status", "list_tag", "search_rare", "search_common", "ticket_create"]


class Workload:
    """The parameters of request ``i`` of each operation (same for the API and the bare runs)."""

    def __init__(self, state: dict[str, Any], lo: int, hi: int) -> None:
        rng = random.Random(3)
        self.ids = [rng.randint(lo, hi) for _ in range(50_000)]
        self.contacts = [rng.randrange(state["contacts"]) for _ in range(50_000)]
        self.state, self.run = state, uuid.uuid4().hex[:8]
        self.subjects, self.sentences = subject_pool(1000, seed=11), sentence_pool(3000, seed=12)
        self.tags = state["tags"][1:4]

    def arg(self, op: str, i: int) -> Any:
        s = self.state
        if op == "ticket_get":
            return self.ids[i % len(self.ids)]
        if op == "list_tag":
            return self.tags[i % len(self.tags)]
        if op == "search_rare":
            return s["rare_words"][i % len(s["rare_words"])]
        if op == "search_common":
            return s["common_words"][i % len(s["common_words"])]
        if op == "ticket_create":
            k = self.contacts[i % len(self.contacts)]
            email = (
                f"new-{self.run}-{i}@newcustomers.example.org"
                if i % 10 == 0
                else contact_email(k, s["organizations"])
            )
            body = " ".join(self.sentences[(i * 7 + j) % len(self.sentences)] for j in range(3))
            return {
                "subject": self.subjects[i % len(self.subjects)],
                "body": body,
                "requester": {"email": email, "name": contact_name(k)},
            }
        return None

    def request(self, op: str, i: int) -> tuple[str, str, Any]:
        a = self.arg(op, i)
        return {
            "healthz": ("GET", "/healthz", None),  # no database: the framework + load generator ceiling
            "ticket_get": ("GET", f"/api/v1/tickets/{a}", None),
            "list_status": ("GET", "/api/v1/tickets?status=open&priority=high&limit=25", None),
            "list_tag": ("GET", f"/api/v1/tickets?tag={a}&limit=25", None),
            "search_rare": ("GET", f"/api/v1/tickets?q={a}&limit=25", None),
            "search_common": ("GET", f"/api/v1/tickets?q={a}&limit=25", None),
            "ticket_create": ("POST", "/api/v1/tickets", a),
        }[op]


CHILDREN = ["events", "messages", "ticket_tags", "ticket_ccs", "ticket_followers"]


def _cleanup(ws: int, last: int, n: int, last_contact: int) -> list[tuple[str, tuple[Any, ...]]]:
    """Statements that remove what ticket_create runs added after the seed (ids above the seeded
    ones). Children first and foreign-key checks off: a cascading delete of one ticket scans the
    whole tickets table (``tickets.merged_into_id`` has no index)."""
    steps: list[tuple[str, tuple[Any, ...]]] = [
        (f"DELETE FROM {t} WHERE ticket_id > $1", (last,)) for t in CHILDREN
    ]
    return [
        *steps,
        ("DELETE FROM ticket_links WHERE source_id > $1 OR target_id > $1", (last,)),
        ("DELETE FROM tickets WHERE workspace_id = $1 AND id > $2", (ws, last)),
        ("DELETE FROM contact_identities WHERE contact_id > $1", (last_contact,)),
        ("DELETE FROM contacts WHERE id > $1", (last_contact,)),
        ("DELETE FROM jobs WHERE kind = 'search.index'", ()),
        ("UPDATE workspaces SET ticket_seq = $2 WHERE id = $1", (ws, n)),
    ]


async def _cleanup_pg(conn: asyncpg.Connection, state: dict[str, Any]) -> None:
    ws, n = state["workspace_id"], state["tickets"]
    last = await conn.fetchval("SELECT min(id) FROM tickets WHERE workspace_id = $1", ws) + n - 1
    last_contact = await conn.fetchval("SELECT min(id) FROM contacts") + state["contacts"] - 1
    if not await conn.fetchval("SELECT count(*) FROM tickets WHERE workspace_id = $1 AND id > $2", ws, last):
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for sql, args in _cleanup(ws, last, n, last_contact):
            await conn.execute(sql, *args)
        await conn.execute("DELETE FROM ticket_search WHERE ticket_id > $1", last)
        await conn.execute(f"SELECT setval('ticket_number_ws_{int(ws)}', $1)", n)
    for table in ("tickets", "messages", "events", "ticket_tags", "ticket_search", "contacts"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")


def _cleanup_sqlite(db: sqlite3.Connection, state: dict[str, Any]) -> None:
    ws, n = state["workspace_id"], state["tickets"]
    last = db.execute("SELECT min(id) FROM tickets WHERE workspace_id = ?", (ws,)).fetchone()[0] + n - 1
    last_contact = db.execute("SELECT min(id) FROM contacts").fetchone()[0] + state["contacts"] - 1
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN IMMEDIATE")
    for sql, args in _cleanup(ws, last, n, last_contact):
        db.execute(sql.replace("$", "?"), args)
    db.execute("DELETE FROM ticket_fts WHERE rowid > ?", (last,))
    db.execute("COMMIT")


async def counts(url: str, state: dict[str, Any]) -> tuple[int, int, dict[str, int]]:
    """Id range of the seeded tickets, and how many rows each read matches (for the report).

    Tickets (and new requesters, and search jobs) left by earlier runs' ticket_create are deleted
    first, so that every run reads the data as seeded: the newest tickets would otherwise be
    benchmark tickets without tags, which changes what the tag filter has to walk through.
    """
    ws = state["workspace_id"]
    word_q = (
        "SELECT count(*) FROM ticket_search WHERE doc_all @@ plainto_tsquery('english', $1)"
        if dialect(url) == "postgresql"
        else "SELECT count(*) FROM ticket_fts WHERE ticket_fts MATCH $1"
    )
    queries = {
        "range": ("SELECT min(id), max(id) FROM tickets WHERE workspace_id = $1", ws),
        "list_status": (
            "SELECT count(*) FROM tickets WHERE workspace_id = $1 AND status = 'open' AND priority = 'high'",
            ws,
        ),
        "list_tag": (
            "SELECT count(*) FROM ticket_tags WHERE workspace_id = $1 AND tag = $2",
            ws,
            state["tags"][1],
        ),
        "search_rare": (word_q, state["rare_words"][0]),
        "search_common": (word_q, state["common_words"][0]),
    }
    out: dict[str, Any] = {}
    if dialect(url) == "postgresql":
        conn = await asyncpg.connect(plain_pg_url(url))
        try:
            await _cleanup_pg(conn, state)
            for k, (q, *args) in queries.items():
                out[k] = tuple(await conn.fetchrow(q, *args))
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(sqlite_path(url), isolation_level=None)
        _cleanup_sqlite(db, state)
        for k, (q, *args) in queries.items():
            if k.startswith("search"):
                args = [fts_phrase(args[0])]
            out[k] = db.execute(q.replace("$1", "?1").replace("$2", "?2"), args).fetchone()
        db.close()
    lo, hi = out.pop("range")
    return int(lo), int(hi), {k: int(v[0]) for k, v in out.items()}
