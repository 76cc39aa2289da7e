"""``manage.py iam_role --stage NAME [--check]``: create or update the stage's execution role."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.deploy.iam import role_ensure, role_name
from pipeline.management.stage_options import add_stage_arguments, resolve_target


class Command(BaseCommand):
    help = (
        "Create or update the stage's Lambda execution role (trust: Lambda, API Gateway, "
        "EventBridge) with the least-privilege inline policy. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_stage_arguments(parser)
        parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on drift")

    def handle(self, *args: Any, **options: Any) -> None:
        stage, region, account = resolve_target(options)
        config = replace(get_config(), aws_region=region)
        try:
            changes = role_ensure(
                stage=stage,
                region=region,
                account_id=account,
                check_only=options["check"],
                config=config,
            )
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"IAM request failed: {exc}") from exc
        for change in changes:
            self.stdout.write(change)
        drift = [c for c in changes if not c.startswith("warning:")]
        if not drift:
            self.stdout.write(f"role {role_name(stage)} is up to date; nothing changed.")
        elif options["check"]:
            raise CommandError(f"Drift: {len(drift)} difference(s).", returncode=1)
