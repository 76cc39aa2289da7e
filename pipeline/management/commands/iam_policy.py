"""``manage.py iam_policy --stage NAME --function web|worker``: print a role's policy."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pipeline.deploy.stack.roles import FUNCTIONS, StageTarget, function_policy
from pipeline.deploy.stack.spec import spec_for_stage
from pipeline.management.stage_options import add_stage_arguments, resolve_target


class Command(BaseCommand):
    help = (
        "Print the least-privilege IAM policy of one of the stage's functions, as the "
        "stack (manage.py provision) gives its role, for review."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_stage_arguments(parser)
        parser.add_argument("--function", choices=FUNCTIONS, default="web")

    def handle(self, *args: Any, **options: Any) -> None:
        stage, region, account = resolve_target(options)
        target = StageTarget(names=spec_for_stage(stage).names, region=region, account_id=account)
        document = function_policy(options["function"], target)
        self.stdout.write(json.dumps(document, indent=2))
