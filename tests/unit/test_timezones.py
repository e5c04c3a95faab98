"""Local times: IANA names checked, daylight saving from zoneinfo, the machine-readable UTC form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpline import timezones
from helpline.errors import Invalid


def test_daylight_saving_is_the_zones_own() -> None:
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert timezones.text(summer, "Europe/Berlin") == "2026-07-01 14:00 CEST"
    assert timezones.text(winter, "Europe/Berlin") == "2026-01-15 13:00 CET"
    assert timezones.text(summer, "America/New_York") == "2026-07-01 08:00 EDT"
    assert timezones.text(winter, "America/New_York") == "2026-01-15 07:00 EST"
    # The night the clocks go back in Berlin: two different instants, one wall-clock hour apart.
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert timezones.text(before, "Europe/Berlin") == "2026-10-25 02:30 CEST"
    assert timezones.text(after, "Europe/Berlin") == "2026-10-25 02:30 CET"
    assert timezones.text(winter, None) == "2026-01-15 12:00 UTC"
    assert timezones.text(winter, "Europe/Berlin", "%Y-%m-%d") == "2026-01-15"
    assert timezones.utc_iso(winter) == "2026-01-15T12:00:00Z"


def test_only_iana_names_are_time_zones() -> None:
    assert timezones.check(" Europe/Paris ") == "Europe/Paris"
    assert timezones.check("UTC") == "UTC"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "europe/paris"):
        with pytest.raises(Invalid) as exc:
            timezones.check(bad)
        assert exc.value.errors[0]["field"] == "timezone"
    assert str(timezones.zone("Nowhere/At_All")) == "UTC"
