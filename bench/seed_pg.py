"""Bulk load of the benchmark data into PostgreSQL, straight in SQL (used by ``bench/seed.py``).

Tickets, messages, events, tags and the search index are each built by an ``INSERT … SELECT`` over
``generate_series`` (split in two halves run on two connections, one per core). Secondary indexes
are dropped first and rebuilt at the end, and foreign-key triggers are skipped for the session
(``session_replication_role = replica``): the rows are consistent by construction.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from common import FIRST, LAST, TAGS, log, sentence_pool, subject_pool

BULK_TABLES = [
    "tickets",
    "messages",
    "events",
    "ticket_search",
    "ticket_tags",
    "contacts",
    "contact_identities",
]
SESSION = [
    "SET synchronous_commit = off",
    "SET maintenance_work_mem = '512MB'",
    "SET work_mem = '64MB'",
    "SET max_parallel_maintenance_workers = 1",
]

ORGS = """INSERT INTO organizations (id, workspace_id, name, notes, tags, attributes, shared_tickets,
  created_at, updated_at)
SELECT $2 + j, $1, 'Organization ' || j, '', '[]', '{}', j % 5 = 0, now(), now()
FROM generate_series(0, $3 - 1) j"""
DOMAINS = """INSERT INTO organization_domains (workspace_id, organization_id, domain)
SELECT $1, $2 + j, 'org' || j || '.example.com' FROM generate_series(0, $3 - 1) j"""
CONTACTS = """INSERT INTO contacts (id, workspace_id, name, organization_id, notes, tags, attributes,
  created_at, updated_at)
SELECT $2 + i, $1, ($6::text[])[1 + i % $7] || ' ' || ($8::text[])[1 + (i / $7) % $9],
  CASE WHEN i % 10 < 7 THEN $4 + i % $5 END, '', '[]', '{}', now(), now()
FROM generate_series(0, $3 - 1) i"""
IDENTITIES = """INSERT INTO contact_identities (workspace_id, contact_id, kind, value, is_primary)
SELECT $1, $2 + i, 'email', 'customer' || i || '@'
  || CASE WHEN i % 10 < 7 THEN 'org' || (i % $4) || '.example.com' ELSE 'mail.example.net' END, true
FROM generate_series(0, $3 - 1) i"""


def pick(key: str, salt: int, mod: str) -> str:
    """A deterministic pseudo-random number in [0, mod) from ``key``: the search build below
    recomputes which pool sentences each message was made of, instead of parsing its text again."""
    return f"((hashint8extended({key}, {salt}) & 2147483647) % {mod})"


def _sentences(key: str) -> tuple[str, str, str]:
    """Pool ids of the 2 or 3 sentences of the message ``key`` (= ticket id * 4 + k)."""
    third = f"CASE WHEN {pick(key, 3, '2')} = 0 THEN {pick(key, 4, '$P')} END"
    return pick(key, 1, "$P"), pick(key, 2, "$P"), third


def _note(tid: str) -> str:
    """Whether the third message of ticket ``tid`` is an internal note."""
    return f"{pick(f'{tid} * 4 + 3', 5, '2')} = 0"


# $1 ws, $2 first ticket id - 1, $3 lo, $4 hi, $5 tickets, $6 first contact id, $7 contacts,
# $8 first org id, $9 orgs, $10 agent ids, $11 group ids, $12 start time, $13 seconds per ticket
TICKETS = f"""INSERT INTO tickets (id, workspace_id, number, subject, status, priority, type, channel,
  requester_id, organization_id, assignee_id, group_id, custom, version, created_at, updated_at, solved_at)
SELECT $2 + g, $1, g, s.txt, st, pr, ty, ch, $6 + r, CASE WHEN r % 10 < 7 THEN $8 + r % $9 END,
  CASE WHEN st <> 'new' THEN ($10::bigint[])[1 + g % cardinality($10::bigint[])] END,
  CASE WHEN x4 < 0.85 THEN ($11::bigint[])[1 + (g / 7) % cardinality($11::bigint[])] END,
  '{{}}', 1 + g % 4, ca, ua, CASE WHEN st IN ('solved', 'closed') THEN ua END
