"""Create or update the stage's CloudFormation stack; ``--check`` reports changes and drift."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.errors import PipelineError
from pipeline.deploy.provision import Change, ProvisionError, has_drift, provision
from pipeline.deploy.stack.spec import (
    StackOptions,
    spec_for_stage,
    spec_from_config,
    stage_region,
)
from pipeline.deploy.stack.template import template_body
from pipeline.management.stage_options import STAGE_PATTERN


class Command(BaseCommand):
    help = (
        "Create or update the stage's stack (bucket, queues, tables, roles, alarms, "
        "dashboard) through a change set, and wait for it. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stage",
            help="a stage of zappa_settings.json (dev, prod): its names and timeouts; "
            "default: the running configuration (TWL_STAGE and the TWL_* names)",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="change nothing; show what would change and any drift; exit 1 if either",
        )
        parser.add_argument(
            "--print-template",
            action="store_true",
            help="write the template (JSON) to stdout and exit; no AWS call",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = self._spec(options.get("stage"))
            body = template_body(spec)  # troposphere validates names and values here
        except (ValueError, TypeError, PipelineError) as exc:
            raise CommandError(f"the stack's settings are invalid: {exc}") from exc
        if options["print_template"]:
            self.stdout.write(body)
            return
        check = bool(options["check"])
        config = self._target(options.get("stage"))
        try:
            changes = provision(
                config=config, spec=spec, check_only=check, progress=self.stdout.write
            )
        except ProvisionError as exc:
            raise CommandError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"AWS request failed: {exc}") from exc
        if check:
            for change in changes:
                self.stdout.write(f"{change.action:<6}  {change.resource}  {change.detail}")
        self.stdout.write(_summary(spec.names.stack, changes, check=check))

    def _target(self, stage: str | None) -> PipelineConfig:
        """Where to provision: a named stage goes to its own region, never to an emulator."""
        config = get_config()
        if stage is None:
            return config
        if config.aws_endpoint_url:
            raise CommandError(
                f"--stage {stage} provisions the real stage, but AWS_ENDPOINT_URL points at "
                f"{config.aws_endpoint_url}; unset it (or drop --stage to use the emulator)"
            )
        return replace(config, aws_region=stage_region(stage) or config.aws_region)

    def _spec(self, stage: str | None) -> Any:
        options = StackOptions(
            alarm_email=settings.TWL_ALARM_EMAIL,
            archive_after_days=settings.TWL_RAW_ARCHIVE_AFTER_DAYS,
            queue_age_alarm_seconds=settings.TWL_ALARM_QUEUE_AGE_SECONDS,
            feed_stale_after_seconds=settings.TWL_STALE_AFTER_SECONDS,
        )
        if stage is None:
            return spec_from_config(get_config(), options)
        if not STAGE_PATTERN.match(stage):
            raise CommandError(f"--stage {stage!r}: use lower-case letters, digits and '-'")
        return spec_for_stage(stage, options)


def _summary(stack: str, changes: list[Change], *, check: bool) -> str:
    """Final line; with --check, any difference raises so the exit status is 1."""
    count = sum(c.action not in ("ok", "note") for c in changes)
    if not has_drift(changes):
        return f"Stack {stack} is up to date; nothing changed."
    if check:
        raise CommandError(f"Stack {stack}: {count} difference(s).", returncode=1)
    return f"Stack {stack}: {count} change(s) applied."
