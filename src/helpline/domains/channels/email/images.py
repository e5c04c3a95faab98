"""Remote images in inbound mail: blocked when stored, shown to an agent who asks, per message.

A picture loaded from the internet tells its sender when, where and by whom the mail was read, so
stored HTML never loads one: its ``src`` becomes ``data-remote-src`` (the sanitizer has already run;
stored HTML is shown as it is, and the portal shows it with the image still blocked). On the ticket
page an agent may ask for one message's images; that response alone turns the attribute back into
``src`` and allows ``https:`` images in its Content-Security-Policy.
"""

from __future__ import annotations

import re

ATTRIBUTE = "data-remote-src"
_REMOTE_SRC = re.compile(r'(<img\b[^>]*?)\ssrc="((?:https?:)?//[^"]*)"', re.I)
_BLOCKED = re.compile(r'(<img\b[^>]*?)\sdata-remote-src="([^"]*)"', re.I)


def block(safe_html: str) -> str:
    """Sanitized HTML whose remote ``<img src>`` are kept as ``data-remote-src`` (not loaded)."""
    return _REMOTE_SRC.sub(lambda m: f'{m.group(1)} {ATTRIBUTE}="{m.group(2)}"', safe_html)


def has_blocked(stored_html: str) -> bool:
    return f'{ATTRIBUTE}="' in (stored_html or "")


def show(stored_html: str) -> str:
    """Stored HTML with its blocked images loaded again: only ``https`` ones (a plain ``http``
    picture on an ``https`` page would be blocked by the browser anyway, and leaks more)."""

    def unblock(m: re.Match[str]) -> str:
        url = m.group(2)
        if url.startswith("//"):
            url = "https:" + url
        if not url.lower().startswith("https://"):
            return m.group(0)
        return f'{m.group(1)} src="{url}"'

    return _BLOCKED.sub(unblock, stored_html or "")
