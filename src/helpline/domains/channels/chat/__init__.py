"""The live chat channel: widgets, visitors, chat sessions, and the real-time layer (WebSockets with a
long-poll fallback) over the platform's pub/sub seam. See docs/chat.md and docs/adr/0009-realtime.md."""
