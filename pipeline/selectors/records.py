"""Reads of the curated layer for the API and pages: paged lists, one record, its raw item.

No Scan on any of these paths. A list is a newest-first merge of Queries over the
index partitions the filter selects (one per source, or one per source#type), each
asked for ``limit + 1`` items, so a page reads at most (partitions * (limit + 1))
items whatever the table's size. The cursor holds each partition's exact position
(DynamoDB's own ExclusiveStartKey), so a walk returns every record exactly once.
"""

from __future__ import annotations

import heapq
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.core import signing

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    CURATED_PK,
    SOURCE_INDEX,
    SOURCE_INDEX_PK,
    SOURCE_INDEX_SK,
    TYPE_INDEX,
    TYPE_INDEX_PK,
)
from pipeline.core.errors import BadRequest, NotFound, PipelineError, Unshowable
from pipeline.core.payloads import json_loads_exact
from pipeline.sources import SOURCES, get_source, known_types, object_source
from pipeline.sources.base import Source
from pipeline.stores import raw_store
from pipeline.stores.curated import IndexPartition, index_edge, index_page, record_get
from pipeline.stores.dynamo import from_item

CURSOR_SALT = "twl-pipeline.records.cursor"
CURSOR_VERSION = 1
END = "end"
MAX_ID_LENGTH = 256
# Printable, no spaces, no slashes (ids are path segments); the OpenAPI schema uses it too.
RECORD_ID_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f/]{1,256}$"


@dataclass(frozen=True)
class Page:
    """One page of records and the cursor of the next one (None at the end)."""

    records: list[dict[str, Any]]
    next_cursor: str | None


def streams_for(source: str | None, type_: str | None) -> list[IndexPartition]:
    """The index partitions a filter selects; unknown names are a BadRequest."""
    if source is not None and source not in SOURCES:
        raise BadRequest(f"unknown source {source!r}; known: {', '.join(SOURCES)}", field="source")
    if type_ is not None and type_ not in known_types():
        raise BadRequest(f"unknown type {type_!r}; known: {', '.join(known_types())}", field="type")
    sources = [source] if source else list(SOURCES)
    if type_ is None:
        return [IndexPartition(s, SOURCE_INDEX, SOURCE_INDEX_PK, s) for s in sources]
    pairs = [f"{s}#{type_}" for s in sources if type_ in get_source(s).types]
    return [IndexPartition(p, TYPE_INDEX, TYPE_INDEX_PK, p) for p in pairs]


def _signer(config: PipelineConfig) -> signing.Signer:
    # Key and fallbacks given explicitly: Django's signer would otherwise read settings.
    return signing.Signer(key=config.signing_key, salt=CURSOR_SALT, fallback_keys=[])


def _encode(filters: list[str | None], positions: dict[str, Any], config: PipelineConfig) -> str:
    state = {"v": CURSOR_VERSION, "f": filters, "p": positions}
    return _signer(config).sign_object(state, compress=True)


def _decode(cursor: str, filters: list[str | None], config: PipelineConfig) -> dict[str, Any]:
    try:
        state = _signer(config).unsign_object(cursor)
    except (signing.BadSignature, ValueError, TypeError, OverflowError):
        raise BadRequest("cursor is not valid; start again without one", field="cursor") from None
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION:
        raise BadRequest("cursor is from another version; start again", field="cursor")
    if state.get("f") != filters:
        raise BadRequest("cursor belongs to other filters; start again", field="cursor")
    return state["p"]


def record_list(
    *,
    source: str | None = None,
    type_: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    config: PipelineConfig,
) -> Page:
    """Records newest first by ``captured_at``, filtered by source and/or type."""
    streams = streams_for(source, type_)
    filters = [source, type_]
    positions: dict[str, Any] = _decode(cursor, filters, config) if cursor else {}
    fetched = {s.label: _fetch(s, positions.get(s.label), limit, config) for s in streams}
    merged = heapq.merge(
        *[[(item, s) for item in fetched[s.label][0]] for s in streams],
        key=lambda pair: pair[0][SOURCE_INDEX_SK]["S"],
        reverse=True,
    )
    page: list[dict[str, Any]] = []
    for item, stream in merged:
        if len(page) == limit:
            break
        page.append(item)
        positions[stream.label] = _position(item, stream)
    return Page(
        [from_item(i) for i in page], _next(streams, fetched, page, positions, filters, config)
    )


