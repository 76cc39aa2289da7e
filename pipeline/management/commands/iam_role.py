"""``manage.py iam_role --stage NAME [--check]``: create or update the stage's execution role."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.config import get_config
from pipeline.deploy import caller_account_id, explicit_account_id
from pipeline.iam import role_ensure, role_name

STAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")


def add_stage_arguments(parser: CommandParser) -> None:
    """--stage, --region and --account, shared with ``iam_policy``."""
    parser.add_argument("--stage", required=True, help="TWL stage, e.g. dev or prod")
    parser.add_argument("--region", help="default: AWS_REGION of this environment")
    parser.add_argument(
        "--account", help="12-digit account id; default: TWL_AWS_ACCOUNT_ID, else STS"
    )


def resolve_target(options: dict[str, Any]) -> tuple[str, str, str]:
    """Validated (stage, region, account id); the account is looked up when not given."""
    stage = options["stage"]
    if not STAGE_PATTERN.match(stage):
        raise CommandError(f"--stage {stage!r}: use lower-case letters, digits and '-'")
    region = options.get("region") or get_config().aws_region
    account = options.get("account") or explicit_account_id() or _caller_account(region)
    if not ACCOUNT_PATTERN.match(account):
        raise CommandError(f"--account {account!r} is not a 12-digit AWS account id")
    return stage, region, account


def _caller_account(region: str) -> str:
    try:
        return caller_account_id()
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot look up the account id ({exc}); pass --account") from exc


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
