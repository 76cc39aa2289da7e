"""``manage.py ingest [--source NAME] [--process]``: one ingestion run, printed as a table."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.handlers import process_sqs_event
from pipeline.services.ingest import ingest
from pipeline.sources import SOURCES
from pipeline.stores.ledger import RunRecord

COLUMNS = ("source", "type", "outcome", "items", "bytes", "hash", "s3 key / error")


def run_table(run: RunRecord) -> list[str]:
    """The run's ledger as aligned text rows, header first."""
    rows = [COLUMNS] + [
        (
            f.source,
            f.type,
            f.outcome,
            str(f.item_count),
            str(f.bytes),
            (f.hash or "")[:12],
            f.error or f.s3_key or "",
        )
        for f in run.feeds
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows
    ]


class Command(BaseCommand):
    help = "Fetch every enabled source once, store raw JSON in S3 and enqueue one message each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", action="append", choices=sorted(SOURCES), help="repeatable")
        parser.add_argument("--process", action="store_true", help="then drain the queue here")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = ingest(sources=options["source"], trigger="manage.py", config=get_config())
            self.stdout.write(f"run {run.run_id}: {run.status}")
            self.stdout.write("\n".join(run_table(run)))
            if options["process"]:
                # The local poller: a developer's tool, not shipped in the Lambda zip.
                try:
                    from pipeline.local.poller import drain
                except ImportError:
                    raise CommandError(
                        "--process needs the local stack's poller, which is not in this package"
                    ) from None

                totals = drain(process_sqs_event)
                self.stdout.write(
                    f"processed {totals.succeeded} message(s), {totals.failed} failed"
                )
        except (ClientError, BotoCoreError, PipelineError) as exc:
            raise CommandError(f"ingest failed: {exc}") from exc
        if run.status == "failed":
            raise CommandError("every feed failed; see the table above")
