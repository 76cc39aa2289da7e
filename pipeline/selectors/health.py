"""Health: is AWS (or the emulator) reachable, how deep are the queues, is each source fresh.

A source's freshness comes from the one feed-health item the ingest writes
(``pipeline.stores.ledger``); the API, the dashboard, ``/api/health`` and the admin
all read it through ``source_status``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.core.clock import utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS
from pipeline.sources import enabled_sources, feeds
from pipeline.stores import ledger
from pipeline.stores.ledger import FeedHealth
from pipeline.stores.messages import queue_depths

log = logging.getLogger(__name__)

# Worst first: a source shows the worst status of its feeds.
STATUS_ORDER = ("failing", "never", "late", "fresh")
# Public: AWS's own message (endpoint, operation, role ARN) stays in the logs.
AWS_UNREACHABLE = "the data store cannot be reached"


def seconds_since(stamp: str, now: datetime) -> int:
    return max(0, int((now - datetime.fromisoformat(stamp)).total_seconds()))


def feed_status(health: FeedHealth, now: datetime, stale_after: int) -> str:
    """fresh, late (no success for ``stale_after`` s), failing (last try failed) or never."""
    ok, failed = health.last_success_at, health.last_failure_at
    if failed and (not ok or failed > ok):
        return "failing"
    if not ok:
        return "never"
    return "late" if seconds_since(ok, now) > stale_after else "fresh"


def source_status(
    health: Sequence[FeedHealth], sources: Sequence[str], now: datetime, stale_after: int
) -> list[dict[str, Any]]:
    """Per source: last success, last failure and its reason, and fresh/late/failing/never.

    Public (the dashboard, ``/api/analytics``, ``/api/health``): ``last_error`` is the
    failure's short, safe reason, never its error text (the admin shows that).
    """
    rows = []
    for source in sources:
        mine = [h for h in health if h.source == source]
        statuses = [feed_status(h, now, stale_after) for h in mine] or ["never"]
        last_ok = max((h.last_success_at for h in mine if h.last_success_at), default=None)
        last_fail = max((h.last_failure_at for h in mine if h.last_failure_at), default=None)
        failing = [
            h.public_reason for h, st in zip(mine, statuses, strict=False) if st == "failing"
        ]
        rows.append(
            {
                "source": source,
                "status": min(statuses, key=STATUS_ORDER.index),
                "last_success_at": last_ok,
                "seconds_since": seconds_since(last_ok, now) if last_ok else None,
                "last_failure_at": last_fail,
                "last_error": failing[0] if failing else None,
            }
        )
    return rows


def feed_keys(sources: Sequence[str]) -> list[tuple[str, str]]:
    return [(f.source, f.type) for f in feeds(sources)]


def health_get(*, config: PipelineConfig) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy: AWS answers and every enabled source is fresh."""
    now = utc_now()
    sources = enabled_sources(config)
    try:
        queue, dlq = queue_depths(config, dlq=False), queue_depths(config, dlq=True)
        health = ledger.feed_health_get(feed_keys(sources), config=config)
    except AWS_ERRORS as exc:
        log.error("health: AWS unreachable: %s", exc)
        report = {"status": "unavailable", "aws": {"reachable": False, "error": AWS_UNREACHABLE}}
        return False, report
    rows = source_status(health, sources, now, config.stale_after_seconds)
    healthy = all(s["status"] == "fresh" for s in rows)
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "aws": {"reachable": True, "endpoint": config.aws_endpoint_url or "aws"},
        "queue": queue,
        "dlq": dlq,
        "stale_after_seconds": config.stale_after_seconds,
        "sources": rows,
    }
