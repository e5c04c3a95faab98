"""The ``helpline`` command: serve, worker, migrate, demo, users, tokens, workspaces, import, check.

Every command uses ``./var/`` of the directory it runs in unless ``HELPLINE_DATABASE_URL`` says
otherwise. Problems are reported as one line saying what is wrong and how to fix it.

- ``_common``: the Typer apps, ``fail`` / ``run`` (errors as one line), ``ensure_schema``, ``db_command``
- ``_server``: ``migrate``, ``serve``, ``worker``, ``demo``, ``check``
- ``_accounts``: ``users …``, ``workspaces …``, ``tokens create``
- ``_import``: ``import csv|zendesk FILE`` (tickets with their history, docs/import.md)
"""

from helpline.cli import _accounts, _import, _server
from helpline.cli._common import app

__all__ = ["app", "main"]
_ = (_server, _accounts, _import)  # importing them registers their commands, in this order


def main() -> None:
    app()
