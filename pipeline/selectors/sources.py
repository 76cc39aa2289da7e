"""The sources overview for the operator's console: each source, its feeds, counts and health.

Built-in and declared sources alike; a declared one also has its definition's version,
schedule and enabled flag (a paused one is not fetched whatever the stage enables).
"""

from __future__ import annotations

from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.selectors.analytics import analytics_with_health
from pipeline.sources import SOURCES, enabled_sources, feeds
from pipeline.sources.base import Source
from pipeline.sources.declared import DeclaredSource
from pipeline.stores import ledger
from pipeline.stores.ledger import FeedHealth

# The scheduler's tick: a built-in source is fetched on every one.
BUILTIN_SCHEDULE_MINUTES = 5


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
    # The registry is live (declared sources come and go): read it once for this page.
    for name, source in list(SOURCES.items()):
        mine = [health.get((name, t)) or FeedHealth(name, t) for t in source.types]
        overview.append(
            {
                "name": name,
                **_kind(source, name in enabled),
                "count": by_source.get(name, 0),
                "feeds": [
                    {
                        "type": h.type,
                        "health": h,
                        "last_key": _last_key(states, name, h.type),
                        "count": by_type.get((name, h.type), 0),
                    }
                    for h in mine
                ],
                "last_success_at": max((h.last_success_at or "" for h in mine), default="") or None,
                **_last_failure(mine),
            }
        )
    return overview


def _kind(source: Source, enabled: bool) -> dict[str, Any]:
    if isinstance(source, DeclaredSource):
        return {
            "kind": "declared",
            "enabled": enabled and source.enabled,
            "schedule_minutes": source.schedule_minutes,
            "version": source.version,
        }
    return {
        "kind": "built-in",
        "enabled": enabled,
        "schedule_minutes": BUILTIN_SCHEDULE_MINUTES,
        "version": None,
    }


def _last_key(states: dict[tuple[str, str], Any], source: str, type_: str) -> str | None:
    state = states.get((source, type_))
    return state.last_key if state is not None else None


def _last_failure(health: list[FeedHealth]) -> dict[str, str | None]:
    failed = [h for h in health if h.last_failure_at]
    if not failed:
        return {"last_failure_at": None, "last_error": None}
    latest = max(failed, key=lambda h: h.last_failure_at or "")
    return {"last_failure_at": latest.last_failure_at, "last_error": latest.last_error}
