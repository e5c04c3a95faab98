"""Permission-checked reads of tickets, their messages, attachments and history.

Every function here takes the acting principal and scopes by workspace and by the actor's rights;
a ticket the actor may not see is reported exactly like one that does not exist.

A package of private modules; import from here."""

from __future__ import annotations

from helpline.domains.tickets.queries._conversation import (
    access_attachment,
    list_events,
    list_messages,
    tag_counts,
)
from helpline.domains.tickets.queries._detail import (
    _PG_EXTRAS,
    _SQLITE_EXTRAS,
    _extra,
    _links_view,
    _list_value,
    access_ticket,
    detail_extras,
    remember_detail,
    tags_of,
)
from helpline.domains.tickets.queries._listing import (
    _FILTER_KEYS,
    _PG_COMMON_WORDS,
    _SIMPLE_TAG,
    _TIME_FILTERS,
    SORTS,
    _build_list,
    _order_on,
    _pg_common_words,
    _sort_order,
    _sqlite_common_tag,
    _two_plans,
    decode_cursor,
    encode_cursor,
    keyset,
    list_tickets,
    tags_sort_like_db,
)
from helpline.domains.tickets.queries._tables import (
    TICKET_COLUMNS,
    attachments,
    ccs,
    events,
    followers,
    links,
    messages,
    tags,
    tickets,
)
from helpline.domains.tickets.queries._visibility import (
    _STATEMENTS,
    _actor_kind,
    _statement,
    _visible_params,
    _visible_template,
    visible,
    visible_row,
)

__all__ = [
    "SORTS",
    "TICKET_COLUMNS",
    "_FILTER_KEYS",
    "_PG_COMMON_WORDS",
    "_PG_EXTRAS",
    "_SIMPLE_TAG",
    "_SQLITE_EXTRAS",
    "_STATEMENTS",
    "_TIME_FILTERS",
    "_actor_kind",
    "_build_list",
    "_extra",
    "_links_view",
    "_list_value",
    "_order_on",
    "_pg_common_words",
    "_sort_order",
    "_sqlite_common_tag",
    "_statement",
    "_two_plans",
    "_visible_params",
    "_visible_template",
    "access_attachment",
    "access_ticket",
    "attachments",
    "ccs",
    "decode_cursor",
    "detail_extras",
    "encode_cursor",
    "events",
    "followers",
    "keyset",
    "links",
    "list_events",
    "list_messages",
    "list_tickets",
    "messages",
    "remember_detail",
    "tag_counts",
    "tags",
    "tags_of",
    "tags_sort_like_db",
    "tickets",
    "visible",
    "visible_row",
]
