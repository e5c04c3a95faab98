"""``helpline import csv|zendesk FILE``: tickets with their history from another help desk's export
file, through the same service as ``POST /api/v1/imports/tickets`` (docs/import.md), in batches of
200 per transaction with a progress bar and a report at the end."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from helpline.cli._common import app, ensure_schema, err, fail, run, settings

import_app = typer.Typer(help="Import tickets with their history from an export file.", no_args_is_help=True)
app.add_typer(import_app, name="import")

BATCH = 200
SHOWN = 20

FileArg = Annotated[Path, typer.Argument(help="The export file", show_default=False)]
Workspace = Annotated[str | None, typer.Option(help="Workspace slug (default: the only one)")]
Limit = Annotated[int | None, typer.Option(min=1, help="Import only the first N tickets of the file")]
ReportFile = Annotated[Path | None, typer.Option("--report", help="Write every refusal and note here (JSON)")]
As = Annotated[str | None, typer.Option("--as", help="The admin importing (default: the workspace's first)")]


@import_app.command("csv")
def import_csv(
    file: FileArg,
    workspace: Workspace = None,
    source: Annotated[str | None, typer.Option(help='Source name (default: "csv:<file name>")')] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Time zone of times without an offset, e.g. UTC or Europe/Berlin")
    ] = None,
    limit: Limit = None,
    report: ReportFile = None,
    as_: As = None,
) -> None:
    """Import a CSV with one ticket per row (the columns of docs/import.md)."""
    from helpline.domains.tickets.importers import csv_source

    tz = None
    if timezone:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            fail(f"--timezone {timezone!r} is not a time zone name (e.g. UTC, Europe/Berlin)")
    _check_file(file)
    items = _read(file, lambda: csv_source.read(file, timezone=tz, limit=limit))
    _import(
        items, source or re.sub(r"[^A-Za-z0-9_.:-]", "-", f"csv:{file.stem}")[:100], workspace, as_, report
    )


@import_app.command("zendesk")
def import_zendesk(
    file: FileArg,
    workspace: Workspace = None,
    source: Annotated[str, typer.Option(help="Source name")] = "zendesk",
    limit: Limit = None,
    report: ReportFile = None,
    as_: As = None,
) -> None:
    """Import a Zendesk ticket export (JSON with side-loaded users, or NDJSON)."""
    from helpline.domains.tickets.importers import zendesk

    _check_file(file)
    items = _read(file, lambda: zendesk.read(file, limit=limit))
    _import(items, source, workspace, as_, report)


def _check_file(file: Path) -> None:
    if not file.is_file():
        fail(f"no file {file}: give the path of an export file")


def _read(file: Path, parse: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    from helpline.domains.tickets.importers import ExportError

    try:
        return parse()
    except ExportError as exc:
        fail(f"cannot import {file}: {exc}")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    raise AssertionError("unreachable")  # pragma: no cover


def _import(
    items: list[dict[str, Any]],
    source: str,
    workspace: str | None,
    as_email: str | None,
    report_file: Path | None,
) -> None:
    from helpline.domains.accounts import service as accounts
    from helpline.domains.tickets import service
    from helpline.platform.db import Database

    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", source):
        fail(f"--source {source!r}: use letters, digits and _ . : - (at most 100)")
    s = settings()
    ensure_schema(s)

    async def main() -> service.ImportReport:
        db = Database(s.effective_database_url)
        total = service.ImportReport()
        try:
            async with db.transaction() as uow:
                ws = await (
                    accounts.workspace_by_slug(uow, workspace)
                    if workspace
                    else accounts.default_workspace(uow)
                )
                admin = await service.importer(uow, ws, as_email)
            columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=err, transient=False) as progress:
                task = progress.add_task("tickets", total=len(items))
                for start in range(0, len(items), BATCH):
                    batch = items[start : start + BATCH]
                    async with db.transaction() as uow:
                        total.add(
                            await service.import_tickets(uow, admin, source, batch, first_index=start + 1)
                        )
                    progress.advance(task, len(batch))
        finally:
            await db.dispose()
        return total

    done = run(main)
    _report(done, source, report_file)


def _report(done: Any, source: str, report_file: Path | None) -> None:
    noted = [t for t in done.tickets if t["notes"]]
    err.print(
        f"{source}: {done.created} created, {done.unchanged} unchanged, {len(done.refused)} refused"
        + (f", {len(noted)} with notes" if noted else ""),
        highlight=False,
    )
    for r in done.refused[:SHOWN]:
        why = "; ".join(f"{e['field']}: {e['message']}" for e in r["errors"])
        err.print(
            f"  refused item {r['index']} (source id {r['source_id']}): {why}", highlight=False, markup=False
        )
    if len(done.refused) > SHOWN:
        err.print(
            f"  … and {len(done.refused) - SHOWN} more" + ("" if report_file else " (see --report FILE)")
        )
    if report_file is not None:
        body = {
            "source": source,
            "created": done.created,
            "unchanged": done.unchanged,
            "refused": done.refused,
            "notes": [
                {"source_id": t["source_id"], "ticket_id": t["ticket_id"], "notes": t["notes"]} for t in noted
            ],
        }
        try:
            report_file.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the report to {report_file}: {exc.strerror or exc}")
        err.print(f"report written to {report_file}", highlight=False)
