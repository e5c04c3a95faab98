"""Writes of the knowledge base. ``check_*`` validate and authorize, ``do_*`` write.

Who may do what: admins and agents write articles and categories, save versions, submit for review
and restore; **only admins publish or unpublish** (the review step); light agents and customers
write nothing here. Every save is a new version; customers keep reading the published version until
an admin publishes a newer one.

The search index holds each translation's *published* text only (``index.index_translations``), so
only what changes that text rewrites (and, with the ``ai`` extra, re-embeds) a translation's search
rows, in the same transaction: publishing it, unpublishing it, deleting the article. Saving a version
changes no published text and rewrites nothing; neither does a change of visibility, section, tags or
related articles, which the index does not store (search joins ``kb_articles`` for visibility, and
the in-memory corpus reloads when ``kb_articles.updated_at`` changes).

- ``_common``: table handles, ``ArticleInput`` and its checks, ``check_writer`` / ``check_publisher``
- ``_articles``: categories, articles (create, update, delete), files
- ``_versions``: ``do_save_translation``, ``do_set_state`` (review, publish, unpublish), ``do_restore``
"""

from helpline.domains.knowledge.service._articles import (
    do_add_file,
    do_create_article,
    do_create_category,
    do_delete_article,
    do_update_article,
)
from helpline.domains.knowledge.service._common import (
    LOCALE,
    MAX_BODY,
    ArticleInput,
    check_publisher,
    check_writer,
)
from helpline.domains.knowledge.service._versions import do_restore, do_save_translation, do_set_state

__all__ = [
    "LOCALE",
    "MAX_BODY",
    "ArticleInput",
    "check_publisher",
    "check_writer",
    "do_add_file",
    "do_create_article",
    "do_create_category",
    "do_delete_article",
    "do_restore",
    "do_save_translation",
    "do_set_state",
    "do_update_article",
]
