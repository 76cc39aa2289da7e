"""``manage.py process``: drain the ingestion queue through the SQS Lambda handler."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.handlers import process_sqs_event
from pipeline.local.poller import drain


class Command(BaseCommand):
    help = "Receive messages in batches of 10 and process them until the queue is empty."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-batches", type=int, default=10_000, help="stop after this many batches"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_batches"] < 1:
            raise CommandError("--max-batches must be at least 1")
        started = time.perf_counter()
        try:
            totals = drain(process_sqs_event, max_batches=options["max_batches"])
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"process failed: {exc}") from exc
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"received {totals.received}, processed {totals.succeeded}, failed {totals.failed}"
            f" in {elapsed:.2f} s"
        )
        if totals.failed:
            raise CommandError(f"{totals.failed} message(s) failed; they stay on the queue")