FROM (
  SELECT g, r, sid, x4, ca,
    CASE WHEN recent THEN CASE WHEN x1 < .2 THEN 'new' WHEN x1 < .65 THEN 'open' WHEN x1 < .85 THEN 'pending'
                               WHEN x1 < .9 THEN 'on-hold' ELSE 'solved' END
         ELSE CASE WHEN x1 < .01 THEN 'new' WHEN x1 < .11 THEN 'open' WHEN x1 < .16 THEN 'pending'
                   WHEN x1 < .18 THEN 'on-hold' WHEN x1 < .40 THEN 'solved' ELSE 'closed' END END AS st,
    CASE WHEN x2 < .2 THEN 'low' WHEN x2 < .75 THEN 'normal' WHEN x2 < .93 THEN 'high'
         ELSE 'urgent' END AS pr,
    (ARRAY['question', 'incident', 'problem', 'task', 'complaint', NULL])[1 + floor(x3 * 6)::int] AS ty,
    CASE WHEN x5 < .5 THEN 'email' WHEN x5 < .7 THEN 'web' WHEN x5 < .8 THEN 'api' WHEN x5 < .9 THEN 'chat'
         WHEN x5 < .95 THEN 'phone' ELSE 'whatsapp' END AS ch,
    CASE WHEN x1 < .01 THEN ca ELSE least(ca + x6 * interval '10 days', now()) END AS ua
  FROM (
    SELECT g, floor(random() * $7::int)::int AS r, {pick("$2 + g", 0, "$14::int")} AS sid,
      g > $5::int * 0.97 AS recent,
      random() x1, random() x2, random() x3, random() x4, random() x5, random() x6,
      $12::timestamptz + (g * $13::float8) * interval '1 second' AS ca
    FROM generate_series($3::bigint, $4::bigint) g OFFSET 0
  ) raw
) v JOIN bench_subjects s ON s.id = v.sid"""

S1, S2, S3 = _sentences("t.id * 4 + k")
# $1 ws, $2 lo ticket id, $3 hi ticket id, $4 admin id, $P pool size
MESSAGES = f"""INSERT INTO messages (workspace_id, ticket_id, public, author_kind, author_user_id,
  author_contact_id, channel, body_text, body_html, created_at)
SELECT $1, m.tid, NOT m.note, m.kind, CASE WHEN m.kind = 'agent' THEN coalesce(m.assignee, $4) END,
  CASE WHEN m.kind = 'customer' THEN m.requester END, m.ch, body, '<p>' || body || '</p>', m.ca
FROM (
  SELECT r.*, CASE WHEN k = 2 OR note THEN 'agent' ELSE 'customer' END AS kind,
    a.txt || ' ' || b.txt || coalesce(' ' || c.txt, '') AS body
  FROM (
    SELECT t.id AS tid, k, t.assignee_id AS assignee, t.requester_id AS requester, t.channel AS ch,
      t.created_at + (k - 1) * interval '3 hours' AS ca, k = 3 AND {_note("t.id")} AS note,
      {S1} AS s1, {S2} AS s2, {S3} AS s3
    FROM tickets t CROSS JOIN LATERAL generate_series(1, 1 + (t.id % 3)::int) k
    WHERE t.workspace_id = $1 AND t.id BETWEEN $2 AND $3 OFFSET 0
  ) r JOIN bench_sentences a ON a.id = r.s1 JOIN bench_sentences b ON b.id = r.s2
  LEFT JOIN bench_sentences c ON c.id = r.s3
) m""".replace("$P", "$5::int")


def _search() -> str:
    """doc_public and doc_all concatenated from the pool's precomputed tsvectors (no text parsing)."""
    cols, joins = [], []
    for k in (1, 2, 3):
        for j, expr in enumerate(_sentences(f"t.id * 4 + {k}"), 1):
            cols.append(f"CASE WHEN n >= {k} THEN {expr} END AS s{k}{j}")
            joins.append(f"LEFT JOIN bench_sentences p{k}{j} ON p{k}{j}.id = r.s{k}{j}")
    msg = {k: f"(p{k}1.tsv || p{k}2.tsv || coalesce(p{k}3.tsv, ''))" for k in (1, 2, 3)}
    return f"""INSERT INTO ticket_search (ticket_id, workspace_id, doc_public, doc_all)
SELECT tid, $1, pub, CASE WHEN note THEN pub || m3 ELSE pub END
FROM (
  SELECT r.tid, r.note, {msg[3]} AS m3, subj.tsv || {msg[1]} || coalesce({msg[2]}, '')
    || CASE WHEN note THEN '' ELSE coalesce({msg[3]}, '') END AS pub
  FROM (
    SELECT t.id AS tid, t.n, t.n = 3 AND {_note("t.id")} AS note, {pick("t.id", 0, "$4::int")} AS sid,
      {", ".join(cols)}
    FROM (SELECT id, 1 + (id % 3)::int AS n FROM tickets WHERE workspace_id = $1 AND id BETWEEN $2 AND $3) t
    OFFSET 0
  ) r JOIN bench_subjects subj ON subj.id = r.sid
  {" ".join(joins)}
  OFFSET 0
) d""".replace("$P", "$5::int")


