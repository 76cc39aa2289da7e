"""The local queue poller: it feeds the SQS Lambda handler Lambda-shaped batches.

In AWS the SQS event source mapping feeds ``handlers.process_sqs_event``. Locally (and
for ``manage.py process``) ``poll_once`` does the same job: receive up to 10 messages,
hand them to the same handler as a Lambda event, delete the ones that succeeded and
leave the failed ones on the queue, where SQS's redrive policy dead-letters them after
``maxReceiveCount`` receives.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import SQS_BATCH_SIZE
from pipeline.stores import aws
from pipeline.stores.messages import queue_arn, queue_url

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

    from pipeline.handlers import BatchResponse

log = logging.getLogger(__name__)

# What ``handlers.process_sqs_event`` is: a Lambda event and context in, the partial
# batch response out (None is read as "nothing failed").
Handler = Callable[[dict[str, Any], Any], "BatchResponse | None"]


@dataclass
class PollResult:
    """One receive → handle → delete cycle."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass
class LocalContext:
    """The slice of a Lambda context our handlers and Powertools read."""

    function_name: str = "twl-pipeline-local-worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:twl-pipeline-local"
    aws_request_id: str = ""
    timeout_seconds: int = 60

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def lambda_event(
    messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str
) -> dict[str, Any]:
    """Shape received SQS messages as the event Lambda's SQS event source sends."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": _lambda_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def _lambda_attributes(
    attributes: Mapping[str, MessageAttributeValueOutputTypeDef],
) -> dict[str, Any]:
    # Lambda spells message attribute keys in camelCase; ReceiveMessage in PascalCase.
    return {
        name: {"stringValue": a.get("StringValue"), "dataType": a.get("DataType", "String")}
        for name, a in attributes.items()
    }


def poll_once(
    handler: Handler,
    *,
    config: PipelineConfig | None = None,
    wait_seconds: int = 1,
    retry_delay_seconds: int | None = None,
) -> PollResult:
    """Receive one batch, run ``handler`` on it, delete successes.

    ``retry_delay_seconds`` shortens the visibility of failed messages (local stack and
    tests); None leaves them invisible for the queue's full visibility timeout, as Lambda.
    """
    cfg = config or get_config()
    sqs, url = aws.sqs(cfg), queue_url(cfg)
    reply = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=SQS_BATCH_SIZE,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages = reply.get("Messages", [])
    if not messages:
        return PollResult()
    failed_ids = _run_handler(handler, messages, cfg)
    _settle(sqs, url, messages, failed_ids, retry_delay_seconds)
    return PollResult(len(messages), len(messages) - len(failed_ids), len(failed_ids))


def _run_handler(
    handler: Handler, messages: list[MessageTypeDef], config: PipelineConfig
) -> set[str]:
    arn = queue_arn(config)
    event = lambda_event(messages, queue_arn=arn, region=config.aws_region)
    try:
        reply = handler(event, LocalContext(aws_request_id=str(uuid.uuid4())))
    except Exception:
        # A handler that raises fails the whole batch, exactly as in Lambda.
        log.exception("handler raised; the whole batch of %d stays on the queue", len(messages))
        return {m["MessageId"] for m in messages}
    failures = reply.get("batchItemFailures", []) if reply else []
    return {f["itemIdentifier"] for f in failures}


def _settle(
    sqs: SQSClient,
    url: str,
    messages: list[MessageTypeDef],
    failed_ids: set[str],
    retry_delay_seconds: int | None,
) -> None:
    done = [m for m in messages if m["MessageId"] not in failed_ids]
    if done:
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ],
        )
    failed = [m for m in messages if m["MessageId"] in failed_ids]
    if failed and retry_delay_seconds is not None:
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "ReceiptHandle": m["ReceiptHandle"],
                    "VisibilityTimeout": retry_delay_seconds,
                }
                for i, m in enumerate(failed)
            ],
        )


def drain(
    handler: Handler,
    *,
    config: PipelineConfig | None = None,
    max_batches: int = 10_000,
    retry_delay_seconds: int | None = None,
) -> PollResult:
    """Poll until a receive comes back empty; return the totals."""
    totals = PollResult()
    for _ in range(max_batches):
        batch = poll_once(
            handler, config=config, wait_seconds=0, retry_delay_seconds=retry_delay_seconds
        )
        if batch.received == 0:
            break
        totals.received += batch.received
        totals.succeeded += batch.succeeded
        totals.failed += batch.failed
    return totals
