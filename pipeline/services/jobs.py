"""The admin's jobs by name: run inline, or handed to the worker function in deployed stages.

In a deployed stage the web function's role only reads data, so the jobs that write
(Ingest now, Replay, redrive and delete on the DLQ) go to the worker: ``dispatch``
checks the job's kwargs, then invokes the worker asynchronously with the event

    {"command": "pipeline.handlers.run_job", "job": "<name>", "kwargs": {...}}

Zappa's handler calls the function an event's ``command`` names with ``(event,
context)``, and ``run_job`` hands the event to ``job_run_event`` here. Zappa's own
``zappa.asynchronous.task`` would do the same, but importing that module builds four
boto3 clients (Lambda, SNS, STS, DynamoDB): a cold-start cost on every function,
whether or not it ever hands anything over. One invoke through
``pipeline.stores.worker`` costs nothing until it is used. Locally (``jobs_on_worker``
off: ``make run``, tests) the job runs inline and its result comes back at once.

Only the jobs in ``JOBS`` run, and only with kwargs that pass their checks; anything
else is rejected with its reason, logged, and runs nothing. The kwargs are the JSON
the event carries, checked the same way inline and on the worker.
"""

from __future__ import annotations

import logging
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import (
    Any,
    Final,
    Generic,
    Literal,
    NotRequired,
    Protocol,
    TypedDict,
    TypeGuard,
    TypeVar,
    overload,
)

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS, PipelineError, error_code
from pipeline.core.logs import log_context
from pipeline.core.metrics import emit
from pipeline.services.dlq import dlq_delete, dlq_redrive
from pipeline.services.ingest import ingest
from pipeline.services.replay import ReplayResult, replay, replay_feeds
from pipeline.sources import feeds
from pipeline.stores import worker
from pipeline.stores.ledger import RunRecord

log = logging.getLogger(__name__)

# The function Zappa's handler calls for an event whose "command" is this.
WORKER_COMMAND: Final = "pipeline.handlers.run_job"

JOB_INGEST: Final = "ingest"
JOB_REPLAY: Final = "replay"
JOB_DLQ_REDRIVE: Final = "dlq_redrive"
JOB_DLQ_DELETE: Final = "dlq_delete"

# The runs Ingest now starts are recorded with this trigger.
ADMIN_TRIGGER: Final = "admin"
# Bounds on one job's kwargs, keeping its event far below Lambda's limit for an
# asynchronous payload (a thousand message ids are about 40 KB).
MAX_LIST_ITEMS: Final = 1_000
MAX_NAME_CHARS: Final = 128
_REASON_CHARS = 300
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Reasons quote a bad value shortened (a reason never echoes a whole payload).
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlist = _REPR.maxdict = 3
_shown = _REPR.repr

R = TypeVar("R")
JobKwargs = Mapping[str, object]
JobCall = Callable[[PipelineConfig], R]


class JobArgsError(PipelineError):
    """A job's kwargs do not pass its checks."""


@dataclass(frozen=True)
class JobTicket:
    """A job queued on the worker; its request id finds the run in the worker's logs."""

    job: str
    request_id: str

    @property
    def description(self) -> str:
        """The admin log's words for it."""
        return f"queued on the worker (request {self.request_id or 'unknown'})"


@dataclass(frozen=True)
class JobRejected:
    """A job that neither ran nor was queued, and why (never internal error text)."""

    job: str
    reason: str


class JobReply(TypedDict):
    """What the worker answers for one job event (Lambda drops it; the log keeps it)."""

    job: str
    status: Literal["done", "rejected", "failed"]
    reason: NotRequired[str]
    result: NotRequired[dict[str, object]]


class _DlqAction(Protocol):
    """``dlq_redrive`` and ``dlq_delete``: the named messages (None: all); how many."""

    def __call__(self, message_ids: list[str] | None, *, config: PipelineConfig) -> int: ...


@dataclass(frozen=True)
class _Job(Generic[R]):
    """One job: its kwargs checked into a call, and the call's result as JSON."""

    prepare: Callable[[JobKwargs], JobCall[R]]
    summary: Callable[[R], dict[str, object]]


