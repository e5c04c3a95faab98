"""Time zones people and workspaces choose (IANA names, checked with :mod:`zoneinfo`), and the one
way a stored UTC time becomes the local time a page shows (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from helpline.errors import Invalid

#: A stored time shown to a person: date and minutes, then the zone's abbreviation (CET, EST, UTC).
FORMAT = "%Y-%m-%d %H:%M %Z"


@cache
def names() -> tuple[str, ...]:
    """Every IANA time zone name this install knows, sorted (for the pickers)."""
    return tuple(sorted(available_timezones() | {"UTC"}))


def check(name: str, field: str = "timezone") -> str:
    """``name`` stripped if it is a time zone; :class:`Invalid` naming ``field`` otherwise."""
    tz = name.strip()
    if tz not in names():
        raise Invalid(field, f"{tz!r} is not a time zone; use a name such as Europe/Paris")
    return tz


@cache
def zone(name: str | None) -> ZoneInfo:
    """The zone called ``name``; UTC for none or a name this install does not know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: datetime, tz: str | None) -> datetime:
    """``value`` (aware, or naive UTC) in the zone ``tz``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz))


def text(value: datetime, tz: str | None, fmt: str = FORMAT) -> str:
    """``value`` as ``fmt`` (``%Z``: the zone's abbreviation, such as CEST) in ``tz``."""
    return local(value, tz).strftime(fmt)


def utc_iso(value: datetime) -> str:
    """The machine-readable form of ``value`` for ``<time datetime>``: UTC, ISO 8601, ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
