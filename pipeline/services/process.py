"""Processing: one raw object (named by an SQS message) into curated records."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline.core import tracing
from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import CURATED_PK, RAW_META_DEFINITION_VERSION
from pipeline.core.errors import (
    InvalidItem,
    InvalidMessage,
    PipelineError,
    SourceError,
    error_code,
)
from pipeline.core.limits import item_check, raw_item_problem
from pipeline.core.logs import log_context
from pipeline.core.metrics import emit
from pipeline.core.payloads import content_hash, fingerprint, json_loads_exact
from pipeline.services.upsert import UpsertCounts, records_upsert
from pipeline.sources import object_source
from pipeline.sources.base import Source
from pipeline.sources.declared import DeclaredSource
from pipeline.stores import ledger, raw_store
from pipeline.stores.curated import CuratedRecord
from pipeline.stores.messages import RawObjectMessage, message_check, message_parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    """An item that could not be curated, and why."""

    index: int
    reason: str


@dataclass
class ProcessResult:
    """Counts for one processed raw object."""

    s3_key: str
    items: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def as_dict(self) -> dict[str, Any]:
        return {
            "s3_key": self.s3_key,
            "items": self.items,
            "inserted": self.counts.inserted,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "stale": self.counts.stale,
            "rejected": self.rejected,
        }


def process_body(body: str, *, config: PipelineConfig) -> ProcessResult:
    """Validate a message body from any producer, then process the raw object it names."""
    with tracing.subsegment(tracing.PROCESS_MESSAGE) as span:
        message = message_parse(body)
        tracing.annotate(span, source=message.source, type=message.type, run_id=message.runId)
        return process_message(message, config=config)


def process_failure_record(
    *, message_id: str, exc: Exception, receive_count: int, config: PipelineConfig
) -> None:
    """Keep why a message failed (the DLQ tools show it) and count it; never raises."""
    reason = f"{type(exc).__name__}: {exc}"
    log.warning("message %s failed: %s", message_id, reason)
    emit({"ProcessingErrors": 1}, dimensions={}, config=config)
    try:
        ledger.message_failure_put(
            message_id=message_id,
            reason=reason,
            receive_count=receive_count,
            at=iso(utc_now()),
            config=config,
        )
    except Exception:
        log.exception("could not record the failure reason of %s", message_id)


def process_message(message: RawObjectMessage, *, config: PipelineConfig) -> ProcessResult:
    """Read the raw object a message names, curate its items and upsert them.

    A message that breaks the contract (``message_check``), points at another bucket or
    a missing object, or whose hash or capture time differs from the object's own
    raises InvalidMessage (the message is retried, then dead-lettered with the reason).
    A bad item (the source's rules, DynamoDB's limits, a write DynamoDB refuses) is
    rejected with its reason; the others go on.
    """
    cfg = config
    context = {"run_id": message.runId, "source": message.source, "type": message.type}
    with log_context(**context, s3_key=message.s3Key[:200]):
        message_check(message)
        if message.s3Bucket != cfg.raw_bucket:
            raise InvalidMessage(
                f"s3Bucket {message.s3Bucket[:70]!r} is not this stage's raw bucket"
            )
        body, metadata = _read_raw(message, cfg)
        source = source_of(message.source, metadata)
        items = _payload_items(message, body, source)
        result = ProcessResult(s3_key=message.s3Key, items=len(items))
        records = _curate_all(message, items, result, source)
        result.counts = records_upsert(records, config=cfg, processed_at=iso(utc_now()))
        _reject_refused(records, result)
        _record_processed(message, result, cfg)
        log.info("processed: %s", result.as_dict())
        for rejection in result.rejections:
            log.warning("item %d rejected: %s", rejection.index, rejection.reason)
    return result


def _record_processed(
    message: RawObjectMessage, result: ProcessResult, config: PipelineConfig
) -> None:
    counts = {k: v for k, v in result.as_dict().items() if isinstance(v, int)}
    ledger.processed_put(
        run_id=message.runId,
        source=message.source,
        type_=message.type,
        digest=message.hash,
        counts=counts,
        config=config,
    )
    emit(
        {
            "RecordsInserted": result.counts.inserted,
            "RecordsUpdated": result.counts.updated,
            "RecordsUnchanged": result.counts.unchanged + result.counts.stale,
            "RecordsRejected": result.rejected,
        },
        dimensions={"source": message.source, "type": message.type},
        config=config,
    )


def source_of(name: str, metadata: Mapping[str, str]) -> Source:
    """The source that curates a raw object: for a declared one, the definition version that
    fetched it (its metadata says which), so a later edit never changes what replay rebuilds.
    """
    try:
        return object_source(name, metadata)
    except PipelineError as exc:
        version = metadata.get(RAW_META_DEFINITION_VERSION, "")[:12]
        raise InvalidMessage(f"{exc} (version {version or 'none'} of its definition)") from None


def _read_raw(message: RawObjectMessage, config: PipelineConfig) -> tuple[bytes, dict[str, str]]:
    """The body and metadata, checked against the message: hash and metadata (one GetObject)."""
    try:
        body, metadata = raw_store.raw_object_read(key=message.s3Key, config=config)
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404"}:
            raise InvalidMessage(f"raw object {message.s3Key!r} does not exist") from None
        if error_code(exc) in {"AccessDenied", "403"}:
            # Without s3:ListBucket on the key, S3 answers a missing key with 403, not 404.
            raise InvalidMessage(
                f"raw object {message.s3Key!r} does not exist or may not be read"
            ) from None
        raise
    if content_hash(body) != message.hash:
        raise InvalidMessage(f"raw object {message.s3Key!r} does not match the message hash")
    raw_store.raw_metadata_check(
        metadata,
        source=message.source,
        type_=message.type,
        captured_at=datetime.fromisoformat(message.capturedAt),
    )
    return body, dict(metadata)


def _payload_items(message: RawObjectMessage, body: bytes, source: Source) -> list[Any]:
    try:
        payload = json_loads_exact(body)
    except ValueError as exc:
        raise InvalidMessage(f"raw object {message.s3Key!r} is not JSON: {exc}") from None
    except RecursionError:
        # The whole body is one parse: nesting past Python's limit fails it, not an item.
        raise InvalidMessage(f"raw object {message.s3Key!r} is nested too deeply") from None
    try:
        return source.items(message.type, payload)
    except SourceError as exc:
        raise InvalidMessage(f"raw object {message.s3Key!r}: {exc}") from None


def _curate_all(
    message: RawObjectMessage, items: list[Any], result: ProcessResult, source: Source
) -> list[CuratedRecord]:
    by_id: dict[str, tuple[int, CuratedRecord]] = {}
    salt = source.curation_digest(message.type) if isinstance(source, DeclaredSource) else None
    for index, item in enumerate(items):
        problem = raw_item_problem(item)
        if problem is not None:
            result.rejections.append(Rejection(index, problem))
            continue
        try:
            curated = source.curate(message.type, item)
            record = _curate_one(message, index, item, curated, salt)
        except InvalidItem as exc:
            result.rejections.append(Rejection(index, str(exc)))
            continue
        except Exception as exc:
            # Curation is pure: whatever else it raises, this item caused it. Reject it
            # (the log keeps the traceback) rather than fail its neighbours.
            log.exception("item %d could not be curated", index)
            result.rejections.append(Rejection(index, f"could not curate: {type(exc).__name__}"))
            continue
        if record.id in by_id:
            # Two items with one id in one payload: keep the first, report the second.
            first = by_id[record.id][0]
            result.rejections.append(Rejection(index, f"duplicate id {record.id} (item {first})"))
            continue
        by_id[record.id] = (index, record)
    return [record for _, record in by_id.values()]


def _curate_one(
    message: RawObjectMessage, index: int, item: Any, curated: Any, salt: str | None
) -> CuratedRecord:
    """The record of one item; ``salt`` is a declared source's curation digest (None for a
    built-in source, whose fingerprint is the item's alone)."""
    record_id = f"{message.source}-{message.type}-{curated.natural_id}"
    attributes = {
        "source": message.source,
        "type": message.type,
        "source_type": f"{message.source}#{message.type}",
        "title": curated.title,
        "data": curated.fields,
        "raw_s3_key": message.s3Key,
        "raw_index": index,
        "run_id": message.runId,
    }
    # What DynamoDB would refuse is refused here, before it can cancel the neighbours'
    # transaction; the upsert adds its bookkeeping within the room item_check keeps.
    item_check({CURATED_PK: record_id} | attributes)
    print_ = _fingerprint(item if salt is None else {"item": item, "curation": salt})
    return CuratedRecord(record_id, print_, _normalised(message.capturedAt), attributes)


def _fingerprint(item: Any) -> str:
    try:
        return fingerprint(item)
    except UnicodeEncodeError:
        raise InvalidItem("item holds text that is not valid Unicode (a lone surrogate)") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidItem(f"item cannot be fingerprinted: {type(exc).__name__}") from None


def _reject_refused(records: list[CuratedRecord], result: ProcessResult) -> None:
    """Items DynamoDB refused at write time become rejections of their raw index."""
    if not result.counts.refused:
        return
    index_of = {record.id: record.attributes["raw_index"] for record in records}
    for refusal in result.counts.refused:
        result.rejections.append(Rejection(index_of[refusal.record_id], refusal.reason))
    result.rejections.sort(key=lambda rejection: rejection.index)


def _normalised(captured_at: str) -> str:
    """Any ISO 8601 time as our fixed-width UTC form, so stored times sort as strings."""
    return iso(datetime.fromisoformat(captured_at))
