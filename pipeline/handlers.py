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

from pipeline.core.constants import RUN_JOB_COMMAND

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


# --- the worker's front door -----------------------------------------------------------

# What may run on the worker, which holds the write role. Zappa's own handler would run
# any importable function an event names, any management command, and ``raw_command``
# (Python source, exec'd): anyone allowed to invoke the worker, the web function
# included, could act with its role. ``zappa_settings.json`` makes
# ``worker_lambda_handler`` the worker stages' Lambda handler, and it passes on only these.
WORKER_SCHEDULES = frozenset({"pipeline.handlers.scheduled_ingest"})
WORKER_COMMANDS = frozenset({RUN_JOB_COMMAND, "pipeline.handlers.scheduled_ingest"})
# Keys by which Zappa routes a record to a function the record itself may name (S3's
# configurationId, an SNS message's "command") or to another event source's mapping.
_NOT_SQS_RECORD_KEYS = frozenset({"s3", "Sns", "dynamodb", "kinesis"})


class WorkerRefusal(TypedDict):
    status: str
    reason: str


def worker_event_refusal(event: object) -> str | None:
    """Why the worker will not run ``event``; None when Zappa's handler may route it.

    Mirrors the order in which Zappa's handler picks a route, so what passes here is
    what Zappa then runs: an SQS batch (which Zappa hands only to the function its
    event-source mapping names for that queue), or a schedule or command on the lists
    above. HTTP events, ``stageVariables`` (Zappa copies them into the environment
    before routing), ``raw_command``, management commands (operators run those on their
    own machine with their own credentials: ``make manage``) and everything else stop.
    """
    if not isinstance(event, dict):
        return f"expected an object, got {type(event).__name__}"
    if "raw_command" in event:
        return "raw_command events never run on the worker"
    if "stageVariables" in event:
        return "stageVariables never reach the worker (Zappa would put them in its environment)"
    if event.get("version") == "2.0" or event.get("httpMethod") or "requestContext" in event:
        return "HTTP events are the web function's"
    if event.get("detail-type") == "Scheduled Event":
        resources = event.get("resources") or [""]
        function = str(resources[0]).split("/")[-1].split("-")[-1]
        return None if function in WORKER_SCHEDULES else f"no schedule runs {function[:80]!r}"
    if event.get("command"):
        command = str(event["command"])
        return None if command in WORKER_COMMANDS else f"command {command[:80]!r} is not allowed"
    if "manage" in event:
        return "management commands run on an operator's machine (make manage), not here"
    records = event.get("Records")
    if records and isinstance(records, list):
        sqs = all(
            isinstance(r, dict)
            and r.get("eventSource") == "aws:sqs"
            and not _NOT_SQS_RECORD_KEYS & r.keys()
            for r in records
        )
        return None if sqs else "only SQS records reach the worker"
    return "not a worker event"


def worker_lambda_handler(event: Any, context: Any) -> Any:
    """The worker stages' Lambda handler: Zappa's, behind ``worker_event_refusal``."""
    reason = worker_event_refusal(event)
    if reason is not None:
        log.warning("worker: event refused: %s", reason)
        return WorkerRefusal(status="rejected", reason=reason)
    from zappa.handler import lambda_handler

    return lambda_handler(event, context)
