"""The worker function as a destination: hand it one event to run asynchronously.

The web function's role may only read data, but it may invoke the worker, whose role
writes; ``pipeline.services.jobs`` decides what to hand over and builds the event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pipeline.core.config import PipelineConfig
from pipeline.stores import aws


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
