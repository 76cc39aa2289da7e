"""The SQS message contract (build, send, parse, validate) and the queues' addresses and depths.

The processing side accepts a message from any producer (ingest, replay, a DLQ
redrive, an operator) only after ``message_parse`` (or ``message_check``) has checked
its shape: fields, feed, key scheme, hash and a sane ``capturedAt``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.clock import utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import CAPTURED_AT_MAX_AHEAD, MESSAGE_SCHEMA_VERSION, PRODUCT_EPOCH
from pipeline.core.errors import InvalidMessage
from pipeline.sources import is_known_feed
from pipeline.stores import aws
from pipeline.stores.raw_store import raw_key_parse

_SHA256 = re.compile(r"[0-9a-f]{64}")

_FIELDS: dict[str, type] = {
    "schemaVersion": int,
    "source": str,
    "type": str,
    "s3Bucket": str,
    "s3Key": str,
    "capturedAt": str,
    "hash": str,
    "recordCount": int,
    "runId": str,
}


@dataclass(frozen=True)
class RawObjectMessage:
    """One message per raw object: where it is and what it holds."""

    schemaVersion: int
    source: str
    type: str
    s3Bucket: str
    s3Key: str
    capturedAt: str
    hash: str
    recordCount: int
    runId: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def message_build(
    *,
    source: str,
    type_: str,
    bucket: str,
    key: str,
    captured_at: str,
    digest: str,
    record_count: int,
    run_id: str,
) -> RawObjectMessage:
    return RawObjectMessage(
        schemaVersion=MESSAGE_SCHEMA_VERSION,
        source=source,
        type=type_,
        s3Bucket=bucket,
        s3Key=key,
        capturedAt=captured_at,
        hash=digest,
        recordCount=record_count,
        runId=run_id,
    )


@functools.lru_cache(maxsize=64)
def queue_url(config: PipelineConfig, *, dlq: bool = False) -> str:
    """The queue's (or DLQ's) URL, looked up once per process and configuration."""
    name = config.dlq_name if dlq else config.queue_name
    return aws.sqs(config).get_queue_url(QueueName=name)["QueueUrl"]


@functools.lru_cache(maxsize=64)
def queue_arn(config: PipelineConfig, *, dlq: bool = False) -> str:
    """The queue's (or DLQ's) ARN, looked up once per process and configuration."""
    attrs = aws.sqs(config).get_queue_attributes(
        QueueUrl=queue_url(config, dlq=dlq), AttributeNames=["QueueArn"]
    )
    return attrs["Attributes"]["QueueArn"]


def queue_depths(config: PipelineConfig, *, dlq: bool) -> dict[str, int]:
    """Messages waiting and in flight on the queue (or its DLQ)."""
    attributes = aws.sqs(config).get_queue_attributes(
        QueueUrl=queue_url(config, dlq=dlq),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def message_send(message: RawObjectMessage, *, config: PipelineConfig) -> str:
    """Send one message to the ingestion queue; returns its SQS message id."""
    reply = aws.sqs(config).send_message(
        QueueUrl=queue_url(config),
        MessageBody=message.to_json(),
        MessageAttributes={
            "source": {"DataType": "String", "StringValue": message.source},
            "type": {"DataType": "String", "StringValue": message.type},
        },
    )
    return reply["MessageId"]


def message_parse(body: str) -> RawObjectMessage:
    """Parse and validate a message body from any producer; raise InvalidMessage."""
    try:
        data: Any = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidMessage("body is not a JSON object")
    for name, kind in _FIELDS.items():
        value = data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidMessage(f"field {name!r} is missing or not {kind.__name__}")
    return message_check(RawObjectMessage(**{name: data[name] for name in _FIELDS}))


def message_check(message: RawObjectMessage, *, now: datetime | None = None) -> RawObjectMessage:
    """Check a message's shape against the contract, without I/O; raise InvalidMessage.

    Beyond field types: a known feed, an ``s3Key`` in the raw layout for that feed whose
    stamp is ``capturedAt`` and whose hash part is ``hash``, and a ``capturedAt`` in
    [PRODUCT_EPOCH, now + CAPTURED_AT_MAX_AHEAD]. Checks against the object itself
    (metadata, body hash) are processing's, in the one GetObject it makes.
    """
    if message.schemaVersion != MESSAGE_SCHEMA_VERSION:
        raise InvalidMessage(f"unsupported schemaVersion {message.schemaVersion}")
    if not is_known_feed(message.source, message.type):
        raise InvalidMessage(f"unknown source/type {message.source[:40]}/{message.type[:40]}")
    if message.recordCount < 0:
        raise InvalidMessage("recordCount is negative")
    if not _SHA256.fullmatch(message.hash):
        raise InvalidMessage("hash is not a sha256 hex digest")
    captured = captured_at_parse(message.capturedAt, now=now)
    key = raw_key_parse(message.s3Key)
    if key is None:
        raise InvalidMessage(
            f"s3Key {message.s3Key[:120]!r} is not a raw key"
            " (raw/source=…/type=…/date=…/<stamp>-<hash>.json)"
        )
    if (key.source, key.type) != (message.source, message.type):
        raise InvalidMessage(
            f"s3Key is under {key.source[:40]}/{key.type[:40]}, not this message's feed"
        )
    if key.digest != message.hash[: len(key.digest)]:
        raise InvalidMessage("s3Key's hash part does not match the message hash")
    if key.captured_at != captured:
        raise InvalidMessage(
            f"capturedAt {message.capturedAt[:40]!r} is not the s3Key's stamp {key.stamp}"
        )
    return message


def captured_at_parse(value: str, *, now: datetime | None = None) -> datetime:
    """A message's ``capturedAt`` as an aware UTC time inside the sane window."""
    shown = repr(value[:40])
    try:
        captured = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessage(f"capturedAt {shown} is not ISO 8601") from None
    if captured.utcoffset() is None:
        raise InvalidMessage("capturedAt has no time zone")
    try:
        captured = captured.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+14:00, which is before year 1 in UTC.
        raise InvalidMessage(f"capturedAt {shown} is out of range") from None
    if captured < PRODUCT_EPOCH:
        raise InvalidMessage(
            f"capturedAt {shown} is before the pipeline existed ({PRODUCT_EPOCH.date()})"
        )
    if captured > (now or utc_now()) + CAPTURED_AT_MAX_AHEAD:
        raise InvalidMessage(f"capturedAt {shown} is in the future")
    return captured
