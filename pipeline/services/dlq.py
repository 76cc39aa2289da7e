"""The dead-letter queue as plain functions: list with failure reasons, redrive, delete.

The admin, ``manage.py dlq`` and anything else share these. SQS has no "peek": a
message is seen only by receiving it, which hides it for its visibility timeout.
Listing therefore receives with a short timeout and makes every message visible again
at once; redrive and delete act on the messages they target and release the rest.
Every loop is bounded, and stops once it has seen as many distinct messages as the
queue reported visible when it started (so no call waits on an empty long poll).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias, cast

from pipeline.core.clock import iso
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import SQS_BATCH_SIZE
from pipeline.core.errors import InvalidMessage
from pipeline.stores import aws, ledger
from pipeline.stores.messages import message_parse, queue_url

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageTypeDef,
        SendMessageRequestTypeDef,
    )

log = logging.getLogger(__name__)

# Listing hides messages only this long, should the release after it fail.
PEEK_VISIBILITY_SECONDS = 2
# Redrive and delete hold a message while they send and delete it.
ACT_VISIBILITY_SECONDS = 30
# Long polling asks every SQS server; short polls may miss messages on a small queue.
RECEIVE_WAIT_SECONDS = 1
MAX_RECEIVES = 1_000
# Keys SendMessage accepts in a message attribute (ReceiveMessage returns the same).
_ATTRIBUTE_KEYS = ("DataType", "StringValue", "BinaryValue", "StringListValues", "BinaryListValues")

# One message as ReceiveMessage returns it.
Message: TypeAlias = "MessageTypeDef"


@dataclass
class DeadLetter:
    """One dead-lettered message, with the reason processing last failed on it."""

    message_id: str
    body: str
    sent_at: str | None
    # SQS's ApproximateReceiveCount: processing attempts plus any DLQ listings since.
    receive_count: int
    reason: str | None
    failed_at: str | None = None
    source: str | None = None
    type: str | None = None
    s3_key: str | None = None


@dataclass
class _Sweep:
    """What one pass over the DLQ saw, acted on and must release."""

    targets: set[str] | None
    seen: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    kept: dict[str, Message] = field(default_factory=dict)

    def wants(self, message_id: str) -> bool:
        if message_id in self.done:
            return False
        return self.targets is None or message_id in self.targets

    def finished(self, expected: int) -> bool:
        if self.targets is not None and self.targets <= self.done:
            return True
        return len(self.seen) >= expected


def dlq_list(*, config: PipelineConfig, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters with their failure reasons; nothing stays hidden."""
    cfg = config
    sqs, url = aws.sqs(cfg), queue_url(cfg, dlq=True)
    sweep = _Sweep(targets=None)  # with no action, every message is kept, then released
    try:
        _sweep(sqs, url, sweep, visibility=PEEK_VISIBILITY_SECONDS, limit=limit, act=None)
    finally:
        _release(sqs, url, list(sweep.kept.values()))
    messages = list(sweep.kept.values())[:limit]
    return [_dead_letter(m, cfg) for m in messages]


def dlq_redrive(message_ids: list[str] | None, *, config: PipelineConfig) -> int:
    """Move the named messages (None: all) to the main queue; returns how many moved.

    Each message's exact body and attributes are sent first; it leaves the DLQ only
    after the send succeeded, so a failure never loses a message.
    """
    cfg = config
    main_url = queue_url(cfg)

    def move(sqs: SQSClient, dlq_url: str, message: Message) -> None:
        _send_copy(sqs, main_url, message)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])

    return _act_on(message_ids, cfg, move)


def dlq_delete(message_ids: list[str] | None, *, config: PipelineConfig) -> int:
    """Delete the named messages (None: all, one by one); returns how many were deleted."""

    def delete(sqs: SQSClient, dlq_url: str, message: Message) -> None:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])

    return _act_on(message_ids, config, delete)


Action = Callable[["SQSClient", str, Message], None]


