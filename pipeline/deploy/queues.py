"""Provision the ingestion queue and its dead-letter queue (redrive after N receives)."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

from pipeline.core.config import PipelineConfig
from pipeline.deploy.reconcile import (
    Change,
    Setting,
    change_for,
    create_missing,
    or_none,
    reconcile,
)
from pipeline.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: keep failures as long as possible
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # the SQS default, stated so drift from it is seen
QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def provision_queues(cfg: PipelineConfig, *, check_only: bool) -> list[Change]:
    """Ensure the DLQ, then the queue that redrives into it."""
    sqs = aws.sqs(cfg)
    dlq_attributes: dict[QueueAttributeNameType, str] = {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
    }
    dlq = _provision_queue(sqs, cfg.dlq_name, dlq_attributes, check_only=check_only)
    queue_attributes: dict[QueueAttributeNameType, str] = {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "VisibilityTimeout": str(cfg.visibility_timeout_seconds),
        "RedrivePolicy": json.dumps(
            {
                "deadLetterTargetArn": _dlq_arn(sqs, cfg),
                "maxReceiveCount": cfg.max_receive_count,
            }
        ),
    }
    queue = _provision_queue(sqs, cfg.queue_name, queue_attributes, check_only=check_only)
    return [dlq, queue]


def _provision_queue(
    sqs: SQSClient, name: str, attributes: dict[QueueAttributeNameType, str], *, check_only: bool
) -> Change:
    """Ensure one queue exists with ``attributes``."""
    resource = f"sqs:{name}"
    url = _queue_url(sqs, name)
    if url is None:
        create = partial(sqs.create_queue, QueueName=name, Attributes=attributes)
        return create_missing(resource, kind="queue", create=create, check_only=check_only)
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    settings = [
        Setting(
            key,
            _normalise_attribute(key, value),
            _normalise_attribute(key, current.get(key)),
            partial(sqs.set_queue_attributes, QueueUrl=url, Attributes={key: value}),
        )
        for key, value in attributes.items()
    ]
    return change_for(resource, reconcile(settings, check_only=check_only), check_only=check_only)


def _queue_url(sqs: SQSClient, name: str) -> str | None:
    """The queue's URL, or None when it does not exist."""
    reply = or_none(sqs.get_queue_url, QUEUE_MISSING_CODES, QueueName=name)
    return reply["QueueUrl"] if reply else None


def _dlq_arn(sqs: SQSClient, cfg: PipelineConfig) -> str:
    """The DLQ's ARN; a stand-in when a check finds it missing (only its name is compared)."""
    url = _queue_url(sqs, cfg.dlq_name)
    if url is None:
        return f"arn:aws:sqs:{cfg.aws_region}:000000000000:{cfg.dlq_name}"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _normalise_attribute(key: str, value: str | None) -> Any:
    """Comparable form of a queue attribute; AWS may answer the redrive count as str or int."""
    if key != "RedrivePolicy" or not value:
        return value
    policy = json.loads(value)
    # A DLQ must be in the queue's own account and region, so its name identifies it.
    return {
        "deadLetterTarget": str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1],
        "maxReceiveCount": int(policy.get("maxReceiveCount", 0)),
    }
