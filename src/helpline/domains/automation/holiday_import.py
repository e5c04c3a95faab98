"""Public holidays from the ``holidays`` package, for a schedule: an explicit, previewed import.

The admin previews a country's (and optionally a subdivision's) days for up to :data:`MAX_YEARS`
years, switches off the ones the team works on, and imports: :func:`merge` appends the days to the
schedule's holidays with ``source: "holidays:DE-BY"``. Days switched off are kept with
``enabled: false`` so the choice stays visible, and a day already present from the same source is
never added twice (importing again changes nothing). Pure apart from the package's tables.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import holidays

from helpline.db.base import utcnow
from helpline.errors import Invalid

MAX_YEARS = 3
YEAR_SPAN = 5  # years before and after the current one


@cache
def countries() -> dict[str, tuple[str, ...]]:
    """Two-letter country codes -> their subdivision codes."""
    return {
        code: tuple(subdivs)
        for code, subdivs in sorted(holidays.list_supported_countries().items())
        if len(code) == 2 and code.isalpha()
    }


def check_years(years: list[int]) -> list[int]:
    now = utcnow().year
    if not years:
        raise Invalid("year", "choose a year")
    if len(set(years)) > MAX_YEARS:
        raise Invalid("year", f"at most {MAX_YEARS} years at a time")
    for y in years:
        if not now - YEAR_SPAN <= y <= now + YEAR_SPAN:
            raise Invalid("year", f"a year from {now - YEAR_SPAN} to {now + YEAR_SPAN}")
    return sorted(set(years))


def source_of(country: str, subdiv: str | None) -> str:
    return f"holidays:{country}-{subdiv}" if subdiv else f"holidays:{country}"


def preview(country: str, subdiv: str | None, years: list[int]) -> list[dict[str, str]]:
    """The public holidays of ``country`` (``subdiv``) in ``years``: ``[{"date", "name"}]`` by date,
    names in English where the package has them. Several holidays on one day are one entry."""
    code = country.strip().upper()
    known = countries()
    if code not in known:
        raise Invalid("country", f"no holidays known for {country!r}; known: {', '.join(known)}")
    sub = (subdiv or "").strip() or None
    if sub is not None:
        match = next((s for s in known[code] if s.upper() == sub.upper()), None)
        if match is None:
            listed = ", ".join(known[code]) or "none (leave it empty)"
            raise Invalid("subdiv", f"{code} has no subdivision {subdiv!r}; known: {listed}")
        sub = match
    chosen = check_years(years)
    cls = holidays.country_holidays(code, subdiv=sub)
    language = "en_US" if "en_US" in (cls.supported_languages or ()) else None
    table = holidays.country_holidays(code, subdiv=sub, years=chosen, language=language)
    by_day: dict[date, list[str]] = {}
    for day, name in sorted(table.items()):
        by_day.setdefault(day, []).extend(n.strip() for n in str(name).split(";") if n.strip())
    return [{"date": d.isoformat(), "name": "; ".join(dict.fromkeys(names))} for d, names in by_day.items()]


def merge(
    current: list[dict[str, Any]], days: list[dict[str, str]], *, source: str, off: set[str]
) -> tuple[list[dict[str, Any]], int]:
    """``current`` holidays with ``days`` (from :func:`preview`) appended as one-day holidays of
    ``source``, those in ``off`` (dates) disabled; days already there from ``source`` are skipped.
    Returns the new list and how many were added."""
    present = {h.get("start") for h in current if h.get("source") == source}
    added = [
        {
            "name": d["name"][:200],
            "start": d["date"],
            "end": d["date"],  # holidays are inclusive: a one-day holiday ends on its own date
            "enabled": d["date"] not in off,
            "source": source,
        }
        for d in days
        if d["date"] not in present
    ]
    return [*current, *added], len(added)


def subdiv_of(country: str, subdiv: str | None) -> str | None:
    """The subdivision's code as the package spells it (:func:`preview` has checked it exists)."""
    if not subdiv or not subdiv.strip():
        return None
    known = countries().get(country.strip().upper(), ())
    return next((s for s in known if s.upper() == subdiv.strip().upper()), subdiv.strip())


def offer(country: str, subdiv: str | None, years: list[int]) -> dict[str, Any]:
    """What an import of ``country``/``subdiv``/``years`` would add: the days, and the ``source`` they
    would carry (the preview the API and the schedule page show)."""
    days = preview(country, subdiv, years)
    code, sub = country.strip().upper(), subdiv_of(country, subdiv)
    return {
        "country": code,
        "subdiv": sub,
        "source": source_of(code, sub),
        "years": sorted(set(years)),
        "days": days,
    }
