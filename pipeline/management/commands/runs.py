"""``manage.py runs [--limit N] [--check]``: recent runs, followed fetch → S3 → SQS → processed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.selectors.runs import FeedCheck, RunCheck, runs_check


def _feed_line(feed: FeedCheck) -> str:
    processed = ""
    if feed.processed:
        p = feed.processed
        processed = (
            f" → processed {p['items']} (ins {p['inserted']}, upd {p['updated']}, "
            f"same {p['unchanged'] + p['stale']}, rej {p['rejected']})"
        )
    flow = f"fetched {feed.fetched}{' → S3' if feed.stored else ''}{' → SQS' if feed.sent else ''}"
    note = f"  [{feed.note}]" if feed.note else ""
    name = f"{feed.source}/{feed.type}"
    return f"    {feed.state.upper():8} {name} {feed.outcome}: {flow}{processed}{note}"


def _run_lines(check: RunCheck) -> list[str]:
    flag = "MISMATCH" if not check.reconciles else ("OK" if check.complete else "INCOMPLETE")
    run = check.run
    head = f"{flag:10} {run.run_id}  {run.trigger}  {run.status}  {run.started_at}"
    return [head] + [_feed_line(f) for f in check.feeds]


class Command(BaseCommand):
    help = "List recent ingestion runs and flag any whose counts do not reconcile."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument(
            "--check", action="store_true", help="exit 1 if a run does not reconcile"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["limit"] <= 1000:
            raise CommandError("--limit must be between 1 and 1000")
        try:
            checks = runs_check(limit=options["limit"], config=get_config())
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"runs failed: {exc}") from exc
        for check in checks:
            self.stdout.write("\n".join(_run_lines(check)))
        bad = [c for c in checks if not c.reconciles]
        self.stdout.write(f"{len(checks)} run(s); {len(bad)} do not reconcile")
        if bad and options["check"]:
            raise CommandError(f"{len(bad)} run(s) do not reconcile", returncode=1)
