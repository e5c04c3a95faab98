"""The channels this program runs, and how start-up puts them in place.

``app.create_app`` mounts their routes (:func:`api_routers`, :func:`page_routers`) and body limits,
and installs their ports on the platform (:func:`install`); its lifespan (embedded mode) and
``helpline worker`` start their runtimes (:func:`runtimes`). Importing this module imports every
channel's job modules, which registers their handlers.

To add a channel: write its package under ``domains/channels/`` with a ``channel.py`` that builds a
``base.Channel``, and add it to :data:`CHANNELS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter

from helpline.domains.channels.base import Channel, Runtime
from helpline.domains.channels.chat.channel import CHANNEL as CHAT
from helpline.domains.channels.email.channel import CHANNEL as EMAIL
from helpline.domains.tickets import channel_port

if TYPE_CHECKING:
    import re

    from helpline.platform.runtime import Platform
    from helpline.settings import Settings

#: In the order they are asked to take a staff message: a live chat takes its lines before the
#: email thread the chat may have been handed to when it ended.
CHANNELS: tuple[Channel, ...] = (CHAT, EMAIL)


def api_routers(channels: Sequence[Channel] = CHANNELS) -> list[APIRouter]:
    return [r for c in channels for r in c.api_routers]


def page_routers(channels: Sequence[Channel] = CHANNELS) -> list[APIRouter]:
    return [r for c in channels for r in c.page_routers]


def body_limits(
    settings: Settings, prefix: str, channels: Sequence[Channel] = CHANNELS
) -> list[tuple[re.Pattern[str], int]]:
    return [limit for c in channels if c.body_limits for limit in c.body_limits(settings, prefix)]


def install(platform: Platform, channels: Sequence[Channel] = CHANNELS) -> None:
    """Put each channel's port in the registry of ``platform``'s database, in order (again: the
    same channels, replaced where they stand)."""
    registry = channel_port.registry_of(platform.db)
    for channel in channels:
        registry.register(channel.port(platform))


def runtimes(platform: Platform, channels: Sequence[Channel] = CHANNELS) -> list[Runtime]:
    """What the channels run beside the server or in the worker (not started yet)."""
    return [c.runtime(platform) for c in channels if c.runtime is not None]
