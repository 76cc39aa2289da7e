"""The analytics counters (ledger table, partition ``AGG``): their keys, deltas, reads, deletes.

Every insert or update of a curated record adds its counter deltas to the *same*
DynamoDB transaction that writes the record (``Delta.transact_items``). The record's
condition (not there yet, or still at the version read) makes that transaction commit
at most once per change, so the counters change exactly once per inserted or changed
record, under redelivery, out-of-order delivery and concurrent workers alike. The
rules live here once: the upsert applies them per change, and the recount replays
them over the table.

Layout:
- ``TOTAL``: ``total``, ``inserts``, ``updates``, ``src#<source>``, ``typ#<source>#<type>``
- ``MONTH#YYYY-MM``: per day ``d#<date>`` (current records captured that day),
  ``ins#<date>`` and ``upd#<date>`` (inserts and updates whose capture was that day)

(The same partition also holds the feed-health item ``SOURCES``, owned by
``pipeline.stores.ledger``; it is not a counter.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import AGG_MONTH_SK_PREFIX, AGG_PK, AGG_TOTAL_SK, LEDGER_PK, LEDGER_SK
from pipeline.stores import aws
from pipeline.stores.dynamo import batch_get, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesTypeDef,
        TransactWriteItemTypeDef,
    )


def day_of(captured_at: str) -> str:
    return captured_at[:10]


def month_sk(day: str) -> str:
    return AGG_MONTH_SK_PREFIX + day[:7]


def source_counter(source: str) -> str:
    return f"src#{source}"


def type_counter(source: str, type_: str) -> str:
    return f"typ#{source}#{type_}"


def records_on(day: str) -> str:
    """Current records captured on ``day`` (MONTH item)."""
    return f"d#{day}"


def inserts_on(day: str) -> str:
    return f"ins#{day}"


def updates_on(day: str) -> str:
    return f"upd#{day}"


def is_counter_item(sk: str) -> bool:
    """TOTAL and MONTH# items are counters; anything else in the partition is not."""
    return sk == AGG_TOTAL_SK or sk.startswith(AGG_MONTH_SK_PREFIX)


@dataclass
class Delta:
    """Counter changes, keyed by aggregate item (sort key) then attribute."""

    items: dict[str, Counter[str]] = field(default_factory=dict)

    def _add(self, sk: str, attribute: str, amount: int) -> None:
        self.items.setdefault(sk, Counter())[attribute] += amount

    def insert(self, *, source: str, type_: str, captured_at: str) -> None:
        """A new record: counted in total, by source and type, and on its capture day."""
        day = day_of(captured_at)
        for attribute in ("total", "inserts", source_counter(source), type_counter(source, type_)):
            self._add(AGG_TOTAL_SK, attribute, 1)
        self._add(month_sk(day), records_on(day), 1)
        self._add(month_sk(day), inserts_on(day), 1)

    def update(self, *, old_captured_at: str, captured_at: str) -> None:
        """A changed record: one update, and its day moves from the old capture to the new."""
        old_day, day = day_of(old_captured_at), day_of(captured_at)
        self._add(AGG_TOTAL_SK, "updates", 1)
        self._add(month_sk(old_day), records_on(old_day), -1)
        self._add(month_sk(day), records_on(day), 1)
        self._add(month_sk(day), updates_on(day), 1)

    def transact_items(self, table: str) -> list[TransactWriteItemTypeDef]:
        """One ``Update`` with ADD per aggregate item that actually changes."""
        ops: list[TransactWriteItemTypeDef] = []
        for sk, counters in sorted(self.items.items()):
            changes = {name: n for name, n in sorted(counters.items()) if n}
            if changes:
                ops.append(_add_update(table, sk, changes))
        return ops


def _key(sk: str) -> dict[str, AttributeValueTypeDef]:
    return to_item({LEDGER_PK: AGG_PK, LEDGER_SK: sk})


def _add_update(table: str, sk: str, changes: dict[str, int]) -> TransactWriteItemTypeDef:
    names = {f"#a{i}": name for i, name in enumerate(changes)}
    values: dict[str, AttributeValueTypeDef] = {
        f":v{i}": {"N": str(n)} for i, n in enumerate(changes.values())
    }
    expression = "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(changes)))
    return {
        "Update": {
            "TableName": table,
            "Key": _key(sk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def aggregate_items_get(
    sort_keys: Iterable[str], *, config: PipelineConfig
) -> dict[str, dict[str, Any]]:
    """Read items of the ``AGG`` partition in one BatchGetItem (at most 100 keys)."""
    keys = [_key(sk) for sk in dict.fromkeys(sort_keys)]
    request: KeysAndAttributesTypeDef = {"Keys": keys, "ConsistentRead": True}
    items = batch_get(aws.dynamodb(config), config.ledger_table, request)
    return {data[LEDGER_SK]: data for data in items}


def counter_items_list(*, config: PipelineConfig) -> dict[str, dict[str, Any]]:
    """Every counter item (TOTAL and MONTH#…), by sort key: a Query of one partition."""
    paginator = aws.dynamodb(config).get_paginator("query")
    stored: dict[str, dict[str, Any]] = {}
    for page in paginator.paginate(
        TableName=config.ledger_table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": LEDGER_PK},
        ExpressionAttributeValues={":pk": {"S": AGG_PK}},
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            data = from_item(item)
            if is_counter_item(data[LEDGER_SK]):
                stored[data[LEDGER_SK]] = data
    return stored


def counter_item_put(sk: str, counters: dict[str, int], *, config: PipelineConfig) -> None:
    """Overwrite one counter item with exactly ``counters`` (zeros left out)."""
    item = {LEDGER_PK: AGG_PK, LEDGER_SK: sk, **{k: v for k, v in counters.items() if v}}
    aws.dynamodb(config).put_item(TableName=config.ledger_table, Item=to_item(item))


def counter_item_delete(sk: str, *, config: PipelineConfig) -> None:
    aws.dynamodb(config).delete_item(TableName=config.ledger_table, Key=_key(sk))
