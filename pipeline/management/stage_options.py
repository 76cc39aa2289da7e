"""Command-line options naming a stage, its region and account (``iam_policy``)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.deploy.zappa_steps import caller_account_id, explicit_account_id
from pipeline.stores import aws

STAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
ACCOUNT_PATTERN = re.compile(r"^\d{12}$")


def add_stage_arguments(parser: CommandParser) -> None:
    """--stage, --region and --account."""
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
        return caller_account_id(aws.sts(replace(get_config(), aws_region=region)))
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot look up the account id ({exc}); pass --account") from exc
