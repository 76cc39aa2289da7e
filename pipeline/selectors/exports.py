"""What an export of the records holds: its size, its columns, and its records, page by page.

An export is the filtered set newest first, from its start, as the JSON walk returns
it (``record_list`` pages, so no Scan and each record once), never more than the
caller's cap. Everything an answer must say before its first byte is read without
touching the records themselves:

- the set's size from the exact counters (the TOTAL item), never by counting;
- the CSV columns from one 1-item Query per selected feed: the feed's newest record
  names its curated fields. ``curate()`` gives every item of a type the same keys, so
  one record speaks for its feed; sources declare no field list, and production code
  cannot curate test samples. A field only older records have (curated by an earlier
  version) has no column; the NDJSON export still carries it.

Personal fields are the caller's to withhold from rows (``access.records_shown``); the
columns here already leave out a field that no row the reader sees can fill.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import AGG_TOTAL_SK
from pipeline.selectors.access import personal_fields, withheld
from pipeline.selectors.records import record_list, streams_for
from pipeline.sources import Feed, feeds
from pipeline.stores import counters
from pipeline.stores.curated import index_page
from pipeline.stores.dynamo import from_item

EXPORT_PAGE_SIZE: Final = 100
CORE_COLUMNS: Final = (
    "id",
    "source",
    "type",
    "title",
    "captured_at",
    "first_seen_at",
    "processed_at",
    "version",
    "fingerprint",
    "raw_s3_key",
    "run_id",
)
DATA_PREFIX: Final = "data."


def selected_feeds(source: str | None, type_: str | None) -> list[Feed]:
    """The feeds a filter selects; an unknown source or type is a BadRequest."""
    streams_for(source, type_)  # the one place that names a bad filter
    chosen = feeds([source] if source else None)
    return [f for f in chosen if type_ is None or f.type == type_]


def export_total(source: str | None, type_: str | None, *, config: PipelineConfig) -> int:
    """How many records the filter selects, from the exact counters: one 1-item read.

    The TOTAL counter item alone, not the whole analytics document (which also reads
    each source's oldest and newest capture and the feeds' health).
    """
    total = counters.aggregate_items_get([AGG_TOTAL_SK], config=config).get(AGG_TOTAL_SK, {})
    if source is None and type_ is None:
        return int(total.get("total", 0))
    if type_ is None:
        return int(total.get(counters.source_counter(source or ""), 0))
    chosen = selected_feeds(source, type_)
    return sum(int(total.get(counters.type_counter(f.source, f.type), 0)) for f in chosen)


def feed_fields(feed: Feed, *, config: PipelineConfig) -> list[str]:
    """The curated field names of a feed, sorted, from its newest record (a 1-item Query)."""
    partition = streams_for(feed.source, feed.type)[0]
    items, _ = index_page(partition, limit=1, start=None, config=config)
    data = from_item(items[0]).get("data") if items else None
    return sorted(data) if isinstance(data, dict) else []


def export_columns(
    source: str | None, type_: str | None, *, personal: bool, config: PipelineConfig
) -> list[str]:
    """The CSV header: core fields, then ``data.<field>`` for the selected feeds' fields.

    Without ``personal``, a field is left out when it is personal in every selected feed
    that has it (``data.name`` stays for a comment's subject line, though a user's name
    is withheld): the header names no column only personal values could fill.
    """
    fields: dict[str, None] = {}
    for feed in selected_feeds(source, type_):
        hidden = frozenset() if personal else personal_fields(feed.source, feed.type)
        fields |= {f: None for f in feed_fields(feed, config=config) if not withheld(f, hidden)}
    return [*CORE_COLUMNS, *(DATA_PREFIX + f for f in fields)]


def record_export_pages(
    *,
    source: str | None,
    type_: str | None,
    limit: int,
    config: PipelineConfig,
    page_size: int = EXPORT_PAGE_SIZE,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of the filtered set, newest first, at most ``limit`` records in all.

    Lazy: each page is read when the previous one has been consumed, so a streamed
    answer holds one page in memory, and a reader that stops early reads no more.
    """
    left, cursor = limit, None
    while left > 0:
        page = record_list(
            source=source, type_=type_, limit=min(page_size, left), cursor=cursor, config=config
        )
        if not page.records:
            return  # an empty page ends the walk, whatever its cursor says
        yield page.records
        left -= len(page.records)
        cursor = page.next_cursor
        if cursor is None:
            return
