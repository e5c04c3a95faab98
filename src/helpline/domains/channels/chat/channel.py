"""The chat channel as the app installs it (``channels.startup``): see ``channels/base.py``."""

from __future__ import annotations

from helpline.domains.channels.base import Channel
from helpline.domains.channels.chat import jobs, views, ws
from helpline.domains.channels.chat.adapter import ChatAdapter
from helpline.domains.channels.chat.api import public
from helpline.domains.channels.chat.api import router as api_router

CHANNEL = Channel(
    name="chat",
    port=ChatAdapter,
    api_routers=(api_router,),  # /api/v1/chat/widgets
    page_routers=(views.router, public, ws.router),  # console /chats, the widget's /chat/*, sockets
    jobs=(jobs,),  # chat.transcript
)
