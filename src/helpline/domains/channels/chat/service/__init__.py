"""Writes of the chat channel: starting a chat, messages from visitors and agents (numbered and
idempotent by client id), read receipts, agent status, auto-assignment within each agent's limit,
accept, transfer, end, the offline form. Events go out on the hub after commit."""

from helpline.domains.channels.chat.service._messages import (
    agent_send,
    read,
    store_upload,
    typing,
    visitor_send,
)
from helpline.domains.channels.chat.service._visitors import (
    Visitor,
    check_fields,
    refresh,
    resolve,
    start,
    token_of,
)

__all__ = [
    "Visitor",
    "agent_send",
    "check_fields",
    "read",
    "refresh",
    "resolve",
    "start",
    "store_upload",
    "token_of",
    "typing",
    "visitor_send",
]
