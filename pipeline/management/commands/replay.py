"""``manage.py replay [--source] [--type] [--since] [--until] [--dry-run]``: resend raw objects."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.services.replay import replay
from pipeline.sources import SOURCES

# At most about this many progress lines, however many objects are replayed.
PROGRESS_LINES = 100


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Send one message per raw object in S3 (oldest first) so processing rebuilds records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=sorted(SOURCES), help="default: every source")
        parser.add_argument(
            "--type", dest="type_", metavar="TYPE", help="default: every type of the source(s)"
        )
        parser.add_argument(
            "--since", type=iso_date, metavar="YYYY-MM-DD", help="first capture date, inclusive"
        )
        parser.add_argument(
            "--until", type=iso_date, metavar="YYYY-MM-DD", help="last capture date, inclusive"
        )
        parser.add_argument("--dry-run", action="store_true", help="list the keys; send nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = replay(
                source=options["source"],
                type_=options["type_"],
                since=options["since"],
                until=options["until"],
                dry_run=options["dry_run"],
                progress=self._progress,
                config=get_config(),
            )
        except PipelineError as exc:
            raise CommandError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"replay failed: {exc}") from exc
        if options["dry_run"]:
            for key in result.keys:
                self.stdout.write(key)
            self.stdout.write(f"dry run: would replay {len(result.keys)} raw object(s)")
            return
        for key, reason in result.skipped:
            self.stdout.write(f"skipped {key}: {reason}")
        self.stdout.write(
            f"sent {result.sent} message(s) for {len(result.keys)} raw object(s); "
            f"skipped {len(result.skipped)}"
        )

    def _progress(self, done: int, total: int) -> None:
        step = max(1, total // PROGRESS_LINES)
        if done % step == 0 or done == total:
            self.stdout.write(f"replayed {done}/{total}")
