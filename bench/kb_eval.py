"""Knowledge-base search and answer bot measured on real questions (BANKING77), one JSON line per figure.

The knowledge base has one article per intent (77), written from the intent's name and 60 % of its
questions ("Customers ask: …"); per intent, 10 % of the questions are a development split (used only
to choose the fusion weight printed as ``tuning``) and 30 % are held out and never seen by the
articles: top-1 / top-3 are measured on those, for lexical only, semantic only and fused, through the
real ``knowledge.search.search`` on a real database. Then the answer bot's precision against its
coverage at several confidence thresholds. Then 9,923 more articles (texts of the synthetic support
tickets in ../shared/data/load) make 10,000, and search latency (p50/p95) and accuracy are measured
again.

    .venv/bin/python bench/kb_eval.py [--database-url URL] [--skip-10k] [--limit N]

Needs ../shared/data/intent/banking77_train.csv; semantic figures need the ``ai`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402

from helpline.db.base import utcnow  # noqa: E402
from helpline.db.migrate import upgrade  # noqa: E402
from helpline.domains.accounts import service as accounts  # noqa: E402
from helpline.domains.accounts.models import Role  # noqa: E402
from helpline.domains.accounts.principal import Principal  # noqa: E402
from helpline.domains.knowledge import bot, embed, index, search  # noqa: E402
from helpline.domains.knowledge import service as kb  # noqa: E402
from helpline.platform.runtime import build_platform  # noqa: E402
from helpline.settings import Settings  # noqa: E402

SEED = 7
ARTICLE_SHARE, DEV_SHARE = 0.6, 0.1


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def split() -> tuple[dict[str, list[str]], list[tuple[str, str]], list[tuple[str, str]]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "intent" / "banking77_train.csv", newline="") as f:
        for row in csv.DictReader(f):
            by_intent[row["category"]].append(row["text"].strip())
    rng = random.Random(SEED)
    in_article: dict[str, list[str]] = {}
    dev: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for intent, texts in sorted(by_intent.items()):
        texts = sorted(set(texts))
        rng.shuffle(texts)
        a = round(len(texts) * ARTICLE_SHARE)
        d = a + round(len(texts) * DEV_SHARE)
        in_article[intent] = texts[:a]
        dev += [(t, intent) for t in texts[a:d]]
        test += [(t, intent) for t in texts[d:]]
    return in_article, dev, test


def title_of(intent: str) -> str:
    words = intent.replace("_", " ").strip()
    return words[0].upper() + words[1:]


def body_of(intent: str, questions: list[str]) -> str:
    lines = "\n".join(f"- {q}" for q in questions)
    return f"Help with {title_of(intent).lower()}.\n\nCustomers ask:\n\n{lines}\n"


async def build(url: str, in_article: dict[str, list[str]]) -> tuple[Any, int, Principal, dict[int, str]]:
    platform = build_platform(
        Settings(database_url=url, secret_key="bench-secret-key-0123456789", var_dir=Path(tempfile.mkdtemp()))
    )
    async with platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Bank", f"bank-{uuid.uuid4().hex[:8]}")
        uid = await accounts.create_user(
            uow,
            ws,
            email=f"admin-{uuid.uuid4().hex[:6]}@bank.test",
            role=Role.admin,
            name="Admin",
            password=None,
            group_names=[],
        )
    admin = Principal(user_id=uid, workspace_id=ws, role=Role.admin, email="admin@bank.test", name="Admin")
    article_intent: dict[int, str] = {}
    started = time.perf_counter()
    for intent, questions in in_article.items():
        async with platform.db.transaction() as uow:
            aid = await kb.do_create_article(
                uow, admin, kb.ArticleInput(title_of(intent), body_of(intent, questions))
            )
            await kb.do_set_state(uow, admin, aid, "en", "published")
        article_intent[aid] = intent
    emit(
        figure="kb_build",
        articles=len(article_intent),
        seconds=round(time.perf_counter() - started, 1),
        semantic=embed.unavailable() or "on",
    )
    return platform, ws, admin, article_intent


def rank_of(hits: list[int], want: set[int]) -> int | None:
    for i, h in enumerate(hits):
        if h in want:
            return i
    return None


async def accuracy(
    platform: Any,
    ws: int,
    questions: list[tuple[str, str]],
    article_intent: dict[int, str],
    modes: list[str],
    label: str,
) -> dict[str, Any]:
    want_of: dict[str, set[int]] = defaultdict(set)
    for aid, intent in article_intent.items():
        want_of[intent].add(aid)
    out: dict[str, Any] = {}
    for mode in modes:
        top1 = top3 = 0
        times: list[float] = []
        cpu: list[float] = []
        confs: list[tuple[float, bool]] = []
        async with platform.db.read() as conn:
            await search.search(conn, ws, "warm up", mode=mode)
            for q, intent in questions:
                t0, c0 = time.perf_counter(), time.process_time()
                result = await search.search(conn, ws, q, mode=mode, limit=10)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                r = rank_of([h.article_id for h in result.hits], want_of[intent])
                top1 += r == 0
                top3 += r is not None and r < 3
                confs.append((bot.confidence(result), r == 0))
        n = len(questions)
        times.sort()
        cpu.sort()
        emit(
            figure="kb_accuracy",
            kb=label,
            mode=mode,
            questions=n,
            top1=round(100 * top1 / n, 2),
            top3=round(100 * top3 / n, 2),
            p50_ms=round(statistics.median(times), 2),
            p95_ms=round(times[int(0.95 * (n - 1))], 2),
            cpu_p50_ms=round(statistics.median(cpu), 2),
            cpu_p95_ms=round(cpu[int(0.95 * (n - 1))], 2),
            load=round(os.getloadavg()[0], 1),
            mode_used=result.mode,
        )
        out[mode] = confs
    return out


def bot_curve(confs: list[tuple[float, bool]], mode: str, label: str) -> None:
    n = len(confs)
    for t in (0.0, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        answered = [ok for c, ok in confs if c >= t]
        emit(
            figure="kb_bot",
            kb=label,
            mode=mode,
            threshold=t,
            coverage=round(100 * len(answered) / n, 2),
            precision=round(100 * sum(answered) / max(len(answered), 1), 2),
        )


async def tune(platform: Any, ws: int, dev: list[tuple[str, str]], article_intent: dict[int, str]) -> None:
    """Fused top-1 on the development split for several lexical weights (the code uses LEX_WEIGHT)."""
    if embed.unavailable():
        return
    tid_article: dict[int, int] = {}
    async with platform.db.read() as conn:
        for tid, aid in (
            await conn.execute(
                sa.text("SELECT id, article_id FROM kb_translations WHERE workspace_id = :w"), {"w": ws}
            )
        ).all():
            tid_article[tid] = aid
        corpus = await index.corpus(conn, ws)
        rows = []
        for q, intent in dev:
            terms = search.query_words(q)
            fixed = [corpus.vocabulary.correct(w) for w in terms]
            lex = await search.lexical(
                conn, ws, list(dict.fromkeys(terms + fixed)), customer=True, locale="en"
            )
            sem = corpus.semantic(q, customer=True, locale="en", k=search.CANDIDATES)
            rows.append((lex, sem, intent))
    for w in (0.0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.3, 0.5):
        ok = 0
        for lex, sem, intent in rows:
            best = max(lex.values(), default=0.0) or 1.0
            fused = {t: sem.get(t, 0.0) + w * lex.get(t, 0.0) / best for t in set(lex) | set(sem)}
            top = max(fused, key=fused.__getitem__) if fused else None
            ok += top is not None and article_intent.get(tid_article.get(top, -1)) == intent
        emit(
            figure="kb_tuning",
            split="dev",
            questions=len(rows),
            lex_weight=w,
            fused_top1=round(100 * ok / len(rows), 2),
            in_code=w == search.LEX_WEIGHT[platform.db.dialect],
        )


def filler(n: int) -> list[tuple[str, str]]:
    path = DATA / "load" / "customer_support_tickets.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        title = f"{r['Product Purchased']}: {r['Ticket Subject']} ({i})"
        body = f"{r['Ticket Description']}\n\n{r.get('Resolution') or ''}".replace(
            "{product_purchased}", r["Product Purchased"]
        )
        out.append((title, body))
    return out


async def grow(platform: Any, admin: Principal, n: int, start: int = 0) -> None:
    """Add filler articles ``start`` … ``n - 1`` (a run that was stopped can go on from where it was)."""
    started = time.perf_counter()
    texts = filler(n)
    for i in range(start, n, 250):
        async with platform.db.transaction() as uow:
            tids = []
            for title, body in texts[i : i + 250]:
                aid = await kb.do_create_article(uow, admin, kb.ArticleInput(title, body))
                tids.append(
                    (
                        await uow.execute(
                            sa.text("SELECT id FROM kb_translations WHERE article_id = :a"), {"a": aid}
                        )
                    ).scalar_one()
                )
            # Publish the batch at once (the service publishes one by one; the index is the same).
            await uow.execute(
                sa.text(
                    "UPDATE kb_translations SET state = 'published', published_at = :now, "
                    "published_version_id = (SELECT max(v.id) FROM kb_versions v "
                    "WHERE v.translation_id = kb_translations.id) "
                    "WHERE id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": tids, "now": utcnow()},
            )
            await index.index_translations(uow, tids)
    emit(
        figure="kb_build", articles=n - start, seconds=round(time.perf_counter() - started, 1), what="filler"
    )


async def measure_existing(url: str, test: list[tuple[str, str]], n: int, grow_to: int = 0) -> None:
    """Accuracy and latency again on the newest "Bank" workspace of ``url`` (articles mapped to intents
    by title), e.g. the 10,000-article one a full run built."""
    platform = build_platform(
        Settings(database_url=url, secret_key="bench-secret-key-0123456789", var_dir=Path(tempfile.mkdtemp()))
    )
    try:
        async with platform.db.read() as conn:
            ws = (
                await conn.execute(sa.text("SELECT max(id) FROM workspaces WHERE slug LIKE 'bank-%'"))
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.text("SELECT article_id, title FROM kb_translations WHERE workspace_id = :w"),
                    {"w": ws},
                )
            ).all()
            total = len(rows)
            uid = (
                await conn.execute(
                    sa.text("SELECT min(user_id) FROM memberships WHERE workspace_id = :w"), {"w": ws}
                )
            ).scalar_one()
        if total < grow_to:
            admin = Principal(
                user_id=uid, workspace_id=ws, role=Role.admin, email="admin@bank.test", name="Admin"
            )
            await grow(platform, admin, grow_to - 77, start=total - 77)
            total = grow_to
        by_title = {title_of(i): i for i in {intent for _, intent in test}}
        article_intent = {int(a): by_title[t] for a, t in rows if t in by_title}
        emit(figure="kb_existing", articles=total, intents=len(article_intent))
        modes = ["lexical"] + ([] if embed.unavailable() else ["semantic", "fused"])
        sample = random.Random(SEED + 1).sample(test, min(n, len(test)))
        confs = await accuracy(platform, ws, sample, article_intent, modes, str(total))
        for mode in ("lexical", "fused"):
            if mode in confs:
                bot_curve(confs[mode], mode, str(total))
    finally:
        await platform.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", default="")
    ap.add_argument("--skip-10k", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="use only this many held-out questions")
    ap.add_argument(
        "--measure-existing",
        action="store_true",
        help="measure again on the knowledge base a previous run left at --database-url",
    )
    args = ap.parse_args()
    if not (DATA / "intent" / "banking77_train.csv").exists():
        emit(figure="kb_eval", skipped=f"{DATA / 'intent'} is missing")
        return
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/kb.db"
    await asyncio.to_thread(upgrade, url)  # Alembic's env runs its own event loop
    in_article, dev, test = split()
    if args.measure_existing:
        await measure_existing(url, test, args.limit or 500, grow_to=0 if args.skip_10k else 10_000)
        return
    if args.limit:
        test = random.Random(SEED).sample(test, args.limit)
    emit(
        figure="kb_split",
        intents=len(in_article),
        in_articles=sum(map(len, in_article.values())),
        dev=len(dev),
        held_out=len(test),
        database=url.split(":")[0],
    )
    platform, ws, admin, article_intent = await build(url, in_article)
    try:
        await tune(platform, ws, dev, article_intent)
        modes = ["lexical"] + ([] if embed.unavailable() else ["semantic", "fused"])
        confs = await accuracy(platform, ws, test, article_intent, modes, "77")
        for mode in ("lexical", "fused"):
            if mode in confs:
                bot_curve(confs[mode], mode, "77")
        if not args.skip_10k:
            await grow(platform, admin, 10_000 - len(article_intent))
            sample = random.Random(SEED + 1).sample(test, min(500, len(test)))
            await accuracy(platform, ws, sample, article_intent, modes, "10000")
    finally:
        await platform.close()


if __name__ == "__main__":
    asyncio.run(main())
