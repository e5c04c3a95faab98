"""The DDL of revision 0001 (the initial schema), split by what it creates; the revision file in
``versions/`` calls these in order."""

from helpline.db.migrations.initial._base import create_base_tables
from helpline.db.migrations.initial._drop import drop_tables
from helpline.db.migrations.initial._people import create_people_tables
from helpline.db.migrations.initial._search import create_search_and_guards, drop_search_and_guards
from helpline.db.migrations.initial._tickets import create_ticket_tables

__all__ = [
    "create_base_tables",
    "create_people_tables",
    "create_search_and_guards",
    "create_ticket_tables",
    "drop_search_and_guards",
    "drop_tables",
]
