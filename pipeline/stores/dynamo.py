"""DynamoDB plumbing shared by the stores: attribute typing and batched reads with backoff."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesTypeDef,
        KeysAndAttributesUnionTypeDef,
    )

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(data: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    """Plain Python values to DynamoDB attribute values (floats must be Decimals)."""
    return {k: _SERIALIZER.serialize(v) for k, v in data.items()}


def from_item(item: Mapping[str, AttributeValueTypeDef]) -> dict[str, Any]:
    """DynamoDB attribute values to plain Python values (numbers as int or Decimal)."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def batch_get(
    client: DynamoDBClient, table: str, request: KeysAndAttributesTypeDef
) -> list[dict[str, Any]]:
    """Every item of one BatchGetItem request on ``table``, as plain values.

    DynamoDB may hand back some keys unprocessed; they are asked for again with
    exponential backoff until none is left.
    """
    found: list[dict[str, Any]] = []
    pending: Mapping[str, KeysAndAttributesUnionTypeDef] = (
        {table: request} if request.get("Keys") else {}
    )
    attempt = 0
    while pending:
        if attempt:
            time.sleep(min(0.05 * 2**attempt, 1.0))
        reply = client.batch_get_item(RequestItems=pending)
        found += [from_item(item) for item in reply.get("Responses", {}).get(table, [])]
        pending = reply.get("UnprocessedKeys") or {}
        attempt += 1
    return found
