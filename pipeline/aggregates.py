"""Analytics aggregates: exact counters maintained by processing, and their recount.

Every insert or update of a curated record adds its counter deltas to the *same*
DynamoDB transaction that writes the record. The record's condition (not there yet,
or still at the version read) makes that transaction commit at most once per change,
so the counters change exactly once per inserted or changed record, under
redelivery, out-of-order delivery and concurrent workers alike.

Layout (ledger table, partition ``AGG``):
- ``TOTAL``: ``total``, ``inserts``, ``updates``, ``src#<source>``, ``typ#<source>#<type>``
- ``MONTH#YYYY-MM``: per day ``d#<date>`` (current records captured that day),
  ``ins#<date>`` and ``upd#<date>`` (inserts and updates whose capture was that day)
- ``SOURCES``: ``ok#<source>#<type>``, the last successful ingest of each feed
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.config import PipelineConfig, get_config
from pipeline.constants import (
    AGG_MONTH_SK_PREFIX,
    AGG_PK,
    AGG_SOURCES_SK,
    AGG_TOTAL_SK,
    LEDGER_PK,
    LEDGER_SK,
)
from pipeline.dynamo import error_code, from_item, to_item


def _day(captured_at: str) -> str:
    return captured_at[:10]


def month_sk(day: str) -> str:
    return AGG_MONTH_SK_PREFIX + day[:7]


@dataclass
class Delta:
    """Counter changes for one chunk of upserts, keyed by aggregate item then attribute."""

    items: dict[str, Counter[str]] = field(default_factory=dict)

    def _add(self, sk: str, attribute: str, amount: int) -> None:
        self.items.setdefault(sk, Counter())[attribute] += amount

    def insert(self, *, source: str, type_: str, captured_at: str) -> None:
        day = _day(captured_at)
        for attribute in ("total", "inserts", f"src#{source}", f"typ#{source}#{type_}"):
            self._add(AGG_TOTAL_SK, attribute, 1)
        self._add(month_sk(day), f"d#{day}", 1)
        self._add(month_sk(day), f"ins#{day}", 1)

    def update(self, *, old_captured_at: str, captured_at: str) -> None:
        old_day, day = _day(old_captured_at), _day(captured_at)
        self._add(AGG_TOTAL_SK, "updates", 1)
        self._add(month_sk(old_day), f"d#{old_day}", -1)
        self._add(month_sk(day), f"d#{day}", 1)
        self._add(month_sk(day), f"upd#{day}", 1)

    def transact_items(self, table: str) -> list[dict[str, Any]]:
        """One ``Update`` with ADD per aggregate item that actually changes."""
        ops = []
        for sk, counters in sorted(self.items.items()):
            changes = {name: n for name, n in sorted(counters.items()) if n}
            if changes:
                ops.append(_add_update(table, sk, changes))
        return ops


def _add_update(table: str, sk: str, changes: dict[str, int]) -> dict[str, Any]:
    names = {f"#a{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": {"N": str(n)} for i, n in enumerate(changes.values())}
    expression = "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(changes)))
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({LEDGER_PK: AGG_PK, LEDGER_SK: sk}),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def feed_success_record(*, source: str, type_: str, at: str, config: PipelineConfig) -> None:
    """Remember a feed's last successful ingest on the one SOURCES item (never moves back)."""
    _stamp_feed(f"ok#{source}#{type_}", at, {}, config)


def feed_failure_record(
    *, source: str, type_: str, at: str, error: str, config: PipelineConfig
) -> None:
    """Remember a feed's last failed ingest and its error on the SOURCES item."""
    _stamp_feed(f"fail#{source}#{type_}", at, {f"err#{source}#{type_}": error[:500]}, config)


