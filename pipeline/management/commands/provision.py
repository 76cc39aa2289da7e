"""Create or verify the pipeline's AWS resources; ``--check`` only reports drift."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.deploy.provision import Change, ProvisionError, has_drift, provision


class Command(BaseCommand):
    help = "Create or verify the raw bucket, queue + DLQ and DynamoDB tables (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; report drift and exit 1 if there is any.",
        )

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        try:
            changes = provision(check_only=check, config=get_config())
        except ProvisionError as exc:
            raise CommandError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"AWS request failed: {exc}") from exc
        for change in changes:
            self.stdout.write(f"{change.action:<6}  {change.resource}  {change.detail}")
        self.stdout.write(_summary(changes, check=check))


def _summary(changes: list[Change], *, check: bool) -> str:
    """Final line; with --check, drift raises so the exit status is non-zero."""
    count = sum(c.action != "ok" for c in changes)
    if not has_drift(changes):
        return "Everything already up to date; nothing changed."
    if check:
        raise CommandError(f"Drift: {count} difference(s).", returncode=1)
    return f"{count} change(s) applied."
