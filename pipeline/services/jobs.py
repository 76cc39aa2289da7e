"""The admin's jobs by name: tracked in the ledger, run inline or handed to the worker function.

In a deployed stage the web function's role only reads data, so the jobs that write
(Ingest now, Replay, redrive and delete on the DLQ) go to the worker: ``dispatch``
checks the job's kwargs, writes the job's record (``queued``, ``pipeline.stores.worker``),
then invokes the worker asynchronously with the event

    {"command": "pipeline.handlers.run_job", "job": "<name>", "kwargs": {...},
     "job_id": "<32 hex digits>"}

Zappa's handler calls the function an event's ``command`` names with ``(event,
context)``, and ``run_job`` hands the event to ``job_run_event`` here, which marks the
job ``running``, runs it, and records ``done`` with its result or ``failed`` with its
reason; the admin's Jobs page shows each record. Zappa's own
``zappa.asynchronous.task`` would invoke the worker the same way, but importing that
module builds four boto3 clients (Lambda, SNS, STS, DynamoDB): a cold-start cost on
every function, whether or not it ever hands anything over. One invoke through
``pipeline.stores.worker`` costs nothing until it is used. Locally (``jobs_on_worker``
off: ``make run``, tests) the job runs inline through the same steps, so its record
goes queued → running → done before the admin's page answers.

Only the jobs in ``JOBS`` run, and only with kwargs that pass their checks
(``pipeline.services.job_specs``); anything else is rejected with its reason, logged,
and runs nothing. An event without a job id (an old event, or one made by hand) still
runs, untracked.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, NotRequired, TypedDict, TypeVar, overload

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import RUN_JOB_COMMAND
from pipeline.core.errors import AWS_ERRORS, PipelineError, error_code
from pipeline.core.logs import log_context
from pipeline.core.metrics import emit
from pipeline.services.job_specs import (
    ADMIN_TRIGGER,
    JOB_DLQ_DELETE,
    JOB_DLQ_REDRIVE,
    JOB_INGEST,
    JOB_REPLAY,
    JOBS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    JobArgsError,
    JobCall,
    JobKwargs,
    JobSpec,
    shown,
)
from pipeline.services.replay import ReplayResult
from pipeline.stores import worker
from pipeline.stores.ledger import RunRecord
from pipeline.stores.worker import DONE, FAILED, QUEUED, REJECTED, RUNNING, JobRecord

__all__ = [
    "ADMIN_TRIGGER",
    "JOB_DLQ_DELETE",
    "JOB_DLQ_REDRIVE",
    "JOB_INGEST",
    "JOB_REPLAY",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "JobArgsError",
]

log = logging.getLogger(__name__)

# The function Zappa's handler calls for an event whose "command" is this.
WORKER_COMMAND: Final = RUN_JOB_COMMAND

# A reason or a job's kwargs as its record keeps them: staff read them, short.
REASON_CHARS: Final = 300
KWARGS_SUMMARY_CHARS: Final = 200
_LIST_ITEMS_SHOWN = 3
# Who asked, when an event reaches the worker with a job id but no record.
UNKNOWN_REQUESTER: Final = "unknown"

R = TypeVar("R")


@dataclass(frozen=True)
class JobTicket:
    """A job queued on the worker: its id finds its record, its request id the worker's log."""

    job: str
    job_id: str
    request_id: str

    @property
    def description(self) -> str:
        """The admin log's words for it."""
        return f"queued on the worker as job {self.job_id} (request {self.request_id or 'unknown'})"


@dataclass(frozen=True)
class JobDone(Generic[R]):
    """A job run inline (``jobs_on_worker`` off): its record says done; its result."""

    job: str
    job_id: str
    result: R


@dataclass(frozen=True)
class JobFailed:
    """A job run inline that raised: its record says failed, with this reason (staff only)."""

    job: str
    job_id: str
    reason: str


@dataclass(frozen=True)
class JobRejected:
    """A job that neither ran nor was queued, and why (never internal error text).

    ``job_id`` is set when its record was written first (the worker refused the invoke).
    """

    job: str
    reason: str
    job_id: str | None = None