def _stamp_feed(name: str, at: str, extra: dict[str, str], config: PipelineConfig) -> None:
    names = {"#f": name} | {f"#x{i}": k for i, k in enumerate(extra)}
    values = {":t": {"S": at}} | {f":x{i}": {"S": v} for i, v in enumerate(extra.values())}
    sets = ["#f = :t"] + [f"#x{i} = :x{i}" for i in range(len(extra))]
    try:
        aws.dynamodb(config).update_item(
            TableName=config.ledger_table,
            Key=to_item({LEDGER_PK: AGG_PK, LEDGER_SK: AGG_SOURCES_SK}),
            UpdateExpression="SET " + ", ".join(sets),
            # Stamps only move forward: a slow, older run never overwrites a newer one.
            ConditionExpression="attribute_not_exists(#f) OR #f < :t",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


@dataclass
class RecountReport:
    """What a recount found: records counted and each counter that had drifted."""

    records: int
    drift: list[str]


# Update counts per day cannot be rebuilt from the table (only the latest version is
# kept), so a recount checks and rewrites everything else and leaves upd# alone.
_REBUILDABLE_MONTH_PREFIXES = ("d#", "ins#")


def recount(*, config: PipelineConfig | None = None, fix: bool = True) -> RecountReport:
    """Rebuild the counters from the curated table (a full Scan: an operator's tool)."""
    config = config or get_config()
    expected_total, expected_months, records = _count_table(config)
    stored = _stored_aggregates(config)
    drift = _diff(AGG_TOTAL_SK, expected_total, stored.get(AGG_TOTAL_SK, {}), prefixes=None)
    for sk in sorted(
        set(expected_months) | {k for k in stored if k.startswith(AGG_MONTH_SK_PREFIX)}
    ):
        drift += _diff(
            sk,
            expected_months.get(sk, Counter()),
            stored.get(sk, {}),
            prefixes=_REBUILDABLE_MONTH_PREFIXES,
        )
    if fix and drift:
        _rewrite(expected_total, expected_months, stored, config)
    return RecountReport(records=records, drift=drift)


def _count_table(config: PipelineConfig) -> tuple[Counter[str], dict[str, Counter[str]], int]:
    total: Counter[str] = Counter()
    months: dict[str, Counter[str]] = {}
    paginator = aws.dynamodb(config).get_paginator("scan")
    names = {
        "#s": "source",
        "#t": "type",
        "#c": "captured_at",
        "#f": "first_seen_at",
        "#v": "version",
    }
    for page in paginator.paginate(
        TableName=config.curated_table,
        ProjectionExpression=", ".join(names),
        ExpressionAttributeNames=names,
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            data = from_item(item)
            source, type_, version = data["source"], data["type"], int(data["version"])
            for attribute in ("total", "inserts", f"src#{source}", f"typ#{source}#{type_}"):
                total[attribute] += 1
            total["updates"] += version - 1
            day, first_day = _day(data["captured_at"]), _day(data["first_seen_at"])
            months.setdefault(month_sk(day), Counter())[f"d#{day}"] += 1
            months.setdefault(month_sk(first_day), Counter())[f"ins#{first_day}"] += 1
    return total, months, total["total"]


def _stored_aggregates(config: PipelineConfig) -> dict[str, dict[str, Any]]:
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
            stored[data[LEDGER_SK]] = data
    return stored


def _diff(
    sk: str, expected: Counter[str], stored: dict[str, Any], *, prefixes: tuple[str, ...] | None
) -> list[str]:
    def counted(name: str) -> bool:
        if name in (LEDGER_PK, LEDGER_SK):
            return False
        return prefixes is None or name.startswith(prefixes)

    names = sorted({n for n in expected if counted(n)} | {n for n in stored if counted(n)})
    return [
        f"{sk} {name}: stored {int(stored.get(name, 0))}, table says {expected.get(name, 0)}"
        for name in names
        if int(stored.get(name, 0)) != expected.get(name, 0)
    ]


def _rewrite(
    total: Counter[str],
    months: dict[str, Counter[str]],
    stored: dict[str, dict[str, Any]],
    config: PipelineConfig,
) -> None:
    ddb = aws.dynamodb(config)
    ddb.put_item(TableName=config.ledger_table, Item=to_item(_agg_item(AGG_TOTAL_SK, total)))
    for sk in set(months) | {k for k in stored if k.startswith(AGG_MONTH_SK_PREFIX)}:
        kept = {k: v for k, v in stored.get(sk, {}).items() if k.startswith("upd#")}
        item = _agg_item(sk, months.get(sk, Counter()))
        ddb.put_item(TableName=config.ledger_table, Item=to_item(item | kept))


def _agg_item(sk: str, counters_: Counter[str]) -> dict[str, Any]:
    return {LEDGER_PK: AGG_PK, LEDGER_SK: sk, **{k: v for k, v in counters_.items() if v}}


def counters_reset(*, config: PipelineConfig | None = None) -> int:
    """Delete every record counter (not the feed stamps), before replaying onto an empty table.

    Replay then rebuilds them exactly, per-day update counts included, which a recount
    cannot. Returns how many counter items were deleted.
    """
    config = config or get_config()
    stored = _stored_aggregates(config)
    doomed = [sk for sk in stored if sk == AGG_TOTAL_SK or sk.startswith(AGG_MONTH_SK_PREFIX)]
    for sk in doomed:
        aws.dynamodb(config).delete_item(
            TableName=config.ledger_table, Key=to_item({LEDGER_PK: AGG_PK, LEDGER_SK: sk})
        )
    return len(doomed)
