"""The ledger table: ingestion runs, each feed's latest state, message failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.config import PipelineConfig
from pipeline.constants import LEDGER_PK, LEDGER_SK, RUN_KIND, RUNS_INDEX, RUNS_INDEX_PK
from pipeline.dynamo import error_code, from_item, to_item


@dataclass
class FeedState:
    """What the pipeline last stored for one feed, and how its last attempts went."""

    source: str
    type: str
    last_hash: str | None = None
    last_key: str | None = None
    last_captured_at: str | None = None
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_error: str | None = None
    # Stored in S3 but not yet enqueued (send failed or the run died): re-sent next run.
    pending_hash: str | None = None
    pending_key: str | None = None
    pending_captured_at: str | None = None


@dataclass
class FeedOutcome:
    """One feed's result in one run."""

    source: str
    type: str
    outcome: str  # stored | unchanged | failed
    item_count: int = 0
    bytes: int = 0
    hash: str | None = None
    s3_key: str | None = None
    message_id: str | None = None
    error: str | None = None
    schema_drift: str | None = None


@dataclass
class RunRecord:
    """One ingestion run: when, why, and each feed's outcome."""

    run_id: str
    trigger: str
    started_at: str
    finished_at: str | None = None
    feeds: list[FeedOutcome] = field(default_factory=list)

    @property
    def status(self) -> str:
        """succeeded (no feed failed), partial (some failed) or failed (all failed)."""
        failed = sum(1 for f in self.feeds if f.outcome == "failed")
        if failed == 0:
            return "succeeded"
        return "failed" if failed == len(self.feeds) else "partial"


def _feed_pk(source: str, type_: str) -> dict[str, str]:
    return {LEDGER_PK: f"FEED#{source}#{type_}", LEDGER_SK: "STATE"}


def feed_state_get(*, source: str, type_: str, config: PipelineConfig) -> FeedState:
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table, Key=to_item(_feed_pk(source, type_)), ConsistentRead=True
    )
    data = from_item(reply.get("Item", {}))
    known = {k: data[k] for k in FeedState.__dataclass_fields__ if k in data}
    return FeedState(**(known | {"source": source, "type": type_}))


def feed_state_put(state: FeedState, *, config: PipelineConfig) -> None:
    item = _feed_pk(state.source, state.type) | {"kind": "feed"} | asdict(state)
    aws.dynamodb(config).put_item(TableName=config.ledger_table, Item=to_item(item))


def run_put(run: RunRecord, *, config: PipelineConfig) -> None:
    """Write (or overwrite) the run's ledger entry."""
    item = {
        LEDGER_PK: f"RUN#{run.run_id}",
        LEDGER_SK: "RUN",
        RUNS_INDEX_PK: RUN_KIND,
        "status": run.status,
        **asdict(run),
    }
    aws.dynamodb(config).put_item(TableName=config.ledger_table, Item=to_item(item))


def run_list(*, limit: int = 20, config: PipelineConfig) -> list[RunRecord]:
    """The most recent runs, newest first (a Query on the RunsByTime index)."""
    reply = aws.dynamodb(config).query(
        TableName=config.ledger_table,
        IndexName=RUNS_INDEX,
        KeyConditionExpression="#k = :k",
        ExpressionAttributeNames={"#k": RUNS_INDEX_PK},
        ExpressionAttributeValues={":k": {"S": RUN_KIND}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [_run_from(from_item(item)) for item in reply.get("Items", [])]


def _run_from(data: dict[str, Any]) -> RunRecord:
    feeds = [FeedOutcome(**f) for f in data.get("feeds", [])]
    return RunRecord(
        run_id=data["run_id"],
        trigger=data["trigger"],
        started_at=data["started_at"],
        finished_at=data.get("finished_at"),
        feeds=feeds,
    )


def message_failure_put(
    *, message_id: str, reason: str, receive_count: int, at: str, config: PipelineConfig
) -> None:
    """Remember why a message failed, so DLQ tools can show the reason next to it."""
    item = {
        LEDGER_PK: f"MSG#{message_id}",
        LEDGER_SK: "FAILURE",
        "kind": "message_failure",
        "message_id": message_id,
        "reason": reason[:2000],
        "receive_count": receive_count,
        "at": at,
    }
    aws.dynamodb(config).put_item(TableName=config.ledger_table, Item=to_item(item))


def message_failure_get(*, message_id: str, config: PipelineConfig) -> dict[str, Any] | None:
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table,
        Key=to_item({LEDGER_PK: f"MSG#{message_id}", LEDGER_SK: "FAILURE"}),
    )
    return from_item(reply["Item"]) if "Item" in reply else None


def processed_put(
    *,
    run_id: str,
    source: str,
    type_: str,
    digest: str,
    counts: dict[str, int],
    config: PipelineConfig,
) -> bool:
    """Record, once per raw object, what processing it produced (for run reconciliation).

    The first successful processing wins; a redelivery finds the entry and leaves it,
    so nothing is counted twice. Returns True when this call wrote it.
    """
    item = {
        LEDGER_PK: f"RUN#{run_id}",
        LEDGER_SK: f"PROCESSED#{source}#{type_}#{digest}",
        "kind": "processed",
        "source": source,
        "type": type_,
        **counts,
    }
    try:
        aws.dynamodb(config).put_item(
            TableName=config.ledger_table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": LEDGER_PK},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def run_items(run_id: str, *, config: PipelineConfig) -> list[dict[str, Any]]:
    """Every ledger item of one run: the run itself and its processed entries."""
    paginator = aws.dynamodb(config).get_paginator("query")
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(
        TableName=config.ledger_table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": LEDGER_PK},
        ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
        ConsistentRead=True,
    ):
        items += [from_item(i) for i in page["Items"]]
    return items
