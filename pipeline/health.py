"""Health: is AWS (or the emulator) reachable, how deep are the queues, are sources fresh."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from pipeline import aws
from pipeline.analytics import aggregate_items_get, source_status
from pipeline.config import PipelineConfig, get_config
from pipeline.constants import AGG_SOURCES_SK
from pipeline.dynamo import utc_now
from pipeline.queue import queue_url

log = logging.getLogger(__name__)


def queue_depths(config: PipelineConfig, *, dlq: bool) -> dict[str, int]:
    """Messages waiting and in flight on the queue (or its DLQ)."""
    attributes = aws.sqs(config).get_queue_attributes(
        QueueUrl=queue_url(config, dlq=dlq),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def health_get(*, config: PipelineConfig | None = None) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy: AWS answers and every enabled source is fresh."""
    cfg = config or get_config()
    now = utc_now()
    try:
        queue, dlq = queue_depths(cfg, dlq=False), queue_depths(cfg, dlq=True)
        sources_item = aggregate_items_get([AGG_SOURCES_SK], config=cfg).get(AGG_SOURCES_SK)
    except (ClientError, BotoCoreError) as exc:
        log.error("health: AWS unreachable: %s", exc)
        report = {"status": "unavailable", "aws": {"reachable": False, "error": str(exc)[:300]}}
        return False, report
    stale_after = settings.TWL_STALE_AFTER_SECONDS
    sources = source_status(sources_item, cfg.enabled_sources, now, stale_after)
    healthy = all(s["status"] == "fresh" for s in sources)
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "aws": {"reachable": True, "endpoint": cfg.aws_endpoint_url or "aws"},
        "queue": queue,
        "dlq": dlq,
        "stale_after_seconds": stale_after,
        "sources": sources,
    }