class JobReply(TypedDict):
    """What the worker answers for one job event (Lambda drops it; the log keeps it)."""

    job: str
    status: Literal["done", "rejected", "failed"]
    job_id: NotRequired[str]
    reason: NotRequired[str]
    result: NotRequired[dict[str, object]]


_Checked = tuple[JobSpec[Any], JobCall[Any]]


@overload
def dispatch(
    job: Literal["ingest"], kwargs: JobKwargs, *, requested_by: str, config: PipelineConfig
) -> JobDone[RunRecord] | JobFailed | JobTicket | JobRejected: ...
@overload
def dispatch(
    job: Literal["replay"], kwargs: JobKwargs, *, requested_by: str, config: PipelineConfig
) -> JobDone[ReplayResult] | JobFailed | JobTicket | JobRejected: ...
@overload
def dispatch(
    job: Literal["dlq_redrive", "dlq_delete"],
    kwargs: JobKwargs,
    *,
    requested_by: str,
    config: PipelineConfig,
) -> JobDone[int] | JobFailed | JobTicket | JobRejected: ...
@overload
def dispatch(
    job: str, kwargs: JobKwargs, *, requested_by: str, config: PipelineConfig
) -> object: ...
def dispatch(job: str, kwargs: JobKwargs, *, requested_by: str, config: PipelineConfig) -> object:
    """Record the job ``queued``, then run it inline (JobDone, JobFailed) or queue it (JobTicket).

    Which one follows ``config.jobs_on_worker``. An unknown job or kwargs that fail
    its checks give a JobRejected, write no record and run nothing. A worker that
    cannot be invoked gives a JobRejected too, and the record says ``rejected`` (the
    reason names only the AWS error code; the log has the details). Writing the
    record is the one thing that may raise (an AWS error, before anything ran).
    """
    checked = _prepare(job, kwargs)
    if isinstance(checked, JobRejected):
        return checked
    record = JobRecord(
        job_id=uuid.uuid4().hex,
        job=job,
        kwargs=kwargs_summary(kwargs),
        requested_by=requested_by,
        status=QUEUED,
        started_at=iso(utc_now()),
    )
    worker.job_record_put(record, config=config)
    job_id = record.job_id
    if not config.jobs_on_worker:
        with log_context(job=job, job_id=job_id):
            taken = _claim(job, job_id, seed=None, request_id="", config=config)
            reply, result = taken or _run(job, job_id, checked, request_id="", config=config)
        if reply["status"] == "done":
            return JobDone(job=job, job_id=job_id, result=result)
        return JobFailed(job=job, job_id=job_id, reason=reply.get("reason", ""))
    function = config.names.worker_function
    try:
        request_id = worker.worker_invoke(job_event(job, kwargs, job_id=job_id), config=config)
    except AWS_ERRORS as exc:
        log.warning("job %s (%s): could not invoke %s: %s", job, job_id, function, exc)
        code = error_code(exc) or type(exc).__name__
        reason = f"could not queue it on the worker ({code})"
        moved = _move(
            job_id, {"status": REJECTED, "reason": reason}, expect=(QUEUED,), config=config
        )
        if moved is False:
            # The invoke did reach Lambda after all (a timeout): the worker has it.
            return JobTicket(job=job, job_id=job_id, request_id="")
        if moved is None:
            # Its page will say "queued" until the stall note says the invoke may have failed.
            log.error("job %s (%s): refused, but its record could not be corrected", job, job_id)
            reason = f"{reason}; its record could not be updated and still says queued"
        return JobRejected(job=job, reason=reason, job_id=job_id)
    log.info("job %s (%s) queued on %s (request %s)", job, job_id, function, request_id)
    return JobTicket(job=job, job_id=job_id, request_id=request_id)