def _fetch(
    stream: IndexPartition, position: Any, limit: int, config: PipelineConfig
) -> tuple[list[dict[str, Any]], bool]:
    """Up to limit + 1 items after ``position``; and whether DynamoDB stopped early."""
    if position == END:
        return [], False
    return index_page(stream, limit=limit + 1, start=position or None, config=config)


def _position(item: dict[str, Any], stream: IndexPartition) -> dict[str, str]:
    """The GSI key of ``item``: where the next page of its partition starts."""
    names = (CURATED_PK, stream.pk_name, SOURCE_INDEX_SK)
    return {name: item[name]["S"] for name in names}


def _next(
    streams: list[IndexPartition],
    fetched: dict[str, tuple[list, bool]],
    page: list[dict[str, Any]],
    positions: dict[str, Any],
    filters: list[str | None],
    config: PipelineConfig,
) -> str | None:
    taken = {id(item) for item in page}
    for stream in streams:
        items, stopped_early = fetched[stream.label]
        left = [i for i in items if id(i) not in taken]
        if not left and not stopped_early and positions.get(stream.label) != END:
            # Nothing more in this partition: mark it, so the next page skips it.
            positions[stream.label] = END
    if all(positions.get(s.label) == END for s in streams):
        return None
    return _encode(filters, positions, config)


def validate_record_id(record_id: str) -> str:
    """Ids are short printable text; anything else is a BadRequest before any AWS call."""
    if not record_id or len(record_id) > MAX_ID_LENGTH:
        raise BadRequest(f"record id must be 1 to {MAX_ID_LENGTH} characters", field="id")
    if not re.fullmatch(RECORD_ID_PATTERN, record_id):
        raise BadRequest("record id has control, space or slash characters", field="id")
    return record_id


def record_detail(record_id: str, *, config: PipelineConfig) -> dict[str, Any]:
    record = record_get(validate_record_id(record_id), config=config)
    if record is None:
        raise NotFound(f"no record {record_id!r}")
    return record


def record_raw_item(
    record_id: str, *, config: PipelineConfig, record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record's item as its source sent it, read from the raw object (secrets redacted).

    Pass ``record`` when the caller already read it, to save a GetItem.
    """
    record = record or record_detail(record_id, config=config)
    body, metadata = raw_store.raw_object_read(key=record["raw_s3_key"], config=config)
    try:
        # The version that fetched it reads its items; a deleted source's raw item is gone
        # from the API with it (the object itself stays in the raw layer).
        source = object_source(record["source"], metadata)
        current = get_source(record["source"])
    except PipelineError:
        raise NotFound(f"the source of record {record['id']} is no longer declared") from None
    items = source.items(record["type"], _parse_on_a_fresh_stack(body, record["raw_s3_key"]))
    index = int(record.get("raw_index", -1))
    if not 0 <= index < len(items):
        raise NotFound(f"item {index} is not in raw object {record['raw_s3_key']}")
    return {
        "id": record["id"],
        "raw_s3_key": record["raw_s3_key"],
        "raw_index": index,
        # Stripped by the rules it was fetched under and by today's, whichever remove more.
        "item": _redacted(record["type"], items[index], source, current),
    }


def _redacted(type_: str, item: Any, fetched_by: Source, current: Source) -> Any:
    """Stripped by the rules it was fetched under and by today's, whichever remove more."""
    item = fetched_by.redact(type_, item)
    return current.redact(type_, item) if type_ in current.types else item


def _parse_on_a_fresh_stack(body: bytes, key: str) -> Any:
    """Parse a raw body in a thread of its own.

    Python's JSON parser recurses once per nesting level; a web request sits a hundred
    frames deeper than the worker that parsed the same body, so a body the worker read
    could overflow here. A new thread starts with an empty stack: as much room as the
    worker had, or more.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(json_loads_exact, body).result()
        except RecursionError:
            raise Unshowable(f"raw object {key} nests too deeply to be read here") from None


def captured_bounds(*, config: PipelineConfig) -> tuple[str | None, str | None]:
    """Oldest and newest ``captured_at`` over current records: two 1-item Queries per source."""
    partitions = streams_for(None, None)
    oldest = [index_edge(p, oldest=True, config=config) for p in partitions]
    newest = [index_edge(p, oldest=False, config=config) for p in partitions]
    return (min(filter(None, oldest), default=None), max(filter(None, newest), default=None))
