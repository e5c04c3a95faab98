"""Bulk load of the benchmark data into SQLite (used by ``bench/seed.py``).

Rows are generated in Python with the same shape as on PostgreSQL (statuses, priorities, channels,
1 to 3 messages of Zipf-distributed words per ticket, events, tags) and written with ``executemany``
inside one transaction; the FTS5 index is then filled with one ``INSERT … SELECT``.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import TAGS, contact_email, contact_name, contact_org, sentence_pool, subject_pool

STATUSES = ["new"] * 1 + ["open"] * 10 + ["pending"] * 5 + ["on-hold"] * 2 + ["solved"] * 22 + ["closed"] * 60
PRIORITIES = ["low"] * 20 + ["normal"] * 55 + ["high"] * 18 + ["urgent"] * 7
CHANNELS = ["email"] * 10 + ["web"] * 4 + ["api"] * 2 + ["chat"] * 2 + ["phone"] + ["whatsapp"]
TYPES = ["question", "incident", "problem", "task", "complaint", None]


FTS = """INSERT INTO ticket_fts (rowid, public_text, private_text)
SELECT t.id, t.subject || ' ' || coalesce(group_concat(CASE WHEN m.public THEN m.body_text END, ' '), ''),
       coalesce(group_concat(CASE WHEN NOT m.public THEN m.body_text END, ' '), '')
FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id WHERE t.workspace_id = ? GROUP BY t.id"""


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: Path, ids: dict[str, Any], n: int, n_contacts: int, n_orgs: int) -> dict[str, Any]:
    rng = random.Random(1)
    ws, admin, agents, groups = ids["workspace_id"], ids["admin_id"], ids["agent_ids"], ids["group_ids"]
    sentences, subjects = sentence_pool(100_000), subject_pool(20_000)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF;"
        "PRAGMA cache_size=-262144; BEGIN"
    )
    nid = {
        t: db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0]
        for t in ("organizations", "contacts", "tickets", "messages")
    }
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = _ts(now)
    o0, c0, t0 = nid["organizations"], nid["contacts"], nid["tickets"]
    db.executemany(
        "INSERT INTO organizations (id, workspace_id, name, notes, tags, attributes,"
        " shared_tickets, created_at, updated_at) VALUES (?, ?, ?, '', '[]', '{}', ?, ?, ?)",
        [(o0 + j, ws, f"Organization {j}", j % 5 == 0, stamp, stamp) for j in range(n_orgs)],
    )
    db.executemany(
        "INSERT INTO organization_domains (workspace_id, organization_id, domain) VALUES (?, ?, ?)",
        [(ws, o0 + j, f"org{j}.example.com") for j in range(n_orgs)],
    )

    def org(i: int) -> int | None:
        j = contact_org(i, n_orgs)
        return None if j is None else o0 + j

    db.executemany(
        "INSERT INTO contacts (id, workspace_id, name, organization_id, notes, tags, attributes,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, '', '[]', '{}', ?, ?)",
        [(c0 + i, ws, contact_name(i), org(i), stamp, stamp) for i in range(n_contacts)],
    )
    db.executemany(
        "INSERT INTO contact_identities (workspace_id, contact_id, kind, value, is_primary)"
        " VALUES (?, ?, 'email', ?, 1)",
        [(ws, c0 + i, contact_email(i, n_orgs)) for i in range(n_contacts)],
    )
    start = now - timedelta(days=730)
    tickets, messages, events, tags = [], [], [], []
    mid = nid["messages"]
    for g in range(1, n + 1):
        tid, r = t0 + g - 1, rng.randrange(n_contacts)
        status = rng.choice(STATUSES)
        created = start + timedelta(seconds=g * 730 * 86400 / n)
        updated = min(created + timedelta(days=10 * rng.random()), now) if status != "new" else created
        assignee = agents[g % len(agents)] if status != "new" else None
        group = groups[(g // 7) % len(groups)] if rng.random() < 0.85 else None
        channel, priority = rng.choice(CHANNELS), rng.choice(PRIORITIES)
        subject = subjects[rng.randrange(len(subjects))]
        solved = _ts(updated) if status in ("solved", "closed") else None
        tickets.append(
            (
                tid,
                ws,
                g,
                subject,
                status,
                priority,
                rng.choice(TYPES),
                channel,
                c0 + r,
                org(r),
                assignee,
                group,
                g % 4 + 1,
                _ts(created),
                _ts(updated),
                solved,
            )
        )
        events.append(
            (
                ws,
                tid,
                "created",
                None,
                None,
                json.dumps(
                    {
                        "number": g,
                        "subject": subject,
                        "status": "new",
                        "priority": priority,
                        "channel": channel,
                        "requester_id": c0 + r,
                        "assignee_id": None,
                        "group_id": None,
                        "tags": [],
                    }
                ),
                None,
                "system",
                _ts(created),
            )
        )
        if solved:
            events.append(
                (ws, tid, "field_changed", "status", '"open"', json.dumps(status), assignee, "agent", solved)
            )
        for k in range(1, 2 + tid % 3):
            note = k == 3 and rng.random() < 0.5
            kind = "agent" if k == 2 or note else "customer"
            body = " ".join(sentences[rng.randrange(len(sentences))] for _ in range(rng.choice((2, 3))))
            at = _ts(created + timedelta(hours=3 * (k - 1)))
            uid = (assignee or admin) if kind == "agent" else None
            messages.append(
                (
                    mid,
                    ws,
                    tid,
                    not note,
                    kind,
                    uid,
                    None if uid else c0 + r,
                    channel,
                    body,
                    f"<p>{body}</p>",
                    at,
                )
            )
            events.append(
                (
                    ws,
                    tid,
                    "message_added",
                    None,
                    None,
                    json.dumps({"message_id": mid, "public": not note}),
                    uid,
                    kind,
                    at,
                )
            )
            mid += 1
        picked = {TAGS[int(len(TAGS) ** rng.random()) - 1] for _ in range(tid % 4)}
        tags.extend((tid, t, ws) for t in picked)
    db.executemany(
        "INSERT INTO tickets (id, workspace_id, number, subject, status, priority, type, channel,"
        " requester_id, organization_id, assignee_id, group_id, custom, version, created_at,"
        " updated_at, solved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?)",
        tickets,
    )
    db.executemany(
        "INSERT INTO messages (id, workspace_id, ticket_id, public, author_kind, author_user_id,"
        " author_contact_id, channel, body_text, body_html, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        messages,
    )
    db.executemany(
        "INSERT INTO events (workspace_id, ticket_id, kind, field, old, new, actor_user_id,"
        " actor_kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    db.executemany("INSERT INTO ticket_tags (ticket_id, tag, workspace_id) VALUES (?, ?, ?)", tags)
    db.execute(FTS, (ws,))
    db.execute("UPDATE workspaces SET ticket_seq = ? WHERE id = ?", (n, ws))
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {
        "rows": {
            "tickets": len(tickets),
            "messages": len(messages),
            "events": len(events),
            "ticket_tags": len(tags),
            "contacts": n_contacts,
        }
    }
