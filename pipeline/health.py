"""Health: is AWS (or the emulator) reachable, how deep are the queues, are sources fresh."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from pipeline import aws
from pipeline.analytics import aggregate_items_get, last_success_by_source, seconds_since
from pipeline.config import PipelineConfig, get_config
from pipeline.constants import AGG_SOURCES_SK
from pipeline.dynamo import utc_now
from pipeline.queue import queue_url

log = logging.getLogger(__name__)


def _depths(config: PipelineConfig, *, dlq: bool) -> dict[str, int]:
    attributes = aws.sqs(config).get_queue_attributes(
        QueueUrl=queue_url(config, dlq=dlq),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def _sources(item: dict[str, Any] | None, config: PipelineConfig, now: datetime) -> list[dict]:
    last = last_success_by_source(item)
    stale_after = settings.TWL_STALE_AFTER_SECONDS
    rows = []
    for source in config.enabled_sources:
        age = seconds_since(last[source], now) if source in last else None
        rows.append(
            {
                "source": source,
                "last_success_at": last.get(source),
                "seconds_since": age,
                "fresh": age is not None and age <= stale_after,
            }
        )
    return rows


def health_get(*, config: PipelineConfig | None = None) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy: AWS answers and every enabled source is fresh."""
    cfg = config or get_config()
    now = utc_now()
    try:
        queue, dlq = _depths(cfg, dlq=False), _depths(cfg, dlq=True)
        sources_item = aggregate_items_get([AGG_SOURCES_SK], config=cfg).get(AGG_SOURCES_SK)
    except (ClientError, BotoCoreError) as exc:
        log.error("health: AWS unreachable: %s", exc)
        report = {"status": "unavailable", "aws": {"reachable": False, "error": str(exc)[:300]}}
        return False, report
    sources = _sources(sources_item, cfg, now)
    healthy = all(s["fresh"] for s in sources)
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "aws": {"reachable": True, "endpoint": cfg.aws_endpoint_url or "aws"},
        "queue": queue,
        "dlq": dlq,
        "stale_after_seconds": settings.TWL_STALE_AFTER_SECONDS,
        "sources": sources,
    }
