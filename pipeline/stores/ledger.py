"""The ledger table: ingestion runs, each feed's stored state and health, message failures.

Feed health (last success, last failure and its error) is kept once, for every feed,
on one item (``AGG``/``SOURCES``), so the API, the dashboard, health checks and the
admin read it with a single key. A feed's *state* item (``FEED#…``) holds only what
ingest needs to skip unchanged bodies and re-send unsent ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    AGG_PK,
    AGG_SOURCES_SK,
    LEDGER_PK,
    LEDGER_SK,
    RUN_KIND,
    RUNS_INDEX,
    RUNS_INDEX_PK,
)
from pipeline.core.errors import error_code
from pipeline.stores import aws
from pipeline.stores.dynamo import batch_get, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef


@dataclass
class FeedState:
    """What ingest last stored for one feed (to skip unchanged bodies, re-send unsent ones)."""

    source: str
    type: str
    last_hash: str | None = None
    last_key: str | None = None
    last_captured_at: str | None = None
    # Stored in S3 but not yet enqueued (send failed or the run died): re-sent next run.
    pending_hash: str | None = None
    pending_key: str | None = None
    pending_captured_at: str | None = None
    # Declared sources: the hashes of the last run's pages (a page seen then is skipped),
    # and the incremental cursor the next run asks from.
    page_hashes: list[str] = field(default_factory=list)
    cursor_value: str | None = None
    # The curation digest those pages were stored under: after an edit that changes it,
    # every page is stored again so the records take the new rules.
    curation: str | None = None


# Public pages and APIs show a failure's short, safe reason, never its error text (AWS's
# words can name a role ARN or an operation). A failure recorded without one shows this.
UNDISCLOSED_REASON = "ingest failed; the details are in the admin"


def public_reason(reason: str | None, error: str | None) -> str | None:
    """What a public page may say of a failure: its reason; never the error itself."""
    if reason:
        return reason
    return UNDISCLOSED_REASON if error else None


@dataclass(frozen=True)
class FeedHealth:
    """How one feed's latest ingests went (``last_error`` is for staff, ``last_reason`` public)."""

    source: str
    type: str
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_error: str | None = None
    last_reason: str | None = None

    @property
    def public_reason(self) -> str | None:
        return public_reason(self.last_reason, self.last_error)


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
    error: str | None = None  # the full error: logs and the admin only
    reason: str | None = None  # short and safe: what public pages and APIs show
    schema_drift: str | None = None
    # Declared sources: pages fetched, the definition version that fetched them, and why
    # the fetch stopped early when it reached a bound (what it fetched is kept).
    pages: int = 0
    definition_version: int | None = None
    stopped: str | None = None
    # Of those pages, the ones stored and announced, and their items (the rest were
    # unchanged since the last run); None for a built-in feed, whose one body is it all.
    pages_stored: int = 0
    stored_items: int | None = None

    @property
    def public_stopped(self) -> str | None:
        """What public pages may say of an early stop: a bound's own words (counts only), else
        that a later page failed; the failure itself (URLs, hosts) is for staff."""
        if not self.stopped:
            return None
        if self.stopped.startswith("stopped at "):
            return self.stopped
        return "stopped early: a later page could not be fetched; the details are in the admin"

    @property
    def public_reason(self) -> str | None:
        return public_reason(self.reason, self.error)


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
    return _feed_state(source, type_, from_item(reply.get("Item", {})))


def feed_states_get(feeds: Iterable[tuple[str, str]], *, config: PipelineConfig) -> list[FeedState]:
    """The states of several feeds (source, type) in one BatchGetItem, in the order asked."""
    wanted = list(dict.fromkeys(feeds))
    found: dict[tuple[Any, Any], dict[str, Any]] = {}
    # BatchGetItem takes 100 keys at most; declared sources can bring more feeds.
    for start in range(0, len(wanted), 100):
        request: KeysAndAttributesTypeDef = {
            "Keys": [to_item(_feed_pk(s, t)) for s, t in wanted[start : start + 100]],
            "ConsistentRead": True,
        }
        for d in batch_get(aws.dynamodb(config), config.ledger_table, request):
            found[(d.get("source"), d.get("type"))] = d
    return [_feed_state(s, t, found.get((s, t), {})) for s, t in wanted]


