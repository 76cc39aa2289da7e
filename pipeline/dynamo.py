"""DynamoDB plumbing shared by the curated and ledger stores: typing and time stamps."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values to DynamoDB attribute values (floats must be Decimals)."""
    return {k: _SERIALIZER.serialize(v) for k, v in data.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
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


def json_loads_exact(body: bytes | str) -> Any:
    """Parse JSON keeping fractional numbers exact (DynamoDB rejects floats)."""
    return json.loads(body, parse_float=Decimal)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width ISO 8601 UTC with microseconds, so strings sort as times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


def batch_get(client: Any, table: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of one BatchGetItem request on ``table``, as plain values.

    DynamoDB may hand back some keys unprocessed; they are asked for again with
    exponential backoff until none is left.
    """
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: request} if request.get("Keys") else {}
    attempt = 0
    while pending:
        if attempt:
            time.sleep(min(0.05 * 2**attempt, 1.0))
        reply = client.batch_get_item(RequestItems=pending)
        found += [from_item(item) for item in reply.get("Responses", {}).get(table, [])]
        pending = reply.get("UnprocessedKeys") or {}
        attempt += 1
    return found
