"""The admin's jobs in AWS: each job's record in the ledger, and the invoke that hands it over.

The web function's role may only read data, but it may invoke the worker, whose role
writes, and it may write one kind of ledger item besides the rate limiter's counters:
a job's record (``JOB#<job id>``, ``dynamodb:LeadingKeys``). The web writes a job
``queued`` (or ``rejected`` when the invoke is refused); the worker moves it to
``running`` and then ``done`` or ``failed``. Each move is conditional on the status
before it, so a second delivery of the same event finds the job taken and runs nothing.
``pipeline.services.jobs`` decides what to hand over and builds the event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, TypeGuard

from botocore.exceptions import ClientError

from pipeline.core.clock import parse_iso
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    JOB_KIND,
    JOB_PK_PREFIX,
    JOB_SK,
    JOB_TTL,
    LEDGER_PK,
    LEDGER_SK,
    RUNS_INDEX,
    RUNS_INDEX_PK,
)
from pipeline.core.errors import error_code
from pipeline.stores import aws
from pipeline.stores.dynamo import from_item, to_item
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE

QUEUED: Final = "queued"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
REJECTED: Final = "rejected"
# A job in one of these is not over yet: its page refreshes itself.
ACTIVE: Final = (QUEUED, RUNNING)
# Job ids are uuid4 hex: nothing else is ever looked up or written as a key.
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_STATUS = "status"


@dataclass(frozen=True)
class JobRecord:
    """One admin job as the ledger keeps it (``reason`` is for staff only)."""

    job_id: str
    job: str
    kwargs: str  # a short summary, never the whole payload
    requested_by: str
    status: str
    started_at: str  # when it was asked for (the runs index's sort key)
    running_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    run_id: str | None = None
    request_id: str | None = None  # the worker's Lambda request id: its log lines

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def is_job_id(value: object) -> TypeGuard[str]:
    """True for a job id as ``dispatch`` makes them (32 lowercase hex digits)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def _key(job_id: str) -> dict[str, str]:
    return {LEDGER_PK: f"{JOB_PK_PREFIX}{job_id}", LEDGER_SK: JOB_SK}


def _expires_at(started_at: str) -> int:
    return int((parse_iso(started_at) + JOB_TTL).timestamp())


def _stored(record: JobRecord) -> dict[str, Any]:
    """The item's attributes besides its key (absent fields are left out)."""
    fields = {k: v for k, v in asdict(record).items() if v is not None}
    return fields | {RUNS_INDEX_PK: JOB_KIND, LEDGER_TTL_ATTRIBUTE: _expires_at(record.started_at)}


def job_record_put(record: JobRecord, *, config: PipelineConfig) -> None:
    """Write a new job's record (PutItem on its own ``JOB#`` key)."""
    aws.dynamodb(config).put_item(
        TableName=config.ledger_table,
        Item=to_item(_key(record.job_id) | _stored(record)),
        ConditionExpression="attribute_not_exists(#pk)",
        ExpressionAttributeNames={"#pk": LEDGER_PK},
    )


def job_record_move(
    job_id: str,
    changes: Mapping[str, object],
    *,
    expect: tuple[str, ...],
    seed: JobRecord | None = None,
    config: PipelineConfig,
) -> bool:
    """Set ``changes`` (a new status and its fields) if the job's status is in ``expect``.

    With ``seed``, a job with no record yet (an event made by hand) gets one: the
    seed's fields are written where none is stored. False when the job is in another
    status (taken or over already); the caller reads it to say which.
    """
    sets: dict[str, object] = {k: v for k, v in changes.items() if v is not None}
    seeded: dict[str, object] = _stored(seed) if seed is not None else {}
    seeded = {k: v for k, v in seeded.items() if k not in sets}
    names = {f"#n{i}": name for i, name in enumerate([*sets, *seeded])}
    values = {f":v{i}": value for i, value in enumerate([*sets.values(), *seeded.values()])}
    assignments = [f"#n{i} = :v{i}" for i in range(len(sets))]
    assignments += [f"#n{i} = if_not_exists(#n{i}, :v{i})" for i in range(len(sets), len(names))]
    expected = {f":e{i}": status for i, status in enumerate(expect)}
    condition = f"#st IN ({', '.join(expected)})"
    names["#st"] = _STATUS
    if seed is not None:
        condition = f"attribute_not_exists(#pk) OR {condition}"
        names["#pk"] = LEDGER_PK  # DynamoDB refuses a name the expressions do not use
    try:
        aws.dynamodb(config).update_item(
            TableName=config.ledger_table,
            Key=to_item(_key(job_id)),
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values | expected),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def job_record_get(job_id: str, *, config: PipelineConfig) -> JobRecord | None:
    """One job's record (None: no such job, or its record expired)."""
    if not is_job_id(job_id):
        return None
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table, Key=to_item(_key(job_id)), ConsistentRead=True
    )
    return _record_from(from_item(reply["Item"])) if "Item" in reply else None


def job_record_list(*, limit: int = 50, config: PipelineConfig) -> list[JobRecord]:
    """The most recent jobs, newest first (a Query on the runs index, kind ``job``)."""
    reply = aws.dynamodb(config).query(
        TableName=config.ledger_table,
        IndexName=RUNS_INDEX,
        KeyConditionExpression="#k = :k",
        ExpressionAttributeNames={"#k": RUNS_INDEX_PK},
        ExpressionAttributeValues={":k": {"S": JOB_KIND}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [_record_from(from_item(item)) for item in reply.get("Items", [])]


def _record_from(data: dict[str, Any]) -> JobRecord:
    return JobRecord(**{k: data[k] for k in JobRecord.__dataclass_fields__ if k in data})


def worker_invoke(event: Mapping[str, object], *, config: PipelineConfig) -> str:
    """Queue ``event`` for the stage's worker (InvocationType Event); returns the request id.

    Lambda answers as soon as the event is queued; the worker runs it within seconds,
    with the same request id as its ``context.aws_request_id``. A refusal (no
    permission, no such function, throttled) raises botocore's ClientError.
    """
    reply = aws.lambda_(config).invoke(
        FunctionName=config.names.worker_function,
        InvocationType="Event",
        Payload=json.dumps(event, separators=(",", ":")).encode(),
    )
    return str(reply.get("ResponseMetadata", {}).get("RequestId", ""))