def _feed_state(source: str, type_: str, data: dict[str, Any]) -> FeedState:
    known = {k: data[k] for k in FeedState.__dataclass_fields__ if k in data}
    return FeedState(**(known | {"source": source, "type": type_}))


def feed_state_put(state: FeedState, *, config: PipelineConfig) -> None:
    item = _feed_pk(state.source, state.type) | {"kind": "feed"} | asdict(state)
    aws.dynamodb(config).put_item(TableName=config.ledger_table, Item=to_item(item))


# --- feed health: one item for every feed ----------------------------------------------

_HEALTH_KEY = {LEDGER_PK: AGG_PK, LEDGER_SK: AGG_SOURCES_SK}
_OK, _FAIL, _ERR, _REASON = "ok#", "fail#", "err#", "rsn#"
MAX_ERROR_CHARS = 500


def feed_success_record(*, source: str, type_: str, at: str, config: PipelineConfig) -> None:
    """Remember a feed's last successful ingest (a stamp never moves back)."""
    _stamp_feed(f"{_OK}{source}#{type_}", at, {}, config)


def feed_failure_record(
    *,
    source: str,
    type_: str,
    at: str,
    error: str,
    reason: str | None = None,
    config: PipelineConfig,
) -> None:
    """Remember a feed's last failed ingest, its error (staff) and its safe reason (public)."""
    extra = {
        f"{_ERR}{source}#{type_}": error[:MAX_ERROR_CHARS],
        # Always written, so a reason never outlives the failure it described.
        f"{_REASON}{source}#{type_}": (reason or UNDISCLOSED_REASON)[:MAX_ERROR_CHARS],
    }
    _stamp_feed(f"{_FAIL}{source}#{type_}", at, extra, config)


def _stamp_feed(name: str, at: str, extra: dict[str, str], config: PipelineConfig) -> None:
    names = {"#f": name} | {f"#x{i}": k for i, k in enumerate(extra)}
    values = {":t": {"S": at}} | {f":x{i}": {"S": v} for i, v in enumerate(extra.values())}
    sets = ["#f = :t"] + [f"#x{i} = :x{i}" for i in range(len(extra))]
    try:
        aws.dynamodb(config).update_item(
            TableName=config.ledger_table,
            Key=to_item(_HEALTH_KEY),
            UpdateExpression="SET " + ", ".join(sets),
            # Stamps only move forward: a slow, older run never overwrites a newer one.
            ConditionExpression="attribute_not_exists(#f) OR #f < :t",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def feed_health_from(
    item: dict[str, Any] | None, feeds: Iterable[tuple[str, str]]
) -> list[FeedHealth]:
    """Each feed's health as read from the health item (``None``: nothing recorded yet)."""
    data = item or {}
    return [
        FeedHealth(
            source=s,
            type=t,
            last_success_at=data.get(f"{_OK}{s}#{t}"),
            last_failure_at=data.get(f"{_FAIL}{s}#{t}"),
            last_error=data.get(f"{_ERR}{s}#{t}"),
            last_reason=data.get(f"{_REASON}{s}#{t}"),
        )
        for s, t in feeds
    ]


def feed_health_get(
    feeds: Iterable[tuple[str, str]], *, config: PipelineConfig
) -> list[FeedHealth]:
    """Each feed's health with one GetItem."""
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table, Key=to_item(_HEALTH_KEY), ConsistentRead=True
    )
    item = from_item(reply["Item"]) if "Item" in reply else None
    return feed_health_from(item, feeds)


# Run ids are ``20261128T091500Z-1a2b3c4d`` (``pipeline.services.ingest.new_run_id``).
MAX_RUN_ID_CHARS = 64


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


def run_get(run_id: str, *, config: PipelineConfig) -> RunRecord | None:
    """One run by its id (None: no such run)."""
    if not 0 < len(run_id) <= MAX_RUN_ID_CHARS:
        return None  # not an id ingest makes, and DynamoDB caps the key's size
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table,
        Key=to_item({LEDGER_PK: f"RUN#{run_id}", LEDGER_SK: "RUN"}),
        ConsistentRead=True,
    )
    return _run_from(from_item(reply["Item"])) if "Item" in reply else None


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
