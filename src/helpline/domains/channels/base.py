"""What a channel is: one adapter between the outside world and the tickets domain.

A :class:`Channel` brings everything of its own, and ``startup.py`` puts the installed ones in place
at start-up (``helpline serve`` through ``app.create_app``, and ``helpline worker``):

- ``port``: builds its ``tickets.channel_port.ChannelPort`` for a platform (what it does when staff
  write on a ticket it holds, and what it adds to the ticket page);
- ``api_routers`` (under ``/api/v1``) and ``page_routers`` (pages, widgets, webhooks, sockets);
- ``jobs``: the modules whose ``@job_handler`` functions it runs (imported, they are registered);
- ``runtime``: what runs beside the server or in the worker (email: the SMTP receiver, IMAP fetchers);
- ``body_limits``: request body limits of its own routes (email: the raw-MIME webhook).

Its page templates live in its own ``templates/`` (every domain's are on the template path).
Inbound, a channel writes through the tickets domain (``tickets.inbound`` / ``tickets.service``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from fastapi import APIRouter

from helpline.domains.tickets.channel_port import ChannelPort

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform
    from helpline.settings import Settings


class Runtime(Protocol):
    """Something a channel runs for as long as the process serves (started once, stopped once)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


BodyLimits = Callable[["Settings", str], list[tuple[re.Pattern[str], int]]]


@dataclass(frozen=True)
class Channel:
    """One channel: see the module's docstring for each part."""

    name: str
    port: Callable[[Platform], ChannelPort]
    api_routers: Sequence[APIRouter] = ()
    page_routers: Sequence[APIRouter] = ()
    jobs: Sequence[ModuleType] = ()
    runtime: Callable[[Platform], Runtime] | None = None
    body_limits: BodyLimits | None = None
