"""``manage.py recount [--check]``: rebuild the analytics counters from the curated table."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.services.recount import counters_reset, recount


class Command(BaseCommand):
    help = (
        "Count the curated table (a full Scan), report every counter that drifted from it "
        "and rewrite them. Run it while no worker is processing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="report only; exit 1 on drift")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the counters instead (before replaying onto an emptied table)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reset"]:
            deleted = counters_reset(config=get_config())
            self.stdout.write(f"{deleted} counter item(s) deleted; replay now rebuilds them.")
            return
        try:
            report = recount(fix=not options["check"], config=get_config())
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"recount failed: {exc}") from exc
        for line in report.drift:
            self.stdout.write(f"drift  {line}")
        self.stdout.write(f"{report.records} record(s) counted; drift: {len(report.drift)}")
        if report.drift and options["check"]:
            raise CommandError(f"Drift: {len(report.drift)} counter(s)", returncode=1)
        if report.drift:
            self.stdout.write("Counters rewritten from the table.")
