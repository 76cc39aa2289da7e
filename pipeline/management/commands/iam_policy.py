"""``manage.py iam_policy --stage NAME [--region R] [--account ID]``: print the policy as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pipeline.deploy.iam import iam_policy
from pipeline.management.stage_options import add_stage_arguments, resolve_target


class Command(BaseCommand):
    help = "Print the least-privilege IAM policy the stage's Lambda functions need."

    def add_arguments(self, parser: CommandParser) -> None:
        add_stage_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        stage, region, account = resolve_target(options)
        document = iam_policy(stage=stage, region=region, account_id=account)
        self.stdout.write(json.dumps(document, indent=2))
