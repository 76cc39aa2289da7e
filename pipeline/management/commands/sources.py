"""``manage.py sources list | export [--output FILE] | import FILE [--dry-run] | test NAME``.

Declared sources from the command line, as the admin's Sources pages manage them:
``export`` writes every current definition as JSON and ``import`` reads such a file back.
``import`` checks every definition of the file first, prints every error and writes
nothing when there is one; a definition already as the file says is left alone (no new
version), so importing the same file twice changes nothing the second time. Changes are
made in the name of ``manage.py:<OS user>``. ``test`` fetches a stored source's first
page live (bounded; ``--type T``: one resource only) and prints the curated preview; it
stores nothing, and exits non-zero when a resource could not be fetched.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.selectors.definitions import definition_stored, definitions_stored
from pipeline.selectors.sources import sources_overview
from pipeline.services.definitions import (
    ImportReport,
    ResourceTest,
    definition_test,
    definitions_export,
    definitions_import,
)
from pipeline.sources import builtin_names
from pipeline.sources.declared import DefinitionInvalid

COLUMNS: Final = ("name", "kind", "enabled", "schedule", "version", "last success", "records")
PREVIEW_ROWS: Final = 20


def actor() -> str:
    """Who the command's changes are recorded as: ``manage.py:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's bare uid)
        user = "unknown"
    return f"manage.py:{user}"


def table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Rows under ``columns``, each column as wide as its widest cell."""
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [columns, *rows]
    ]


def source_row(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        row["name"],
        row["kind"],
        "yes" if row["enabled"] else "no",
        f"{row['schedule_minutes']} min",
        str(row["version"]) if row["version"] else "-",
        row["last_success_at"] or "never",
        str(row["count"]),
    )


def preview_lines(source: str, test: ResourceTest) -> list[str]:
    """One resource's Test result as text: its records, fields and rejections, or its error."""
    if test.preview is None:
        return [f"{source}/{test.type}: FAILED: {test.error}"]
    preview = test.preview
    lines = [f"{source}/{test.type}: {preview.items} item(s) on the first page"]
    shown: list[tuple[str, ...]] = [
        (r.id, " ".join(str(r.title).split())) for r in preview.records[:PREVIEW_ROWS]
    ]
    lines += ["  " + line for line in table(("id", "title"), shown)] if shown else ["  no records"]
    if len(preview.records) > PREVIEW_ROWS:
        lines.append(f"  … and {len(preview.records) - PREVIEW_ROWS} more")
    for label, fields in (
        ("kept", preview.kept),
        ("excluded", preview.excluded),
        ("personal", preview.personal),
    ):
        lines.append(f"  {label}: {', '.join(fields) or 'none'}")
    lines += [f"  rejected item #{index}: {reason}" for index, reason in preview.rejections]
    return lines


def report_lines(report: ImportReport, *, dry_run: bool) -> list[str]:
    would = "would be " if dry_run else ""
    lines = [
        f"{label} ({would}{verb}): {', '.join(names)}"
        for label, verb, names in (
            ("created", "created", report.created),
            ("updated", "updated", report.updated),
            ("unchanged", "left alone", report.unchanged),
        )
        if names
    ]
    total = len(report.created) + len(report.updated) + len(report.unchanged)
    counts = f"{len(report.created)} created, {len(report.updated)} updated, "
    counts += f"{len(report.unchanged)} unchanged"
    suffix = " (dry run: nothing was written)" if dry_run else ""
    return [*lines, f"{total} definition(s): {counts}{suffix}"]


class Command(BaseCommand):
    help = "List, export, import or test declared sources (built-in ones are listed too)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="list|export|import|test"
        )
        actions.add_parser("list", help="every source: kind, enabled, schedule, version, records")
        export = actions.add_parser("export", help="every declared source's definition as JSON")
        export.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
        load = actions.add_parser("import", help="create or update the definitions of a file")
        load.add_argument("file", metavar="FILE", help="one definition, a list, or an export")
        load.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
        test = actions.add_parser("test", help="fetch a declared source's first page, live")
        test.add_argument("name", help="the declared source")
        test.add_argument("--type", dest="type_", metavar="T", help="one resource (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            {
                "list": self._list,
                "export": self._export,
                "import": self._import,
                "test": self._test,
            }[action](options)
        except DefinitionInvalid as exc:
            for error in exc.errors:
                self.stderr.write(f"  {error}")
            raise CommandError(
                f"sources {action}: {len(exc.errors)} error(s); nothing was written"
            ) from None
        except PipelineError as exc:
            raise CommandError(f"sources {action}: {exc}") from None
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"sources {action}: AWS did not answer: {exc}") from None

    def _list(self, options: dict[str, Any]) -> None:
        config = get_config()
        rows = sources_overview(config=config)
        listed = {row["name"] for row in rows}
        cells = [source_row(row) for row in rows]
        for stored in definitions_stored(config=config):
            if stored.name not in listed:  # stored, but it no longer validates: not fetched
                cells.append(
                    (stored.name, "declared (invalid)", "no", "-", str(stored.version), "-", "-")
                )
        self.stdout.write("\n".join(table(COLUMNS, cells)))
        declared = sum(1 for c in cells if c[1].startswith("declared"))
        self.stdout.write(f"{len(cells)} source(s), {declared} declared; times are UTC")

    def _export(self, options: dict[str, Any]) -> None:
        exported = definitions_export(config=get_config())
        text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
        if options["output"] is None:
            self.stdout.write(text, ending="")
            return
        Path(options["output"]).write_text(text, encoding="utf-8")
        count = len(next(iter(exported.values()), []))
        self.stdout.write(f"wrote {count} definition(s) to {options['output']}")

    def _import(self, options: dict[str, Any]) -> None:
        try:
            text = Path(options["file"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"sources import: cannot read {options['file']}: {exc}") from None
        dry_run = options["dry_run"]
        report = definitions_import(text, actor=actor(), config=get_config(), dry_run=dry_run)
        self.stdout.write("\n".join(report_lines(report, dry_run=dry_run)))

    def _test(self, options: dict[str, Any]) -> None:
        name = options["name"]
        config = get_config()
        stored = definition_stored(name, config=config)
        if stored is None:
            if name in builtin_names():
                raise CommandError(
                    f"sources test: {name} is a built-in source; test takes a declared one"
                )
            raise CommandError(f"sources test: there is no declared source called {name!r}")
        tests = definition_test(stored.definition, config=config, type_=options["type_"])
        for test in tests:
            self.stdout.write("\n".join(preview_lines(name, test)))
        failed = [t.type for t in tests if t.error is not None]
        if failed:
            which = ", ".join(failed)
            raise CommandError(f"sources test: {len(failed)} of {len(tests)} failed: {which}")
