"""Shared pieces of the benchmarks: the synthetic corpus, the seeded people, URLs, JSON output.

The corpus is a few hundred support-desk words drawn with a Zipf distribution (the word of rank k
has weight 1/k), so the first words appear in nearly every ticket and the last ones in a few
percent; on top of that every tenth sentence carries one of thousands of made-up product codes,
which makes words that match only a handful of tickets.
"""

from __future__ import annotations

import json
import random
import sys
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/helpline_bench"
DEFAULT_SQLITE = f"sqlite:///{VAR / 'helpline_bench.db'}"

WORKSPACE_SLUG = "bench"
ADMIN_EMAIL = "admin@bench.example.com"
N_AGENTS = 20


def _w(text: str) -> list[str]:
    return text.split()


GROUPS = ["Billing", "Technical", "Sales", "Returns", "Shipping", "Accounts", "Enterprise", "Partners"]

WORDS = _w("""
order account payment refund invoice delivery password login error issue problem help update email
shipping package customer support subscription charge card billing price plan upgrade cancel return
product service website app phone number address tracking delay broken missing wrong damaged access
reset change request question information status confirmation receipt discount coupon code credit
balance transfer bank transaction failed pending approved declined verification identity document
upload download file attachment report export import settings profile notification message reply
agent manager team contract renewal trial license user admin permission role integration webhook
api token key limit quota storage backup restore sync device browser mobile desktop version release
feature bug crash slow timeout outage maintenance schedule appointment booking reservation ticket
warranty repair replacement exchange size color stock availability backorder preorder shipment
courier warehouse customs duty tax vat fee surcharge overcharge duplicate statement history usage
meter reading connection network wifi router modem signal coverage roaming sim activation port
migration onboarding training documentation guide tutorial video webinar demo feedback complaint
survey rating review escalation priority urgent deadline weekend holiday morning evening yesterday
today tomorrow week month year annual monthly weekly daily quarterly deposit checkout cart
basket wishlist gift voucher loyalty points reward membership tier premium basic standard business
enterprise partner reseller vendor supplier catalogue inventory label barcode scanner printer
monitor keyboard mouse laptop tablet charger battery cable adapter headset speaker camera screen
display resolution firmware driver installer setup configuration calendar reminder alert alarm
sensor thermostat heating cooling lights lock door gate parking location region country currency
rate conversion translation language accessibility font layout template theme logo
brand domain hosting server database query search filter sort page button form field checkbox
dropdown link redirect captcha cookie session logout signup registration unsubscribe newsletter
spam phishing fraud dispute chargeback compliance privacy gdpr consent deletion retention audit
""")

RARE_SYLLABLES = _w("ka lo mi nu pe ra si tu va xe zo qui bri dra fle glo pra tro vex zan")


def rare_words(n: int = 5000) -> list[str]:
    """Made-up product codes like ``kalomi42``: each matches a handful of tickets."""
    rng = random.Random(42)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        w = "".join(rng.choice(RARE_SYLLABLES) for _ in range(3)) + str(rng.randrange(10, 100))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


RARE = rare_words()
_CUM = list(accumulate(1.0 / (k + 1) for k in range(len(WORDS))))

TAGS = _w("""
billing bug vip refund shipping feature-request urgent-customer enterprise mobile api
onboarding churn-risk outage partner escalated gdpr hardware returns upsell duplicate
""")

FIRST = _w("Ana Ben Chloe David Emma Farid Grace Hugo Ines Jamal Kim Lena Marco Nina Omar Priya Quinn Rosa")
LAST = _w("Smith Garcia Chen Novak Okafor Rossi Tanaka Silva Muller Kowalski Dubois Haddad Ivanova Berg")


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(WORDS, cum_weights=_CUM, k=rng.randint(lo, hi)))


def sentence_pool(n: int, seed: int = 7) -> list[str]:
    """``n`` sentences of 6 to 14 Zipf words; every tenth ends with a rare product code."""
    rng = random.Random(seed)
    pool = []
    for i in range(n):
        s = sentence(rng, 6, 14)
        if i % 10 == 0:
            s += f" {RARE[(i // 10) % len(RARE)]}"
        pool.append(s + ".")
    return pool


def subject_pool(n: int, seed: int = 8) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, 3, 7).capitalize() for _ in range(n)]


def org_domain(j: int) -> str:
    return f"org{j}.example.com"


def contact_org(i: int, n_orgs: int) -> int | None:
    """Index of the organization of contact ``i`` (seven in ten belong to one)."""
    return i % n_orgs if i % 10 < 7 else None


def contact_email(i: int, n_orgs: int) -> str:
    j = contact_org(i, n_orgs)
    return f"customer{i}@{org_domain(j) if j is not None else 'mail.example.net'}"


def contact_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"


def async_url(url: str) -> str:
    """The SQLAlchemy async URL Helpline uses for ``url``."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def plain_pg_url(url: str) -> str:
    """``postgresql://…`` for asyncpg."""
    return "postgresql://" + url.split("://", 1)[1]


def sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def emit(**fields: Any) -> None:
    """One measured figure as a JSON line on stdout."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"[bench] {msg}\n")
    sys.stderr.flush()
