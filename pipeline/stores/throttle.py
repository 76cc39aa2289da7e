"""Request counters every web instance shares: fixed windows on the ledger table.

One item per client, scope and window (``THROTTLE#<scope>#<client>`` / window start),
counted by a single conditional ``UpdateItem ADD``: the condition refuses the hit once
the window holds ``limit`` hits, so a request costs exactly one DynamoDB call whether
it is let through or not, and the count holds across Lambda instances. Items carry a
TTL attribute (``expires_at``, enabled on the table by provisioning), so old windows
disappear without a sweep; nothing ever reads an expired window, so DynamoDB's lazy
TTL deletion does not matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import BATCH_GET_LIMIT, LEDGER_PK, LEDGER_SK
from pipeline.stores import aws

THROTTLE_PK_PREFIX: Final = "THROTTLE#"
THROTTLE_HITS: Final = "hits"
# The ledger table's TTL attribute (epoch seconds); provisioning enables TTL on it.
LEDGER_TTL_ATTRIBUTE: Final = "expires_at"
# Keys are client addresses; anything longer is not one and is cut, keeping items small.
MAX_CLIENT_KEY_CHARS: Final = 64
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Hit:
    """The outcome of one counted request."""

    allowed: bool
    count: int  # hits in the window after this one (the limit when refused)
    retry_after: int  # whole seconds until the window ends


def throttle_key(scope: str, client: str) -> str:
    """The partition key of one client's counters in one scope."""
    return f"{THROTTLE_PK_PREFIX}{scope}#{client[:MAX_CLIENT_KEY_CHARS]}"


def window_start(now: float, period: int) -> int:
    """The start (epoch seconds) of the fixed window holding ``now``."""
    return int(now // period) * period


def throttle_hit(
    *, scope: str, client: str, limit: int, period: int, now: float, config: PipelineConfig
) -> Hit:
    """Count one request of ``client`` in ``scope``; refused once the window holds ``limit``.

    Raises what the DynamoDB call raises other than the refusal itself (the caller
    decides whether an unreachable store lets the request through).
    """
    start = window_start(now, period)
    retry_after = max(1, math.ceil(start + period - now))
    try:
        reply = aws.dynamodb(config).update_item(
            TableName=config.ledger_table,
            Key={LEDGER_PK: {"S": throttle_key(scope, client)}, LEDGER_SK: {"S": str(start)}},
            UpdateExpression="ADD #hits :one SET #expires = :expires",
            ConditionExpression="attribute_not_exists(#hits) OR #hits < :limit",
            ExpressionAttributeNames={"#hits": THROTTLE_HITS, "#expires": LEDGER_TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(start + period)},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
            return Hit(allowed=False, count=limit, retry_after=retry_after)
        raise
    count = int(reply.get("Attributes", {}).get(THROTTLE_HITS, {}).get("N", "1"))
    return Hit(allowed=True, count=count, retry_after=retry_after)


# When each API key was last used: one item per key, next to its counters. Stamped at
# most once a minute per key and web instance (``records_api.access``), so a busy key
# costs one small write a minute, not one per request.
KEY_USED_SCOPE: Final = "apikey-used"
KEY_USED_SK: Final = "last"
KEY_USED_ATTRIBUTE: Final = "used_at"


def key_used_stamp(prefix: str, *, at: str, config: PipelineConfig) -> None:
    """Record that the key ``prefix`` was used at ``at`` (ISO 8601 UTC); keeps the latest."""
    try:
        aws.dynamodb(config).update_item(
            TableName=config.ledger_table,
            Key={
                LEDGER_PK: {"S": throttle_key(KEY_USED_SCOPE, prefix)},
                LEDGER_SK: {"S": KEY_USED_SK},
            },
            UpdateExpression="SET #used = :at",
            ConditionExpression="attribute_not_exists(#used) OR #used < :at",
            ExpressionAttributeNames={"#used": KEY_USED_ATTRIBUTE},
            ExpressionAttributeValues={":at": {"S": at}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
            raise


def keys_last_used(prefixes: list[str], *, config: PipelineConfig) -> dict[str, str]:
    """When each of ``prefixes`` was last used (absent: never, as far as we know)."""
    found: dict[str, str] = {}
    wanted = list(dict.fromkeys(prefixes))
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [
            {
                LEDGER_PK: {"S": throttle_key(KEY_USED_SCOPE, p)},
                LEDGER_SK: {"S": KEY_USED_SK},
            }
            for p in wanted[start : start + BATCH_GET_LIMIT]
        ]
        request: dict[str, Any] = {config.ledger_table: {"Keys": keys}}
        while request:
            reply = aws.dynamodb(config).batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(config.ledger_table, []):
                prefix = item[LEDGER_PK]["S"].removeprefix(throttle_key(KEY_USED_SCOPE, ""))
                found[prefix] = item[KEY_USED_ATTRIBUTE]["S"]
            request = reply.get("UnprocessedKeys") or {}
    return found
