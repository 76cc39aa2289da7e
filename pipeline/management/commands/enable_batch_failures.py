"""``manage.py enable_batch_failures``: partial batch responses on the SQS event source."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.deploy.zappa_steps import DeployError, enable_partial_batch_responses, stage_targets


class Command(BaseCommand):
    help = (
        "Set FunctionResponseTypes=[ReportBatchItemFailures] on the event source mapping(s) "
        "from the queue to the function (Zappa never sets it). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stage", help="Zappa stage with the SQS event, e.g. dev_worker")
        parser.add_argument("--function", help="Lambda function name (instead of --stage)")
        parser.add_argument("--queue-arn", help="SQS queue ARN (instead of --stage)")
        parser.add_argument("--enable", action="store_true", help="also enable a disabled mapping")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            changes = [
                change
                for function, queue in self._targets(options)
                for change in enable_partial_batch_responses(
                    function_name=function, queue_arn=queue, enable=options["enable"]
                )
            ]
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"AWS request failed: {exc}") from exc
        for change in changes:
            self.stdout.write(change)
        self.stdout.write(f"{len(changes)} change(s)." if changes else "Nothing to change.")

    def _targets(self, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(function, queue ARN) pairs from the flags, or from the Zappa stage's events."""
        if options["function"] and options["queue_arn"]:
            return [(options["function"], options["queue_arn"])]
        if not options["stage"]:
            raise CommandError("give --stage, or both --function and --queue-arn")
        function, queues = stage_targets(options["stage"])
        if not queues:
            raise CommandError(f"stage {options['stage']!r} has no SQS event source")
        return [(function, queue) for queue in queues]