def job_event(job: str, kwargs: JobKwargs, *, job_id: str | None = None) -> dict[str, object]:
    """The event that makes Zappa's handler on the worker call ``run_job``."""
    event: dict[str, object] = {"command": WORKER_COMMAND, "job": job, "kwargs": dict(kwargs)}
    if job_id is not None:
        event["job_id"] = job_id
    return event


def job_run_event(event: object, *, config: PipelineConfig, request_id: str = "") -> JobReply:
    """The worker's side of ``dispatch``: check the event's job and kwargs, then run it.

    Never raises. A bad event is rejected with its reason and runs nothing (its record,
    if it names one, says why). A job that fails is logged with its traceback, counted
    (metric JobsFailed), recorded and answered "failed" rather than raised: Lambda
    would run a failed asynchronous event twice more, minutes later, and a "delete
    all" retried then would also delete what had reached the DLQ since; the operator
    starts the job again instead. A job whose record is not ``queued`` any more (the
    same event delivered again) is not run again.
    """
    fields: Mapping[Any, object] = event if isinstance(event, Mapping) else {}
    job, job_id = fields.get("job"), fields.get("job_id")
    name = job if isinstance(job, str) and job in JOBS else shown(job)
    tracked = job_id if worker.is_job_id(job_id) else None
    with log_context(job=name, job_id=tracked, request_id=request_id or None):
        checked: _Checked | JobRejected
        if not isinstance(event, Mapping):
            checked = _rejected(name, f"event: expected an object, got {shown(event)}")
        elif job_id is not None and tracked is None:
            checked = _rejected(name, f"job_id: expected 32 hex digits, got {shown(job_id)}")
        else:
            checked = _prepare(job, fields.get("kwargs"))
        if isinstance(checked, JobRejected):
            emit({"JobsRejected": 1}, dimensions={}, config=config)
            if tracked is not None:
                changes = {
                    "status": REJECTED,
                    "reason": checked.reason,
                    "request_id": request_id or None,
                }
                # The web checked these kwargs already: a web and worker of different versions.
                seed = _seed(name, tracked, fields.get("kwargs"))
                _move(tracked, changes, expect=(QUEUED,), seed=seed, config=config)
            return _with_id({"job": name, "status": "rejected", "reason": checked.reason}, tracked)
        if tracked is not None:
            seed = _seed(name, tracked, fields.get("kwargs"))
            taken = _claim(name, tracked, seed=seed, request_id=request_id, config=config)
            if taken is not None:
                return taken[0]
        reply, _ = _run(name, tracked, checked, request_id=request_id, config=config)
        return reply


def kwargs_summary(kwargs: object) -> str:
    """A job's kwargs as its record shows them: short, lists cut to their first few items."""
    if not isinstance(kwargs, Mapping):
        return shown(kwargs)[:KWARGS_SUMMARY_CHARS]

    def value(item: object) -> str:
        if item is None:
            return "all"  # every job reads null as "all" (sources, feeds, messages)
        if isinstance(item, list):
            head = ", ".join(
                i[:MAX_NAME_CHARS] if isinstance(i, str) else shown(i)
                for i in item[:_LIST_ITEMS_SHOWN]
            )
            more = len(item) - _LIST_ITEMS_SHOWN
            return head + (f" and {more} more" if more > 0 else "")
        return item[:KWARGS_SUMMARY_CHARS] if isinstance(item, str) else shown(item)

    text = "; ".join(f"{key}: {value(item)}" for key, item in kwargs.items())
    return text[:KWARGS_SUMMARY_CHARS] or "defaults"


def _prepare(job: object, kwargs: object) -> _Checked | JobRejected:
    spec = JOBS.get(job) if isinstance(job, str) else None
    if spec is None:
        return _rejected(shown(job), f"unknown job {shown(job)} (known: {', '.join(JOBS)})")
    name = str(job)
    if not isinstance(kwargs, Mapping):
        return _rejected(name, f"kwargs: expected an object, got {shown(kwargs)}")
    try:
        return spec, spec.prepare(kwargs)
    except PipelineError as exc:
        return _rejected(name, str(exc)[:REASON_CHARS])


