"""The sources overview for the operator's console: each source, its feeds, counts and health."""

from __future__ import annotations

from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.selectors.analytics import analytics_with_health
from pipeline.sources import SOURCES, enabled_sources, feeds
from pipeline.stores import ledger
from pipeline.stores.ledger import FeedHealth


def sources_overview(*, config: PipelineConfig) -> list[dict[str, Any]]:
    """Per source: enabled, record count and each feed's health and last stored object.

    Reads the analytics document (with the feeds' health in the same BatchGetItem) and
    every feed's state in one more.
    """
    analytics, feed_health = analytics_with_health(config=config)
    by_source = {row["source"]: row["count"] for row in analytics["by_source"]}
    by_type = {(row["source"], row["type"]): row["count"] for row in analytics["by_type"]}
    keys = [(f.source, f.type) for f in feeds()]
    states = {(s.source, s.type): s for s in ledger.feed_states_get(keys, config=config)}
    health = {(h.source, h.type): h for h in feed_health}
    enabled = set(enabled_sources(config))
    overview = []
    for name in SOURCES:
        mine = [health[(name, t)] for t in SOURCES[name].types]
        overview.append(
            {
                "name": name,
                "enabled": name in enabled,
                "count": by_source.get(name, 0),
                "feeds": [
                    {
                        "type": h.type,
                        "health": h,
                        "last_key": states[(name, h.type)].last_key,
                        "count": by_type.get((name, h.type), 0),
                    }
                    for h in mine
                ],
                "last_success_at": max((h.last_success_at or "" for h in mine), default="") or None,
                **_last_failure(mine),
            }
        )
    return overview


def _last_failure(health: list[FeedHealth]) -> dict[str, str | None]:
    failed = [h for h in health if h.last_failure_at]
    if not failed:
        return {"last_failure_at": None, "last_error": None}
    latest = max(failed, key=lambda h: h.last_failure_at or "")
    return {"last_failure_at": latest.last_failure_at, "last_error": latest.last_error}
