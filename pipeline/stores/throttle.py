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
from typing import Final

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import LEDGER_PK, LEDGER_SK
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
