"""The curated table's writes: an idempotent, change-detecting, batched upsert.

Upsert semantics (the README's contract): a new id is inserted at version 1; the same id with the
same fingerprint is not written at all; a new fingerprint updates it to version + 1.
Captures are ordered by (captured_at, fingerprint): an older capture arriving late
never overwrites a newer one, so redelivery in any order converges on one state.

Writes go through TransactWriteItems with conditions on the version read, so
concurrent workers cannot lose an update or count one twice; a conflict re-reads
and re-plans that chunk. Per 96 records: one BatchGetItem and one transaction,
which also carries the analytics counter updates (``pipeline.stores.counters``).
``plan_upserts`` is the functional core: it decides without I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import BATCH_GET_LIMIT, CURATED_PK, TRANSACT_LIMIT
from pipeline.core.errors import PipelineError, error_code
from pipeline.stores.counters import Delta
from pipeline.stores.curated import CuratedRecord, StoredState, states_get, transaction_write
from pipeline.stores.dynamo import to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

log = logging.getLogger(__name__)

_RETRYABLE_CANCEL_CODES = {"ConditionalCheckFailed", "TransactionConflict"}
MAX_PLAN_ATTEMPTS = 5
# Room in each 100-item transaction for the aggregate updates (TOTAL + month items).
RECORDS_PER_TRANSACTION = min(TRANSACT_LIMIT, BATCH_GET_LIMIT) - 4


@dataclass
class UpsertCounts:
    """What an upsert did, record by record."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale


@dataclass
class Plan:
    """The writes one chunk needs, its counter deltas, and how each record was classified."""

    writes: list[TransactWriteItemTypeDef] = field(default_factory=list)
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    delta: Delta = field(default_factory=Delta)

    def transact_items(self, ledger_table: str) -> list[TransactWriteItemTypeDef]:
        """Record writes plus the aggregate updates that count them, for one transaction."""
        return self.writes + self.delta.transact_items(ledger_table) if self.writes else []


class UpsertConflict(PipelineError):
    """A chunk kept conflicting with concurrent writers; the message will be retried."""


def plan_upserts(
    records: Sequence[CuratedRecord], current: dict[str, StoredState], table: str
) -> Plan:
    """Decide, without I/O, which records to insert, update or leave alone."""
    plan = Plan()
    for record in records:
        state = current.get(record.id)
        if state is None:
            plan.writes.append(_insert(record, table))
            plan.counts.inserted += 1
            plan.delta.insert(
                source=record.attributes["source"],
                type_=record.attributes["type"],
                captured_at=record.captured_at,
            )
        elif state.fingerprint == record.fingerprint:
            plan.counts.unchanged += 1
        elif (record.captured_at, record.fingerprint) < (state.captured_at, state.fingerprint):
            plan.counts.stale += 1
        else:
            plan.writes.append(_update(record, state, table))
            plan.counts.updated += 1
            plan.delta.update(old_captured_at=state.captured_at, captured_at=record.captured_at)
    return plan


def _insert(record: CuratedRecord, table: str) -> TransactWriteItemTypeDef:
    item = record.attributes | _bookkeeping(record, version=1, first_seen_at=record.captured_at)
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": CURATED_PK},
        }
    }


def _update(record: CuratedRecord, state: StoredState, table: str) -> TransactWriteItemTypeDef:
    item = record.attributes | _bookkeeping(
        record, version=state.version + 1, first_seen_at=state.first_seen_at
    )
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": "#v = :v AND #fp = :fp",
            "ExpressionAttributeNames": {"#v": "version", "#fp": "fingerprint"},
            "ExpressionAttributeValues": {
                ":v": {"N": str(state.version)},
                ":fp": {"S": state.fingerprint},
            },
        }
    }


def _bookkeeping(record: CuratedRecord, *, version: int, first_seen_at: str) -> dict[str, Any]:
    return {
        CURATED_PK: record.id,
        "fingerprint": record.fingerprint,
        "captured_at": record.captured_at,
        "version": version,
        "first_seen_at": first_seen_at,
    }


def records_upsert(
    records: Sequence[CuratedRecord], *, config: PipelineConfig, processed_at: str
) -> UpsertCounts:
    """Upsert records in chunks of 96: one batch read and at most one transaction each."""
    totals = UpsertCounts()
    stamped = [_with_processed_at(r, processed_at) for r in records]
    for chunk in _chunks(stamped, RECORDS_PER_TRANSACTION):
        totals.add(_upsert_chunk(chunk, config))
    return totals


def _with_processed_at(record: CuratedRecord, processed_at: str) -> CuratedRecord:
    attributes = record.attributes | {"processed_at": processed_at}
    return CuratedRecord(record.id, record.fingerprint, record.captured_at, attributes)


def _upsert_chunk(chunk: Sequence[CuratedRecord], config: PipelineConfig) -> UpsertCounts:
    for attempt in range(1, MAX_PLAN_ATTEMPTS + 1):
        current = states_get([r.id for r in chunk], config=config)
        plan = plan_upserts(chunk, current, config.curated_table)
        items = plan.transact_items(config.ledger_table)
        if not items:
            return plan.counts
        if len(items) > TRANSACT_LIMIT:
            # Rare: the chunk's captures span many months. Halve it and go again.
            half = len(chunk) // 2
            counts = _upsert_chunk(chunk[:half], config)
            counts.add(_upsert_chunk(chunk[half:], config))
            return counts
        try:
            transaction_write(items, config=config)
            return plan.counts
        except ClientError as exc:
            if not _is_conflict(exc):
                raise
            log.info("upsert conflict on attempt %d; re-reading %d records", attempt, len(chunk))
    raise UpsertConflict(f"{len(chunk)} records kept conflicting after {MAX_PLAN_ATTEMPTS} tries")


def _is_conflict(exc: ClientError) -> bool:
    if error_code(exc) == "TransactionConflictException":
        return True
    if error_code(exc) != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons", [])
    codes = {r.get("Code") for r in reasons} - {"None", None}
    return bool(codes) and codes <= _RETRYABLE_CANCEL_CODES


def _chunks(items: Sequence[CuratedRecord], size: int) -> Iterator[Sequence[CuratedRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
