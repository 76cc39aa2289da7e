"""What a stage's stack is made from: its names, its limits and the operator's choices.

One ``StackSpec`` feeds the whole template. ``spec_from_config`` takes the running
configuration (``make run``, the tests, an operator whose environment names the stage);
``spec_for_stage`` takes a deployable stage of zappa_settings.json, so the names and
the worker timeout are the ones the deployed functions will really use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import MAX_RECEIVE_COUNT
from pipeline.core.names import ResourceNames, resource_names
from pipeline.deploy.zappa_steps import stage_environment, stage_setting
from pipeline.sources import Feed, builtin_names, feeds

# Raw objects move to a cheaper class after this many days; never deleted.
DEFAULT_ARCHIVE_AFTER_DAYS = 90
# An alarm when the oldest message has waited this long (3 worker timeouts would be
# typical for a backlog that is draining; 15 minutes means processing stopped).
DEFAULT_QUEUE_AGE_ALARM_SECONDS = 900
DEFAULT_WORKER_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class StackOptions:
    """The operator's choices (settings ``TWL_ALARM_EMAIL``, ``TWL_RAW_ARCHIVE_AFTER_DAYS``...)."""

    alarm_email: str = ""
    archive_after_days: int = DEFAULT_ARCHIVE_AFTER_DAYS
    queue_age_alarm_seconds: int = DEFAULT_QUEUE_AGE_ALARM_SECONDS
    feed_stale_after_seconds: int = 900


@dataclass(frozen=True)
class StackSpec:
    """Everything the template of one stage depends on."""

    names: ResourceNames
    worker_timeout_seconds: int
    max_receive_count: int
    options: StackOptions = field(default_factory=StackOptions)
    feeds: tuple[Feed, ...] = ()

    @property
    def visibility_timeout_seconds(self) -> int:
        """AWS's advice for a Lambda-consumed queue: six times the function's timeout."""
        return 6 * self.worker_timeout_seconds


def spec_from_config(config: PipelineConfig, options: StackOptions | None = None) -> StackSpec:
    """The stack of the running configuration's stage, with its names."""
    chosen = options or StackOptions(feed_stale_after_seconds=config.stale_after_seconds)
    return StackSpec(
        names=config.names,
        worker_timeout_seconds=config.worker_timeout_seconds,
        max_receive_count=config.max_receive_count,
        options=chosen,
        feeds=tuple(feeds(config.enabled_sources or sorted(builtin_names()))),
    )


def spec_for_stage(stage: str, options: StackOptions | None = None) -> StackSpec:
    """The stack of a zappa_settings.json stage (the web stage; its ``_worker`` extends it).

    Names follow the stage's ``TWL_*`` environment there, and the worker timeout is the
    ``_worker`` stage's own ``TWL_WORKER_TIMEOUT_SECONDS``, as the deployed code reads it.
    """
    env = stage_environment(f"{stage}_worker") or stage_environment(stage)
    timeout = int(env.get("TWL_WORKER_TIMEOUT_SECONDS") or DEFAULT_WORKER_TIMEOUT_SECONDS)
    # Only the feeds the stage's schedule ingests get a feed-stale alarm: another
    # source's alarm would see no data, which it counts as stale, for ever. Declared sources
    # come and go without a deploy: the template has no alarm of theirs (docs/SOURCES.md).
    enabled = [s.strip() for s in env.get("TWL_ENABLED_SOURCES", "").split(",") if s.strip()]
    return StackSpec(
        names=resource_names(stage, env),
        worker_timeout_seconds=timeout,
        max_receive_count=MAX_RECEIVE_COUNT,
        options=options or StackOptions(),
        feeds=tuple(feeds(enabled or sorted(builtin_names()))),
    )


def stage_region(stage: str) -> str | None:
    """The region zappa_settings.json deploys ``stage`` to (``aws_region``)."""
    region = stage_setting(stage, "aws_region")
    return str(region) if region else None
