"""Every Lambda entry point, thin: typed event in, one call, typed reply out.

Each takes exactly ``(event, context)``: Zappa retries a handler that raises
TypeError with fewer arguments, so a stray TypeError would run it twice. Django is
set up lazily (Zappa calls event functions without doing so), and nothing heavy is
imported before the first event.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from pipeline.services.jobs import JobReply

log = logging.getLogger(__name__)


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class IngestReply(TypedDict):
    runId: str
    status: str
    feeds: list[dict[str, Any]]


def _setup_django() -> None:
    """Zappa calls event functions without setting Django up; do it once per process.

    X-Ray tracing is switched on here too when TWL_TRACING says so (once per process).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twl_site.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.conf import settings

    from pipeline.core import tracing

    tracing.configure(enabled=settings.TWL_TRACING)


def scheduled_ingest(event: dict[str, Any], context: Any) -> IngestReply:
    """The 5-minute schedule: ingest every enabled source and return the run summary."""
    _setup_django()
    from dataclasses import asdict

    from pipeline.core import tracing
    from pipeline.core.config import get_config
    from pipeline.services.ingest import ingest

    with tracing.handler_subsegment("scheduled_ingest") as segment:
        run = ingest(trigger="schedule", config=get_config())
        tracing.annotate(segment, run_id=run.run_id, status=run.status)
    return {"runId": run.run_id, "status": run.status, "feeds": [asdict(f) for f in run.feeds]}


def handle_sqs_record(record: SQSRecord) -> dict[str, Any]:
    """One message of a batch: process it; on failure keep why, then re-raise (Powertools)."""
    from pipeline.core.config import get_config
    from pipeline.core.logs import log_context
    from pipeline.services.process import process_body, process_failure_record

    config = get_config()
    with log_context(message_id=record.message_id):
        try:
            return process_body(record.body, config=config).as_dict()
        except Exception as exc:
            # .get: a hand-made event may lack the attribute; the reason must still be kept.
            receives = int(
                record.raw_event.get("attributes", {}).get("ApproximateReceiveCount") or 0
            )
            process_failure_record(
                message_id=record.message_id, exc=exc, receive_count=receives, config=config
            )
            raise


def process_sqs_event(event: dict[str, Any], context: Any) -> BatchResponse:
    """SQS batch: process each message; name only the failed ones in batchItemFailures."""
    _setup_django()
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from pipeline.core import tracing

    if not event.get("Records"):
        return {"batchItemFailures": []}
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with tracing.handler_subsegment("process_sqs_event") as segment:
        reply = process_partial_response(
            event=event, record_handler=handle_sqs_record, processor=processor, context=context
        )
        failures = reply.get("batchItemFailures", [])
        tracing.annotate(segment, messages=len(event["Records"]), failed=len(failures))
    # Powertools types the identifier for every event kind; for SQS it is the message id.
    return {
        "batchItemFailures": [{"itemIdentifier": cast(str, f["itemIdentifier"])} for f in failures]
    }


def run_job(event: dict[str, Any], context: Any) -> JobReply:
    """An admin job the web function handed over (``pipeline.services.jobs.dispatch``).

    Zappa's handler routes the event here by its ``command`` key. A bad event is
    rejected with its reason and a failed job answered "failed" (both kept in the job's
    record); neither raises, so Lambda never runs the event again on its own.
    """
    _setup_django()
    from pipeline.core import tracing
    from pipeline.core.config import get_config
    from pipeline.services.jobs import job_run_event

    request_id = str(getattr(context, "aws_request_id", "") or "")
    with tracing.handler_subsegment("run_job") as segment:
        reply = job_run_event(event, config=get_config(), request_id=request_id)
        tracing.annotate(
            segment, job=reply["job"], status=reply["status"], job_id=reply.get("job_id")
        )
    return reply
