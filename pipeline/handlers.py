"""Lambda entry points, thin: parse the event, call ingest/process, shape the reply.

Each takes exactly ``(event, context)``: Zappa retries a handler that raises
TypeError with fewer arguments, so a stray TypeError would run it twice.
"""

from __future__ import annotations

import logging
import os
from typing import Any, TypedDict

log = logging.getLogger(__name__)


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


def _setup_django() -> None:
    """Zappa calls event functions without setting Django up; do it once per process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twl_site.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def scheduled_ingest(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The 5-minute schedule: ingest every enabled source and return the run summary."""
    _setup_django()
    from pipeline.ingest import ingest

    run = ingest(trigger="schedule")
    return {"runId": run.run_id, "status": run.status, "feeds": [f.__dict__ for f in run.feeds]}


def process_sqs_event(event: dict[str, Any], context: Any) -> BatchResponse:
    """SQS batch: process each message; name only the failed ones in batchItemFailures."""
    _setup_django()
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from pipeline.worker import handle_sqs_record

    if not event.get("Records"):
        return {"batchItemFailures": []}
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    reply = process_partial_response(
        event=event, record_handler=handle_sqs_record, processor=processor, context=context
    )
    return {"batchItemFailures": list(reply.get("batchItemFailures", []))}
