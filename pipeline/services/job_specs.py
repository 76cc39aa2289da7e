"""Each admin job by name: its kwargs checked into the call that runs it, its result as JSON.

The kwargs are the JSON a job event carries, checked the same way on the web and on
the worker. Anything a job does not expect, or a value of the wrong shape, is a
``JobArgsError`` whose text quotes the bad value shortened (a reason never echoes a
whole payload); ``pipeline.services.jobs`` turns it into a rejection.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Generic, Protocol, TypeGuard, TypeVar

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import PipelineError
from pipeline.services.dlq import dlq_delete, dlq_redrive
from pipeline.services.ingest import ingest
from pipeline.services.replay import ReplayResult, replay, replay_feeds
from pipeline.sources import feeds
from pipeline.stores.ledger import RunRecord

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
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlist = _REPR.maxdict = 3
shown = _REPR.repr
"""A value as a reason may quote it: its repr, shortened."""

R = TypeVar("R")
JobKwargs = Mapping[str, object]
JobCall = Callable[[PipelineConfig], R]


class JobArgsError(PipelineError):
    """A job's kwargs do not pass its checks."""


@dataclass(frozen=True)
class JobSpec(Generic[R]):
    """One job: its kwargs checked into a call, and the call's result as JSON."""

    prepare: Callable[[JobKwargs], JobCall[R]]
    summary: Callable[[R], dict[str, object]]


class DlqAction(Protocol):
    """``dlq_redrive`` and ``dlq_delete``: the named messages (None: all); how many."""

    def __call__(self, message_ids: list[str] | None, *, config: PipelineConfig) -> int: ...


def ingest_call(kwargs: JobKwargs) -> JobCall[RunRecord]:
    _only(kwargs, {"sources"})
    sources = _names(kwargs, "sources")
    if sources is not None:
        feeds(sources)  # an unknown source is a PipelineError naming the known ones
    return lambda config: ingest(sources=sources, trigger=ADMIN_TRIGGER, config=config)


def replay_call(kwargs: JobKwargs) -> JobCall[ReplayResult]:
    _only(kwargs, {"source", "type", "since", "until"})
    source, type_ = _name(kwargs, "source"), _name(kwargs, "type")
    since, until = _day(kwargs, "since"), _day(kwargs, "until")
    replay_feeds(source=source, type_=type_)  # unknown names are a PipelineError
    if since is not None and until is not None and since > until:
        raise JobArgsError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    return lambda config: replay(
        source=source, type_=type_, since=since, until=until, config=config
    )


def dlq_call(action: DlqAction) -> Callable[[JobKwargs], JobCall[int]]:
    def prepare(kwargs: JobKwargs) -> JobCall[int]:
        _only(kwargs, {"message_ids"})
        if "message_ids" not in kwargs:
            # Required: null means every message, which must never be a default.
            raise JobArgsError("message_ids: missing (a list of ids, or null for all)")
        ids = _names(kwargs, "message_ids")
        return lambda config: action(ids, config=config)

    return prepare


def _only(kwargs: JobKwargs, allowed: set[str]) -> None:
    unknown = sorted(shown(key) for key in kwargs if key not in allowed)
    if unknown:
        raise JobArgsError(
            f"unknown kwargs: {', '.join(unknown[:5])} (allowed: {', '.join(sorted(allowed))})"
        )


def is_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS


def _name(kwargs: JobKwargs, key: str) -> str | None:
    value = kwargs.get(key)
    if value is None:
        return None
    if not is_name(value):
        raise JobArgsError(
            f"{key}: expected a name of 1 to {MAX_NAME_CHARS} characters or null, "
            f"got {shown(value)}"
        )
    return value


def _names(kwargs: JobKwargs, key: str) -> list[str] | None:
    value = kwargs.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= MAX_LIST_ITEMS:
        raise JobArgsError(
            f"{key}: expected a list of 1 to {MAX_LIST_ITEMS} names or null, got {shown(value)}"
        )
    bad = [item for item in value if not is_name(item)]
    if bad:
        raise JobArgsError(
            f"{key}: each item must be a name of 1 to {MAX_NAME_CHARS} characters, "
            f"got {shown(bad[0])}"
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
    raise JobArgsError(f"{key}: expected a date YYYY-MM-DD or null, got {shown(value)}")


# --- Results as JSON, for the worker's reply, its log and the job's record ---------------


def _run_summary(run: RunRecord) -> dict[str, object]:
    return {"runId": run.run_id, "status": run.status}


def _replay_summary(result: ReplayResult) -> dict[str, object]:
    return {"keys": len(result.keys), "sent": result.sent, "skipped": len(result.skipped)}


def _count_summary(count: int) -> dict[str, object]:
    return {"count": count}


JOBS: dict[str, JobSpec[Any]] = {
    JOB_INGEST: JobSpec(ingest_call, _run_summary),
    JOB_REPLAY: JobSpec(replay_call, _replay_summary),
    JOB_DLQ_REDRIVE: JobSpec(dlq_call(dlq_redrive), _count_summary),
    JOB_DLQ_DELETE: JobSpec(dlq_call(dlq_delete), _count_summary),
}
