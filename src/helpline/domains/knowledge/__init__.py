"""Knowledge base, help centre, search, deflection and the answer bot (issue 6).

The API other domains call (the chat widget among them) is two functions, re-exported here:

- :func:`suggest` ``(platform, workspace_id, text, *, locale="en", customer=True, limit=5,
  visit="", source="")`` → ``{"articles": [{id, title, url, excerpt, score}], "mode"}``: published articles
  for ``text``; with ``customer=True`` (the default, for anything a customer sees) public ones only.
  With a ``source`` the suggestions are recorded for the insights page (``deflection.suggest``).
- :func:`answer` ``(conn, workspace_id, text, locale="en")`` → ``{answer, article, confidence}`` or
  ``None`` when the bot is not confident enough (hand over to a human).
"""

from __future__ import annotations

from helpline.domains.knowledge.bot import answer
from helpline.domains.knowledge.deflection import suggest

__all__ = ["answer", "suggest"]
