"""Channels: how conversations arrive and leave. Each is an adapter behind one interface
(``base.Channel``, with the tickets domain's ``tickets.channel_port.ChannelPort``): email and chat
today, an in-memory twin for tests (``memory.py``); ``startup.py`` lists the installed ones and
puts them in place. See docs/architecture.md, "Channels"."""
