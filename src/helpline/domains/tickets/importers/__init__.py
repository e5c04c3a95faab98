"""Parsers of other help desks' export files into import items (the shape of
``tickets.schemas.ImportTicket``, as plain dicts): ``csv_source`` (a CSV with one ticket per row),
``zendesk`` (Zendesk's ticket export JSON or NDJSON). They only read and map: a value they cannot
map is passed on as it is, so that the import refuses that item naming the field
(``tickets.service.import_tickets``). A file they cannot read at all raises :class:`ExportError`.
"""

from __future__ import annotations


class ExportError(ValueError):
    """The file cannot be imported at all (wrong format, missing columns): one sentence saying why."""


__all__ = ["ExportError"]