@overload
def dispatch(
    job: Literal["ingest"], kwargs: JobKwargs, *, config: PipelineConfig
) -> RunRecord | JobTicket | JobRejected: ...
@overload
def dispatch(
    job: Literal["replay"], kwargs: JobKwargs, *, config: PipelineConfig
) -> ReplayResult | JobTicket | JobRejected: ...
@overload
def dispatch(
    job: Literal["dlq_redrive", "dlq_delete"], kwargs: JobKwargs, *, config: PipelineConfig
) -> int | JobTicket | JobRejected: ...
@overload
def dispatch(job: str, kwargs: JobKwargs, *, config: PipelineConfig) -> object: ...
def dispatch(job: str, kwargs: JobKwargs, *, config: PipelineConfig) -> object:
    """Run ``job`` inline and return its result, or queue it on the worker (a JobTicket).

    Which one follows ``config.jobs_on_worker``. An unknown job or kwargs that fail
    its checks give a JobRejected and run nothing; so does a worker that cannot be
    invoked (the reason names only the AWS error code; the log has the details).
    Inline, the job's own errors reach the caller as they always did.
    """
    checked = _prepare(job, kwargs)
    if isinstance(checked, JobRejected):
        return checked
    _, call = checked
    if not config.jobs_on_worker:
        return call(config)
    function = config.names.worker_function
    try:
        request_id = worker.worker_invoke(job_event(job, kwargs), config=config)
    except AWS_ERRORS as exc:
        log.warning("job %s: could not invoke %s: %s", job, function, exc)
        code = error_code(exc) or type(exc).__name__
        return JobRejected(job=job, reason=f"could not queue it on the worker ({code})")
    log.info("job %s queued on %s (request %s)", job, function, request_id)
    return JobTicket(job=job, request_id=request_id)


def job_event(job: str, kwargs: JobKwargs) -> dict[str, object]:
    """The event that makes Zappa's handler on the worker call ``run_job``."""
    return {"command": WORKER_COMMAND, "job": job, "kwargs": dict(kwargs)}


def job_run_event(event: object, *, config: PipelineConfig, request_id: str = "") -> JobReply:
    """The worker's side of ``dispatch``: check the event's job and kwargs, then run it.

    Never raises. A bad event is rejected with its reason and runs nothing. A job that
    fails is logged with its traceback, counted (metric JobsFailed) and answered
    "failed" rather than raised: Lambda would run a failed asynchronous event twice
    more, minutes later, and a "delete all" retried then would also delete what had
    reached the DLQ since; the operator starts the job again instead.
    """
    fields: Mapping[Any, object] = event if isinstance(event, Mapping) else {}
    job = fields.get("job")
    name = job if isinstance(job, str) and job in JOBS else _shown(job)
    with log_context(job=name, request_id=request_id or None):
        if not isinstance(event, Mapping):
            checked: tuple[_Job[Any], JobCall[Any]] | JobRejected = _rejected(
                name, f"event: expected an object, got {_shown(event)}"
            )
        else:
            checked = _prepare(job, fields.get("kwargs"))
        if isinstance(checked, JobRejected):
            emit({"JobsRejected": 1}, dimensions={}, config=config)
            return {"job": name, "status": "rejected", "reason": checked.reason}
        spec, call = checked
        try:
            result = call(config)
        except Exception as exc:
            log.exception("job %s failed", name)
            emit({"JobsFailed": 1}, dimensions={}, config=config)
            reason = f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]
            return {"job": name, "status": "failed", "reason": reason}
        summary = spec.summary(result)
        log.info("job %s done: %s", name, summary)
        return {"job": name, "status": "done", "result": summary}


def _prepare(job: object, kwargs: object) -> tuple[_Job[Any], JobCall[Any]] | JobRejected:
    spec = JOBS.get(job) if isinstance(job, str) else None
    if spec is None:
        return _rejected(_shown(job), f"unknown job {_shown(job)} (known: {', '.join(JOBS)})")
    name = str(job)
    if not isinstance(kwargs, Mapping):
        return _rejected(name, f"kwargs: expected an object, got {_shown(kwargs)}")
    try:
        return spec, spec.prepare(kwargs)
    except PipelineError as exc:
        return _rejected(name, str(exc)[:_REASON_CHARS])


