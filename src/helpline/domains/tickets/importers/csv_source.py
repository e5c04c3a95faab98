"""A CSV export with one ticket per row, in the columns of the shared sample
``customer_support_tickets.csv`` (docs/import.md has the mapping).

Its times carry no offset: they are read in the time zone given (``--timezone``), and without one
the file is refused as a whole rather than guessed at.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from helpline.domains.tickets.importers import ExportError

REQUIRED = (
    "Ticket ID",
    "Customer Name",
    "Customer Email",
    "Date of Purchase",
    "Ticket Subject",
    "Ticket Description",
    "Ticket Status",
    "Ticket Priority",
    "Ticket Channel",
)
STATUS = {"open": "open", "pending customer response": "pending", "closed": "closed"}
PRIORITY = {"low": "low", "medium": "normal", "high": "high", "critical": "urgent"}
CHANNEL = {"email": "email", "chat": "chat", "phone": "phone", "social media": "social"}
TYPE = {
    "technical issue": "incident",
    "product inquiry": "question",
    "billing inquiry": "question",
    "refund request": "task",
    "cancellation request": "task",
}
#: The agent's first reply when the row has its time but no text.
NO_TEXT = "(The export has this reply's time but not its text.)"


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:80]


def _when(value: str, tz: ZoneInfo | None, column: str) -> str:
    """An RFC 3339 time from a cell (a date is its midnight); unreadable: the cell as it is, so the
    import refuses the row naming the field."""
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        if tz is None:
            raise ExportError(
                f"{column} has times without a time zone ({value!r}): pass --timezone, e.g. --timezone UTC"
            )
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()


def _item(row: dict[str, str], tz: ZoneInfo | None) -> dict[str, Any]:
    status_raw = row["Ticket Status"].strip()
    status = STATUS.get(status_raw.lower(), status_raw)
    channel_raw = row["Ticket Channel"].strip()
    channel = CHANNEL.get(channel_raw.lower(), channel_raw)
    created = _when(row["Date of Purchase"], tz, "Date of Purchase")
    first = _when(row.get("First Response Time") or "", tz, "First Response Time") or None
    resolved = _when(row.get("Time to Resolution") or "", tz, "Time to Resolution") or None
    product = (row.get("Product Purchased") or "").strip()
    text = row["Ticket Description"].replace("{product_purchased}", product or "product")
    messages: list[dict[str, Any]] = [
        {"author_kind": "customer", "created_at": created, "channel": channel, "body_text": text}
    ]
    resolution = (row.get("Resolution") or "").strip()
    if first:
        messages.append(
            {
                "author_kind": "agent",
                "created_at": first,
                "channel": channel,
                "body_text": resolution or NO_TEXT,
            }
        )
    changes: list[dict[str, Any]] = []
    if status == "open":
        changes.append({"at": first or created, "status": "open"})
    elif status == "pending":
        changes.append({"at": first or created, "status": "pending"})
    elif status == "closed":
        # Closed when resolved; never before the reply it was resolved with (some rows say so).
        at = max((t for t in (resolved, first) if t), default=created, key=_sortable)
        changes.append({"at": at, "status": "closed"})
    kind = row.get("Ticket Type", "").strip()
    return {
        "source_id": row["Ticket ID"].strip(),
        "subject": row["Ticket Subject"].strip(),
        "created_at": created,
        "status": status,
        "priority": PRIORITY.get(row["Ticket Priority"].strip().lower(), row["Ticket Priority"].strip()),
        "type": TYPE.get(kind.lower()),
        "channel": channel,
        "requester": {"email": row["Customer Email"].strip(), "name": row["Customer Name"].strip()},
        "tags": [_slug(kind)] if _slug(kind) else [],
        "messages": messages,
        "status_changes": changes,
    }


def _sortable(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return datetime.min.replace(tzinfo=ZoneInfo("UTC"))


def read(path: Path, *, timezone: ZoneInfo | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The file's tickets as import items, in file order (at most ``limit``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise ExportError(f"not a ticket CSV: it lacks the column(s) {', '.join(missing)}")
            items: list[dict[str, Any]] = []
            for row in _rows(reader):
                if limit is not None and len(items) >= limit:
                    break
                items.append(_item(row, timezone))
            return items
    except UnicodeDecodeError as exc:
        raise ExportError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ExportError(f"not a readable CSV: {exc}") from None


def _rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    for row in reader:
        yield {k: (v or "") for k, v in row.items() if k is not None}