def _act_on(message_ids: list[str] | None, config: PipelineConfig, act: Action) -> int:
    if message_ids is not None and not message_ids:
        return 0
    sqs, url = aws.sqs(config), queue_url(config, dlq=True)
    sweep = _Sweep(targets=None if message_ids is None else set(message_ids))
    try:
        _sweep(sqs, url, sweep, visibility=ACT_VISIBILITY_SECONDS, limit=None, act=act)
    finally:
        # Whatever we held but did not act on goes back, even when an action failed.
        _release(sqs, url, list(sweep.kept.values()))
    return len(sweep.done)


def _sweep(
    sqs: SQSClient,
    url: str,
    sweep: _Sweep,
    *,
    visibility: int,
    limit: int | None,
    act: Action | None,
) -> None:
    """Receive batch by batch until every visible message was seen (or ``limit``)."""
    expected = _visible_count(sqs, url)
    if limit is not None:
        expected = min(expected, limit)
    for _ in range(MAX_RECEIVES):
        if sweep.finished(expected):
            return
        batch = _receive(sqs, url, visibility)
        if not batch or all(m["MessageId"] in sweep.seen for m in batch):
            return  # empty, or only messages whose hold lapsed: we went round once
        for message in batch:
            _handle(sqs, url, sweep, message, act)


def _handle(sqs: SQSClient, url: str, sweep: _Sweep, message: Message, act: Action | None) -> None:
    message_id = message["MessageId"]
    sweep.seen.add(message_id)
    if act is None or not sweep.wants(message_id):
        # A message received twice: only its newest receipt handle is valid.
        sweep.kept[message_id] = message
        return
    try:
        act(sqs, url, message)
    except Exception:
        sweep.kept[message_id] = message
        raise
    sweep.kept.pop(message_id, None)
    sweep.done.add(message_id)


def _visible_count(sqs: SQSClient, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def _receive(sqs: SQSClient, url: str, visibility: int) -> list[Message]:
    reply = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=SQS_BATCH_SIZE,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return reply.get("Messages", [])


def _release(sqs: SQSClient, url: str, messages: list[Message]) -> None:
    """Make messages visible again now rather than when their hold lapses."""
    for start in range(0, len(messages), SQS_BATCH_SIZE):
        chunk = messages[start : start + SQS_BATCH_SIZE]
        reply = sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )
        for failure in reply.get("Failed", []):
            # Harmless: the message becomes visible by itself when its hold lapses.
            log.warning("could not release a DLQ message: %s", failure)


def _send_copy(sqs: SQSClient, url: str, message: Message) -> None:
    kwargs: SendMessageRequestTypeDef = {"QueueUrl": url, "MessageBody": message["Body"]}
    attributes = {
        # Only the keys SendMessage takes: the same TypedDict, built key by key.
        name: cast(
            "MessageAttributeValueOutputTypeDef",
            {k: v for k, v in value.items() if k in _ATTRIBUTE_KEYS},
        )
        for name, value in message.get("MessageAttributes", {}).items()
    }
    if attributes:
        kwargs["MessageAttributes"] = attributes
    sqs.send_message(**kwargs)


def _dead_letter(message: Message, config: PipelineConfig) -> DeadLetter:
    attributes = message.get("Attributes", {})
    failure = ledger.message_failure_get(message_id=message["MessageId"], config=config) or {}
    body = message["Body"]
    parsed = _body_fields(body)
    return DeadLetter(
        message_id=message["MessageId"],
        body=body,
        sent_at=_sent_at(attributes.get("SentTimestamp")),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        reason=failure.get("reason"),
        failed_at=failure.get("at"),
        source=parsed.get("source"),
        type=parsed.get("type"),
        s3_key=parsed.get("s3Key"),
    )


def _body_fields(body: str) -> dict[str, str]:
    """source, type and s3Key when the body is a valid message; nothing otherwise."""
    try:
        message = message_parse(body)
    except InvalidMessage:
        return {}
    return {"source": message.source, "type": message.type, "s3Key": message.s3Key}


def _sent_at(stamp: str | None) -> str | None:
    """SQS's SentTimestamp (epoch milliseconds) as our ISO 8601 UTC form."""
    if not stamp:
        return None
    try:
        return iso(datetime.fromtimestamp(int(stamp) / 1000, tz=UTC))
    except (ValueError, OverflowError):
        return None
