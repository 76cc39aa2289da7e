"""The analytics document, read from the aggregates processing maintains (see aggregates.py).

Cost does not grow with the table: one BatchGetItem of at most 4 aggregate items,
plus two 1-item Queries per source for the oldest and newest capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings

from pipeline import aws, ledger
from pipeline.aggregates import month_sk
from pipeline.config import PipelineConfig, get_config
from pipeline.constants import (
    AGG_PK,
    AGG_SOURCES_SK,
    AGG_TOTAL_SK,
    BY_DATE_DAYS,
    LEDGER_PK,
    LEDGER_SK,
    TIMELINE_DAYS,
)
from pipeline.dynamo import batch_get, to_item, utc_now
from pipeline.records import captured_bounds
from pipeline.sources import SOURCES, feeds


def aggregate_items_get(
    sort_keys: Iterable[str], *, config: PipelineConfig
) -> dict[str, dict[str, Any]]:
    """Read aggregate items in one BatchGetItem."""
    keys = [to_item({LEDGER_PK: AGG_PK, LEDGER_SK: sk}) for sk in dict.fromkeys(sort_keys)]
    request = {"Keys": keys, "ConsistentRead": True}
    items = batch_get(aws.dynamodb(config), config.ledger_table, request)
    return {data[LEDGER_SK]: data for data in items}


def window(today: date, days: int) -> list[str]:
    """The last ``days`` calendar days ending ``today``, ascending, as ISO dates."""
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def month_keys(days: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(month_sk(d) for d in days))


# Worst first: a source shows the worst status of its feeds.
STATUS_ORDER = ("failing", "never", "late", "fresh")


def _feed_status(ok: str | None, failed: str | None, now: datetime, stale_after: int) -> str:
    if failed and (not ok or failed > ok):
        return "failing"
    if not ok:
        return "never"
    return "late" if seconds_since(ok, now) > stale_after else "fresh"


def source_status(
    item: dict[str, Any] | None, sources: Sequence[str], now: datetime, stale_after: int
) -> list[dict[str, Any]]:
    """Per source: last success, last failure and its error, and fresh/late/failing/never."""
    ok, failed, errors = (
        counters_raw(item, "ok#"),
        counters_raw(item, "fail#"),
        counters_raw(item, "err#"),
    )
    rows = []
    for source in sources:
        feeds_ = [f.type for f in feeds([source])]
        keys = [f"{source}#{t}" for t in feeds_]
        statuses = [_feed_status(ok.get(k), failed.get(k), now, stale_after) for k in keys]
        last_ok = max((ok[k] for k in keys if k in ok), default=None)
        last_fail = max((failed[k] for k in keys if k in failed), default=None)
        failing = [errors.get(k) for k, st in zip(keys, statuses, strict=True) if st == "failing"]
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


def counters_raw(item: dict[str, Any] | None, prefix: str) -> dict[str, Any]:
    if not item:
        return {}
    return {k[len(prefix) :]: v for k, v in item.items() if k.startswith(prefix)}


def seconds_since(stamp: str, now: datetime) -> int:
    return max(0, int((now - datetime.fromisoformat(stamp)).total_seconds()))


def analytics_get(
    *, config: PipelineConfig | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The whole analytics document from at most 4 aggregate items and 2 tiny Queries a source.

    Its cost does not grow with the table: counters are read, never recomputed.
    """
    config = config or get_config()
    moment = now or utc_now()
    by_date_days = window(moment.date(), BY_DATE_DAYS)
    items = aggregate_items_get(
        [AGG_TOTAL_SK, AGG_SOURCES_SK, *month_keys(by_date_days)], config=config
    )
    total = items.get(AGG_TOTAL_SK, {})
    months: dict[str, Any] = {}
    for sk in month_keys(by_date_days):
        months |= items.get(sk, {})
    oldest, newest = captured_bounds(config=config)
    known = feeds()
    return {
        "summary": _summary(total, items.get(AGG_SOURCES_SK), oldest, newest, known, moment),
        "by_source": _by_source(total, known),
        "by_type": [
            {
                "source": f.source,
                "type": f.type,
                "count": int(total.get(f"typ#{f.source}#{f.type}", 0)),
            }
            for f in known
        ],
        "by_date": [{"date": d, "records": int(months.get(f"d#{d}", 0))} for d in by_date_days],
        "timeline": [
            {
                "date": d,
                "inserted": int(months.get(f"ins#{d}", 0)),
                "updated": int(months.get(f"upd#{d}", 0)),
                "records": int(months.get(f"d#{d}", 0)),
            }
            for d in by_date_days[-TIMELINE_DAYS:]
        ],
    }


def _by_source(total: dict[str, Any], known: list[Any]) -> list[dict[str, Any]]:
    sources = list(dict.fromkeys(f.source for f in known))
    return [{"source": s, "count": int(total.get(f"src#{s}", 0))} for s in sources]


def _summary(
    total: dict[str, Any],
    sources_item: dict[str, Any] | None,
    oldest: str | None,
    newest: str | None,
    known: list[Any],
    now: datetime,
) -> dict[str, Any]:
    sources = list(dict.fromkeys(f.source for f in known))
    return {
        "total_records": int(total.get("total", 0)),
        "sources": len(sources),
        "types": len(known),
        "oldest_captured_at": oldest,
        "newest_captured_at": newest,
        "inserts": int(total.get("inserts", 0)),
        "updates": int(total.get("updates", 0)),
        "last_ingest": source_status(sources_item, sources, now, settings.TWL_STALE_AFTER_SECONDS),
    }


def sources_overview(*, config: PipelineConfig) -> list[dict[str, Any]]:
    """Per source: enabled, record count and each feed's state, for the operator's console."""
    analytics = analytics_get(config=config)
    by_source = {row["source"]: row["count"] for row in analytics["by_source"]}
    by_type = {(row["source"], row["type"]): row["count"] for row in analytics["by_type"]}
    overview = []
    for name in sorted(SOURCES):
        feeds_ = [
            ledger.feed_state_get(source=name, type_=t, config=config) for t in SOURCES[name].types
        ]
        overview.append(
            {
                "name": name,
                "enabled": name in config.enabled_sources,
                "count": by_source.get(name, 0),
                "feeds": [{"state": f, "count": by_type.get((name, f.type), 0)} for f in feeds_],
                "last_success_at": max((f.last_success_at or "" for f in feeds_), default="")
                or None,
                **_last_failure(feeds_),
            }
        )
    return overview


def _last_failure(feeds_: list[Any]) -> dict[str, str | None]:
    failed = [f for f in feeds_ if f.last_failure_at]
    if not failed:
        return {"last_failure_at": None, "last_error": None}
    latest = max(failed, key=lambda f: f.last_failure_at or "")
    return {"last_failure_at": latest.last_failure_at, "last_error": latest.last_error}