def _rejected(job: str, reason: str) -> JobRejected:
    log.warning("job %s rejected: %s", job, reason)
    return JobRejected(job=job, reason=reason)


# --- A tracked job's steps: queued -> running -> done | failed ---------------------------


def _run(
    name: str, job_id: str | None, checked: _Checked, *, request_id: str, config: PipelineConfig
) -> tuple[JobReply, Any]:
    """Run a checked (and claimed) job, record how it ended; the reply and the job's result."""
    spec, call = checked
    try:
        result = call(config)
    except Exception as exc:
        log.exception("job %s failed", name)
        emit({"JobsFailed": 1}, dimensions={}, config=config)
        reason = f"{type(exc).__name__}: {exc}"[:REASON_CHARS]
        if job_id is not None:
            _move(job_id, {"status": FAILED, "reason": reason}, expect=(RUNNING,), config=config)
        return _with_id({"job": name, "status": "failed", "reason": reason}, job_id), None
    summary = spec.summary(result)
    log.info("job %s done: %s", name, summary)
    if job_id is not None:
        changes = {"status": DONE, "result": summary, "run_id": summary.get("runId")}
        _move(job_id, changes, expect=(RUNNING,), config=config)
    return _with_id({"job": name, "status": "done", "result": summary}, job_id), result


def _claim(
    name: str, job_id: str, *, seed: JobRecord | None, request_id: str, config: PipelineConfig
) -> tuple[JobReply, None] | None:
    """Mark a queued job running: None when it is ours to run, else the reply (not run)."""
    changes = {"status": RUNNING, "running_at": iso(utc_now()), "request_id": request_id or None}
    try:
        if worker.job_record_move(job_id, changes, expect=(QUEUED,), seed=seed, config=config):
            return None
        current = worker.job_record_get(job_id, config=config)
    except AWS_ERRORS as exc:
        # Not run: a job whose record cannot say it is running could run twice.
        log.exception("job %s (%s): could not mark it running", name, job_id)
        emit({"JobsFailed": 1}, dimensions={}, config=config)
        reason = f"could not record it as running ({error_code(exc) or type(exc).__name__})"
        return {"job": name, "status": "failed", "reason": reason, "job_id": job_id}, None
    status = current.status if current is not None else "gone"
    reason = f"job {job_id} is {status} already: not run again"
    log.warning("job %s rejected: %s", name, reason)
    emit({"JobsRejected": 1}, dimensions={}, config=config)
    return {"job": name, "status": "rejected", "reason": reason, "job_id": job_id}, None


def _move(
    job_id: str,
    changes: Mapping[str, object],
    *,
    expect: tuple[str, ...],
    seed: JobRecord | None = None,
    config: PipelineConfig,
) -> bool | None:
    """Record a step if the job is in ``expect``; False when it is in another status.

    None when the step could not be written (an AWS error): logged, never raised, since
    the job ran, or was refused, whatever its record says.
    """
    final = changes.get("status") in (DONE, FAILED, REJECTED)
    stamped = {**changes, "finished_at": iso(utc_now())} if final else dict(changes)
    try:
        moved = worker.job_record_move(job_id, stamped, expect=expect, seed=seed, config=config)
    except AWS_ERRORS:
        log.exception("job %s: could not record it %s", job_id, changes.get("status"))
        return None
    if not moved:
        log.warning("job %s: not %s, so not marked %s", job_id, "/".join(expect), stamped["status"])
    return moved


def _seed(name: str, job_id: str, kwargs: object) -> JobRecord:
    """The record a tracked event gets on the worker when the web wrote none (made by hand)."""
    return JobRecord(
        job_id=job_id,
        job=name,
        kwargs=kwargs_summary(kwargs),
        requested_by=UNKNOWN_REQUESTER,
        status=QUEUED,
        started_at=iso(utc_now()),
    )


def _with_id(reply: JobReply, job_id: str | None) -> JobReply:
    if job_id is not None:
        reply["job_id"] = job_id
    return reply
