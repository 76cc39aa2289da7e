"""The analytics document, read from the counters processing maintains (``stores.counters``).

Cost does not grow with the table: one BatchGetItem of at most 4 items (the TOTAL
counters, the feed-health item, the month items of the last 28 days), plus two 1-item
Queries per source for the oldest and newest capture.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pipeline.core.clock import utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import AGG_SOURCES_SK, AGG_TOTAL_SK, BY_DATE_DAYS, TIMELINE_DAYS
from pipeline.selectors.health import source_status
from pipeline.selectors.records import captured_bounds
from pipeline.sources import SOURCES, Feed, all_feeds
from pipeline.stores import counters, ledger
from pipeline.stores.ledger import FeedHealth


def window(today: date, days: int) -> list[str]:
    """The last ``days`` calendar days ending ``today``, ascending, as ISO dates."""
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def month_keys(days: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(counters.month_sk(d) for d in days))


def analytics_get(*, config: PipelineConfig, now: datetime | None = None) -> dict[str, Any]:
    """The whole analytics document from at most 4 items and 2 tiny Queries a source.

    Its cost does not grow with the table: counters are read, never recomputed.
    """
    return analytics_with_health(config=config, now=now)[0]


def analytics_with_health(
    *, config: PipelineConfig, now: datetime | None = None
) -> tuple[dict[str, Any], list[FeedHealth]]:
    """The analytics document and each feed's health, read in the same BatchGetItem."""
    moment = now or utc_now()
    days = window(moment.date(), BY_DATE_DAYS)
    items = counters.aggregate_items_get(
        [AGG_TOTAL_SK, AGG_SOURCES_SK, *month_keys(days)], config=config
    )
    total = items.get(AGG_TOTAL_SK, {})
    months: dict[str, Any] = {}
    for sk in month_keys(days):
        months |= items.get(sk, {})
    known = all_feeds()
    health = ledger.feed_health_from(items.get(AGG_SOURCES_SK), [(f.source, f.type) for f in known])
    summary = _summary(total, known, *captured_bounds(config=config))
    summary["last_ingest"] = source_status(
        health, list(SOURCES), moment, config.stale_after_seconds
    )
    doc = {
        "summary": summary,
        "by_source": [
            {"source": s, "count": int(total.get(counters.source_counter(s), 0))} for s in SOURCES
        ],
        "by_type": [
            {
                "source": f.source,
                "type": f.type,
                "count": int(total.get(counters.type_counter(f.source, f.type), 0)),
            }
            for f in known
        ],
        "by_date": [
            {"date": d, "records": int(months.get(counters.records_on(d), 0))} for d in days
        ],
        "timeline": [_day(d, months) for d in days[-TIMELINE_DAYS:]],
    }
    return doc, health


def _day(day: str, months: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": day,
        "inserted": int(months.get(counters.inserts_on(day), 0)),
        "updated": int(months.get(counters.updates_on(day), 0)),
        "records": int(months.get(counters.records_on(day), 0)),
    }


def _summary(
    total: dict[str, Any], known: list[Feed], oldest: str | None, newest: str | None
) -> dict[str, Any]:
    return {
        "total_records": int(total.get("total", 0)),
        "sources": len(SOURCES),
        "types": len(known),
        "oldest_captured_at": oldest,
        "newest_captured_at": newest,
        "inserts": int(total.get("inserts", 0)),
        "updates": int(total.get("updates", 0)),
    }
