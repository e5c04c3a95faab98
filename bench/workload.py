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


async def counts(url: str, state: dict[str, Any]) -> tuple[int, int, dict[str, int]]:
    """Id range of the seeded tickets, and how many rows each read matches (for the report)."""
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
            for k, (q, *args) in queries.items():
                out[k] = tuple(await conn.fetchrow(q, *args))
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(sqlite_path(url))
        for k, (q, *args) in queries.items():
            if k.startswith("search"):
                args = [fts_phrase(args[0])]
            out[k] = db.execute(q.replace("$1", "?1").replace("$2", "?2"), args).fetchone()
        db.close()
    lo, hi = out.pop("range")
    return int(lo), int(hi), {k: int(v[0]) for k, v in out.items()}