def _rejected(job: str, reason: str) -> JobRejected:
    log.warning("job %s rejected: %s", job, reason)
    return JobRejected(job=job, reason=reason)


# --- Each job's kwargs -----------------------------------------------------------------


def _ingest(kwargs: JobKwargs) -> JobCall[RunRecord]:
    _only(kwargs, {"sources"})
    sources = _names(kwargs, "sources")
    if sources is not None:
        feeds(sources)  # an unknown source is a PipelineError naming the known ones
    return lambda config: ingest(sources=sources, trigger=ADMIN_TRIGGER, config=config)


def _replay(kwargs: JobKwargs) -> JobCall[ReplayResult]:
    _only(kwargs, {"source", "type", "since", "until"})
    source, type_ = _name(kwargs, "source"), _name(kwargs, "type")
    since, until = _day(kwargs, "since"), _day(kwargs, "until")
    replay_feeds(source=source, type_=type_)  # unknown names are a PipelineError
    if since is not None and until is not None and since > until:
        raise JobArgsError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    return lambda config: replay(
        source=source, type_=type_, since=since, until=until, config=config
    )


def _dlq_job(action: _DlqAction) -> Callable[[JobKwargs], JobCall[int]]:
    def prepare(kwargs: JobKwargs) -> JobCall[int]:
        _only(kwargs, {"message_ids"})
        if "message_ids" not in kwargs:
            # Required: null means every message, which must never be a default.
            raise JobArgsError("message_ids: missing (a list of ids, or null for all)")
        ids = _names(kwargs, "message_ids")
        return lambda config: action(ids, config=config)

    return prepare


def _only(kwargs: JobKwargs, allowed: set[str]) -> None:
    unknown = sorted(_shown(key) for key in kwargs if key not in allowed)
    if unknown:
        raise JobArgsError(
            f"unknown kwargs: {', '.join(unknown[:5])} (allowed: {', '.join(sorted(allowed))})"
        )


def _is_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS


def _name(kwargs: JobKwargs, key: str) -> str | None:
    value = kwargs.get(key)
    if value is None:
        return None
    if not _is_name(value):
        raise JobArgsError(
            f"{key}: expected a name of 1 to {MAX_NAME_CHARS} characters or null, "
            f"got {_shown(value)}"
        )
    return value


def _names(kwargs: JobKwargs, key: str) -> list[str] | None:
    value = kwargs.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= MAX_LIST_ITEMS:
        raise JobArgsError(
            f"{key}: expected a list of 1 to {MAX_LIST_ITEMS} names or null, got {_shown(value)}"
        )
    bad = [item for item in value if not _is_name(item)]
    if bad:
        raise JobArgsError(
            f"{key}: each item must be a name of 1 to {MAX_NAME_CHARS} characters, "
            f"got {_shown(bad[0])}"
        )
    return [str(item) for item in value]


def _day(kwargs: JobKwargs, key: str) -> date | None:
    value = kwargs.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # 2026-02-30: the shape of a date, but none
    raise JobArgsError(f"{key}: expected a date YYYY-MM-DD or null, got {_shown(value)}")


# --- Results as JSON, for the worker's reply and log -------------------------------------


def _run_summary(run: RunRecord) -> dict[str, object]:
    return {"runId": run.run_id, "status": run.status}


def _replay_summary(result: ReplayResult) -> dict[str, object]:
    return {"keys": len(result.keys), "sent": result.sent, "skipped": len(result.skipped)}


def _count_summary(count: int) -> dict[str, object]:
    return {"count": count}


JOBS: dict[str, _Job[Any]] = {
    JOB_INGEST: _Job(_ingest, _run_summary),
    JOB_REPLAY: _Job(_replay, _replay_summary),
    JOB_DLQ_REDRIVE: _Job(_dlq_job(dlq_redrive), _count_summary),
    JOB_DLQ_DELETE: _Job(_dlq_job(dlq_delete), _count_summary),
}
