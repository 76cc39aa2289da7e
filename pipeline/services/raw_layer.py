"""One body into the raw layer and its one message onto the queue: the step all sources share.

Built-in sources (one body per feed per run) and declared sources (one body per page) store
each body under the same key scheme with the same metadata, and announce it with the same
message, so processing, replay and the DLQ tools treat them alike.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.core.clock import iso
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    RAW_META_CAPTURED_AT,
    RAW_META_DEFINITION_VERSION,
    RAW_META_HASH,
    RAW_META_RUN_ID,
    RAW_META_SOURCE,
    RAW_META_TYPE,
)
from pipeline.sources import Feed
from pipeline.stores import messages, raw_store


def raw_metadata(
    feed: Feed, captured: datetime, digest: str, run_id: str, *, version: int | None = None
) -> dict[str, str]:
    """Its feed, capture time, hash, run and (declared sources) definition version."""
    metadata = {
        RAW_META_SOURCE: feed.source,
        RAW_META_TYPE: feed.type,
        RAW_META_CAPTURED_AT: iso(captured),
        RAW_META_HASH: digest,
        RAW_META_RUN_ID: run_id,
    }
    if version is not None:
        metadata[RAW_META_DEFINITION_VERSION] = str(version)
    return metadata


def raw_put(
    feed: Feed,
    body: bytes,
    *,
    captured: datetime,
    digest: str,
    run_id: str,
    config: PipelineConfig,
    version: int | None = None,
) -> str:
    """Write one body under its raw key; returns the key."""
    key = raw_store.raw_key(
        source=feed.source, type_=feed.type, captured_at=captured, digest=digest
    )
    metadata = raw_metadata(feed, captured, digest, run_id, version=version)
    raw_store.raw_object_put(key=key, body=body, metadata=metadata, config=config)
    return key


def raw_announce(
    feed: Feed,
    *,
    key: str,
    captured_at: str,
    digest: str,
    record_count: int,
    run_id: str,
    config: PipelineConfig,
) -> str:
    """Send the one message of a stored raw object; returns its SQS message id."""
    message = messages.message_build(
        source=feed.source,
        type_=feed.type,
        bucket=config.raw_bucket,
        key=key,
        captured_at=captured_at,
        digest=digest,
        record_count=record_count,
        run_id=run_id,
    )
    return messages.message_send(message, config=config)