SEARCH = _search()

TAGS_SQL = """INSERT INTO ticket_tags (ticket_id, tag, workspace_id)
SELECT DISTINCT t.id, ($2::text[])[floor(pow(cardinality($2::text[]) + 1, random()))::int], $1::bigint
FROM tickets t CROSS JOIN LATERAL generate_series(1, (t.id % 4)::int) k WHERE t.workspace_id = $1"""

EVENTS_TICKETS = """INSERT INTO events (workspace_id, ticket_id, kind, field, old, new, actor_user_id,
  actor_kind, created_at)
SELECT $1, id, 'created', NULL::text, NULL::jsonb, jsonb_build_object('number', number, 'subject', subject,
  'status', 'new', 'priority', priority, 'channel', channel, 'requester_id', requester_id,
  'assignee_id', NULL, 'group_id', NULL, 'tags', '[]'::jsonb), NULL, 'system', created_at
FROM tickets WHERE workspace_id = $1
UNION ALL
SELECT $1, id, 'field_changed', 'status', '"open"'::jsonb, to_jsonb(status), assignee_id, 'agent', updated_at
FROM tickets WHERE workspace_id = $1 AND status IN ('solved', 'closed')"""
EVENTS_MESSAGES = """INSERT INTO events (workspace_id, ticket_id, kind, new, actor_user_id, actor_kind,
  created_at)
SELECT $1, ticket_id, 'message_added', jsonb_build_object('message_id', id, 'public', public),
  author_user_id, author_kind, created_at
FROM messages WHERE workspace_id = $1 AND ticket_id BETWEEN $2 AND $3"""

SECONDARY_INDEXES = """SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relname = ANY($1::text[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"""


async def _setup(conn: asyncpg.Connection) -> None:
    """Session settings for bulk loading (on every acquire: the pool resets sessions on release)."""
    for stmt in SESSION:
        await conn.execute(stmt)
    try:  # skip foreign-key triggers while loading (needs a superuser)
        await conn.execute("SET session_replication_role = replica")
    except asyncpg.PostgresError:
        log("not a superuser: foreign keys are checked row by row (slower)")


class Loader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.phases: dict[str, float] = {}

    async def run(self, name: str, sql: str, *args: Any) -> None:
        t0 = time.perf_counter()
        async with self.pool.acquire() as conn:
            await conn.execute(sql, *args)
        self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t0, 2)
        log(f"{name}: {time.perf_counter() - t0:.1f}s")

    async def both(self, *jobs: tuple[Any, ...]) -> None:
        """Run statements on the two connections at once."""
        await asyncio.gather(*(self.run(*job) for job in jobs))


async def _next_id(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))


