"""The curated DynamoDB table: the record shapes, and every read of it.

Writes are the upsert's (``pipeline.services.upsert``), which plans them from the
states read here. No read on a request path scans: lists are Queries on the
``SourceIndex``/``SourceTypeIndex`` partitions; only the operator's recount scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import CURATED_PK, SOURCE_INDEX_SK
from pipeline.stores import aws
from pipeline.stores.dynamo import batch_get, from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

_STATE_ATTRIBUTES = ("id", "fingerprint", "version", "captured_at", "first_seen_at")
_CENSUS_ATTRIBUTES = ("source", "type", "captured_at", "first_seen_at", "version")


@dataclass(frozen=True)
class CuratedRecord:
    """A record ready to upsert: identity, ordering, and the attributes to store."""

    id: str
    fingerprint: str
    captured_at: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class StoredState:
    """The part of a stored record the upsert decides on."""

    fingerprint: str
    version: int
    captured_at: str
    first_seen_at: str


@dataclass(frozen=True)
class IndexPartition:
    """One partition of a curated index (one source, or one source#type), read newest first."""

    label: str
    index: str
    pk_name: str
    pk_value: str


class _Projection(TypedDict):
    ProjectionExpression: str
    ExpressionAttributeNames: dict[str, str]


def _projection(attributes: tuple[str, ...]) -> _Projection:
    return {
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
        "ExpressionAttributeNames": {f"#a{i}": a for i, a in enumerate(attributes)},
    }


def states_get(ids: Iterable[str], *, config: PipelineConfig) -> dict[str, StoredState]:
    """Fetch the stored state of up to 100 ids with one BatchGetItem."""
    request: KeysAndAttributesTypeDef = {
        "Keys": [{CURATED_PK: {"S": i}} for i in dict.fromkeys(ids)],
        "ConsistentRead": True,
        **_projection(_STATE_ATTRIBUTES),
    }
    items = batch_get(aws.dynamodb(config), config.curated_table, request)
    return {
        data["id"]: StoredState(
            data["fingerprint"], int(data["version"]), data["captured_at"], data["first_seen_at"]
        )
        for data in items
    }


def transaction_write(items: list[TransactWriteItemTypeDef], *, config: PipelineConfig) -> None:
    """Commit record writes and their counter updates as one all-or-nothing transaction."""
    aws.dynamodb(config).transact_write_items(TransactItems=items)


def record_get(record_id: str, *, config: PipelineConfig) -> dict[str, Any] | None:
    """One whole curated record, or None."""
    reply = aws.dynamodb(config).get_item(
        TableName=config.curated_table, Key={CURATED_PK: {"S": record_id}}
    )
    return from_item(reply["Item"]) if "Item" in reply else None


def index_page(
    partition: IndexPartition,
    *,
    limit: int,
    start: dict[str, str] | None,
    config: PipelineConfig,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` items (wire shape) after ``start``; and whether DynamoDB stopped early."""
    kwargs: QueryInputTypeDef = {
        "TableName": config.curated_table,
        "IndexName": partition.index,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": partition.pk_name},
        "ExpressionAttributeValues": {":pk": {"S": partition.pk_value}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start:
        kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
    reply = aws.dynamodb(config).query(**kwargs)
    return list(reply.get("Items", [])), "LastEvaluatedKey" in reply


def index_edge(partition: IndexPartition, *, oldest: bool, config: PipelineConfig) -> str | None:
    """The oldest (or newest) ``captured_at`` in one partition: a 1-item Query."""
    reply = aws.dynamodb(config).query(
        TableName=config.curated_table,
        IndexName=partition.index,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": partition.pk_name, "#c": SOURCE_INDEX_SK},
        ExpressionAttributeValues={":pk": {"S": partition.pk_value}},
        ProjectionExpression="#c",
        ScanIndexForward=oldest,
        Limit=1,
    )
    items = reply.get("Items", [])
    return items[0][SOURCE_INDEX_SK]["S"] if items else None


def curated_census(*, config: PipelineConfig) -> Iterator[dict[str, Any]]:
    """Source, type, captures and version of every record: a full Scan (operator tools only)."""
    paginator = aws.dynamodb(config).get_paginator("scan")
    for page in paginator.paginate(
        TableName=config.curated_table, ConsistentRead=True, **_projection(_CENSUS_ATTRIBUTES)
    ):
        yield from (from_item(item) for item in page["Items"])
