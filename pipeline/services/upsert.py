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

A record DynamoDB refuses never fails its neighbours: one the serializer cannot encode
is left out of the plan; one a transaction's CancellationReasons name as a validation
error is dropped and the rest re-planned; a request-level ValidationException (no
reasons) is narrowed down by halving the chunk. Refused records are reported in
``UpsertCounts.refused`` and contribute nothing to the counts or the counters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.core import tracing
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
# How a cancellation reason names an item DynamoDB will not store ("ValidationError" on
# AWS; moto says "ValidationException").
_ITEM_INVALID_CODES = {"ValidationError", "ValidationException"}
_REASON_CHARS = 200
MAX_PLAN_ATTEMPTS = 5
# Room in each 100-item transaction for the aggregate updates (TOTAL + month items).
RECORDS_PER_TRANSACTION = min(TRANSACT_LIMIT, BATCH_GET_LIMIT) - 4


@dataclass(frozen=True)
class Refusal:
    """A record DynamoDB would not store, and what it said."""

    record_id: str
    reason: str


@dataclass
class UpsertCounts:
    """What an upsert did, record by record; refused records are in no count."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.refused += other.refused


@dataclass
class Plan:
    """The writes one chunk needs, its counter deltas, and how each record was classified."""

    writes: list[TransactWriteItemTypeDef] = field(default_factory=list)
    # The record id of each write, in the same order (cancellation reasons are positional).
    write_ids: list[str] = field(default_factory=list)
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
    """Decide, without I/O, which records to insert, update or leave alone.

    A record whose attributes the serializer cannot encode is refused, not planned.
    """
    plan = Plan()
    for record in records:
        state = current.get(record.id)
        try:
            if state is None:
                write = _insert(record, table)
            elif state.fingerprint == record.fingerprint:
                plan.counts.unchanged += 1
                continue
            elif (record.captured_at, record.fingerprint) < (state.captured_at, state.fingerprint):
                plan.counts.stale += 1
                continue
            else:
                write = _update(record, state, table)
        except (TypeError, ValueError, ArithmeticError) as exc:
            # decimal's signals are ArithmeticErrors; floats and odd types are TypeErrors.
            reason = f"DynamoDB cannot store the item ({type(exc).__name__})"
            plan.counts.refused.append(Refusal(record.id, reason))
            continue
        plan.writes.append(write)
        plan.write_ids.append(record.id)
        if state is None:
            plan.counts.inserted += 1
            plan.delta.insert(
                source=record.attributes["source"],
                type_=record.attributes["type"],
                captured_at=record.captured_at,
            )
        else:
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
        with tracing.subsegment(tracing.UPSERT_BATCH, records=len(chunk)) as span:
            counts = _upsert_chunk(chunk, config)
            tracing.annotate(
                span, inserted=counts.inserted, updated=counts.updated, refused=len(counts.refused)
            )
        totals.add(counts)
    return totals


def _with_processed_at(record: CuratedRecord, processed_at: str) -> CuratedRecord:
    attributes = record.attributes | {"processed_at": processed_at}
    return CuratedRecord(record.id, record.fingerprint, record.captured_at, attributes)


def _upsert_chunk(
    chunk: Sequence[CuratedRecord], config: PipelineConfig, *, whole: bool = True
) -> UpsertCounts:
    """One chunk's read, plan and transaction; ``whole`` is off for the parts ``_isolate`` tries."""
    pending, refused, conflicts = list(chunk), UpsertCounts(), 0
    while pending:
        current = states_get([r.id for r in pending], config=config)
        plan = plan_upserts(pending, current, config.curated_table)
        items = plan.transact_items(config.ledger_table)
        if not items:
            return _joined(plan.counts, refused)
        if len(items) > TRANSACT_LIMIT:
            # Rare: the chunk's captures span many months. Halve it and go again.
            half = len(pending) // 2
            counts = _upsert_chunk(pending[:half], config, whole=whole)
            counts.add(_upsert_chunk(pending[half:], config, whole=whole))
            return _joined(counts, refused)
        try:
            transaction_write(items, config=config)
            return _joined(plan.counts, refused)
        except ClientError as exc:
            named = _refused_writes(exc, plan)
            if named:
                log.warning("DynamoDB refused %d record(s); writing the others", len(named))
                refused.refused += named
                gone = {r.record_id for r in named}
                pending = [r for r in pending if r.id not in gone]
                continue
            if error_code(exc) == "ValidationException":
                return _joined(_isolate(pending, exc, config, whole=whole), refused)
            if not _is_conflict(exc):
                raise
            conflicts += 1
            if conflicts >= MAX_PLAN_ATTEMPTS:
                raise UpsertConflict(
                    f"{len(pending)} records kept conflicting after {MAX_PLAN_ATTEMPTS} tries"
                ) from None
            log.info("upsert conflict on try %d; re-reading %d records", conflicts, len(pending))
    return refused


def _joined(counts: UpsertCounts, refused: UpsertCounts) -> UpsertCounts:
    counts.add(refused)
    return counts


def _refused_writes(exc: ClientError, plan: Plan) -> list[Refusal]:
    """The record writes a cancelled transaction's reasons name as invalid items.

    A validation error on a counter update is not any record's fault: nothing is named
    and the error goes up.
    """
    if error_code(exc) != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons", [])
    named: list[Refusal] = []
    for position, reason in enumerate(reasons):
        if reason.get("Code") not in _ITEM_INVALID_CODES:
            continue
        if position >= len(plan.writes):
            return []
        named.append(Refusal(plan.write_ids[position], _refusal_reason(reason.get("Message"))))
    return named


def _isolate(
    records: Sequence[CuratedRecord], exc: ClientError, config: PipelineConfig, *, whole: bool
) -> UpsertCounts:
    """A ValidationException that names no item: halve until the culprit is alone, refuse it.

    Costs extra calls only when it happens. If every record of a whole chunk ends up
    refused the fault is not theirs (say, a bad counter update): the error goes up
    rather than turning good records into rejections.
    """
    if len(records) == 1:
        if whole:
            raise exc  # one record alone: nothing tells its fault from the request's
        log.warning("DynamoDB refused record %s: %s", records[0].id, exc)
        return UpsertCounts(refused=[Refusal(records[0].id, _refusal_reason(_message(exc)))])
    half = len(records) // 2
    counts = _upsert_chunk(records[:half], config, whole=False)
    counts.add(_upsert_chunk(records[half:], config, whole=False))
    if whole and len(counts.refused) == len(records):
        raise exc
    return counts


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or error_code(exc)


def _refusal_reason(message: str | None) -> str:
    return f"DynamoDB refused the item: {message or 'validation error'}"[:_REASON_CHARS]


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