async def load(dsn: str, ids: dict[str, Any], n: int, n_contacts: int, n_orgs: int) -> dict[str, Any]:
    """Bulk-load into the workspace ``ids['workspace_id']``; returns row counts and phase timings."""
    ws, admin = ids["workspace_id"], ids["admin_id"]
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2, setup=_setup)
    ld = Loader(pool)
    try:
        async with pool.acquire() as conn:
            o0, c0, t0 = [await _next_id(conn, t) for t in ("organizations", "contacts", "tickets")]
            indexes = await conn.fetch(SECONDARY_INDEXES, BULK_TABLES)
            for _, name, _ in indexes:
                await conn.execute(f"DROP INDEX {name}")
            sentences, subjects = sentence_pool(100_000), subject_pool(20_000)
            for table, rows in (("bench_sentences", sentences), ("bench_subjects", subjects)):
                await conn.execute(f"DROP TABLE IF EXISTS {table}")
                await conn.execute(
                    f"CREATE UNLOGGED TABLE {table} (id int PRIMARY KEY, txt text, tsv tsvector)"
                )
                await conn.copy_records_to_table(table, records=list(enumerate(rows)), columns=["id", "txt"])
        await ld.both(
            *(
                ("word pool", f"UPDATE {t} SET tsv = to_tsvector('english', txt); ANALYZE {t}")
                for t in ("bench_sentences", "bench_subjects")
            )
        )
        await ld.run("organizations", ORGS, ws, o0, n_orgs)
        await ld.run("organization_domains", DOMAINS, ws, o0, n_orgs)
        names = (FIRST, len(FIRST), LAST, len(LAST))
        await ld.both(
            ("contacts", CONTACTS, ws, c0, n_contacts, o0, n_orgs, *names),
            ("contact_identities", IDENTITIES, ws, c0, n_contacts, n_orgs),
        )
        start = datetime.now(UTC) - timedelta(days=730)
        step = 730 * 86400 / n
        half = n // 2
        common = (
            n,
            c0,
            n_contacts,
            o0,
            n_orgs,
            ids["agent_ids"],
            ids["group_ids"],
            start,
            step,
            len(subjects),
        )
        await ld.both(
            ("tickets", TICKETS, ws, t0 - 1, 1, half, *common),
            ("tickets", TICKETS, ws, t0 - 1, half + 1, n, *common),
        )
        lo, mid, hi = t0, t0 + half, t0 + n - 1
        pool_n = len(sentences)
        await ld.both(
            ("messages", MESSAGES, ws, lo, mid, admin, pool_n),
            ("messages", MESSAGES, ws, mid + 1, hi, admin, pool_n),
        )
        n_subj = len(subjects)
        await ld.both(
            ("ticket_search", SEARCH, ws, lo, mid, n_subj, pool_n),
            ("ticket_search", SEARCH, ws, mid + 1, hi, n_subj, pool_n),
        )
        await ld.both(("events", EVENTS_TICKETS, ws), ("ticket_tags", TAGS_SQL, ws, TAGS))
        await ld.both(("events", EVENTS_MESSAGES, ws, lo, mid), ("events", EVENTS_MESSAGES, ws, mid + 1, hi))
        # Rebuild indexes biggest first, two at a time.
        order = sorted(indexes, key=lambda r: ("gin" not in r[2], r[0] not in ("events", "messages")))
        queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        for row in order:
            queue.put_nowait((row[0], row[1], row[2]))

        async def builder() -> None:
            while not queue.empty():
                table, _, ddl = queue.get_nowait()
                await ld.run(f"index {table}", ddl)

        await asyncio.gather(builder(), builder())
        await asyncio.gather(*(ld.run("vacuum analyze", f"VACUUM (ANALYZE) {t}") for t in BULK_TABLES))
        async with pool.acquire() as conn:
            for table in ("organizations", "contacts", "tickets"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            await conn.execute(f"SELECT setval('ticket_number_ws_{int(ws)}', $1)", n)
            await conn.execute("UPDATE workspaces SET ticket_seq = $2 WHERE id = $1", ws, n)
            await conn.execute("DROP TABLE bench_sentences, bench_subjects")
            counts = {
                t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE workspace_id = $1", ws)
                for t in ("tickets", "messages", "events", "ticket_tags", "contacts")
            }
    finally:
        await pool.close()
    return {"rows": counts, "phases": ld.phases}
