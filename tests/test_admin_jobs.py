"""The admin's writing jobs: queued on the worker function in deployed stages, inline locally.

moto's Lambda ``invoke`` needs Docker, so the Lambda client ``pipeline.stores.aws``
builds is driven by botocore's Stubber: each invoke's parameters are checked and its
payload recorded. Feeding that payload to ``pipeline.handlers.run_job``
(what Zappa's handler does on the worker) then runs the job against moto. Each job has
a record in the ledger (``JOB#<id>``) that its page in the console shows.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from unittest.mock import Mock

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from django.contrib.auth.models import Permission
from django.test import Client
from zappa.handler import LambdaHandler

from pipeline.admin import jobs as admin_jobs
from pipeline.core.clock import iso, parse_iso, utc_now
from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import JOB_PK_PREFIX, JOB_SK, JOB_TTL, LEDGER_PK, LEDGER_SK
from pipeline.handlers import run_job
from pipeline.local.poller import LocalContext
from pipeline.models import DeadLetterMessage, IngestionRun
from pipeline.services import jobs
from pipeline.services.jobs import (
    MAX_LIST_ITEMS,
    JobDone,
    JobRejected,
    JobTicket,
    dispatch,
    job_event,
)
from pipeline.stores import aws, ledger
from pipeline.stores import worker as job_store
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE
from pipeline.stores.worker import JobRecord, job_record_get, job_record_list, job_record_put
from tests import factories
from tests.factories import put_raw
from tests.test_admin_console import dead_letter, dlq_ids, log_entries, main_queue_depth
from tests.test_settings import reloaded_settings

pytestmark = pytest.mark.django_db

ADMIN = "/admin/pipeline"
REQUEST_ID = "5f1c2a9e-0000-4000-8000-00000000abcd"
TODAY = utc_now().date().isoformat()
JOB_LINK = re.compile(r'<a href="([^"]+)" data-testid="job-link">')
RUN_LINK = re.compile(r'<a href="([^"]+)" data-testid="job-run-link">')
STATUS = re.compile(r'data-testid="job-status">([a-z]+)</span>')
REFRESH = '<meta http-equiv="refresh"'
# Internal error text (an ARN) that only staff may ever see.
SECRET = "arn:aws:iam::123456789012:role/twl-pipeline-test-worker may not"
PUBLIC_PATHS = ["/", "/records/", "/api/runs", "/api/health", "/api/records"]


@pytest.fixture
def operator(client, django_user_model):
    """A logged-in superuser."""
    client.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))
    return client


class _RecordedPayload:
    """Equal to any payload (Stubber compares expected == sent), which it keeps as JSON."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __eq__(self, sent: object) -> bool:
        self.events.append(json.loads(sent))
        return True


@dataclass
class WorkerStub:
    """The stage's Lambda client, stubbed: what the admin asked the worker to run."""

    stubber: Stubber
    config: PipelineConfig
    events: list[dict[str, Any]] = field(default_factory=list)

    def accept(self) -> None:
        """The next invoke is accepted, as Lambda accepts an Event invocation."""
        self.stubber.add_response(
            "invoke",
            {"StatusCode": 202, "ResponseMetadata": {"RequestId": REQUEST_ID}},
            expected_params={
                "FunctionName": self.config.names.worker_function,
                "InvocationType": "Event",
                "Payload": _RecordedPayload(self.events),
            },
        )

    def refuse(self, code: str, message: str) -> None:
        self.stubber.add_client_error(
            "invoke", service_error_code=code, service_message=message, http_status_code=403
        )


@pytest.fixture
def on_worker(stack, settings) -> PipelineConfig:
    """A deployed stage's setting: the admin's jobs go to the worker."""
    settings.TWL_JOBS_ON_WORKER = True
    return get_config()


@pytest.fixture
def worker(on_worker, moto_aws) -> Iterator[WorkerStub]:
    # After moto_aws, which drops cached clients: the stubbed one must be the one used.
    with Stubber(aws.lambda_(on_worker)) as stubber:
        yield WorkerStub(stubber, on_worker)
        stubber.assert_no_pending_responses()


@pytest.fixture
def world(stack, sources) -> list[str]:
    """One raw object to replay and two dead letters; returns the dead letters' ids."""
    put_raw(stack, "jsonplaceholder", "post", factories.posts(2))
    return [dead_letter(stack), dead_letter(stack)]


def state(config: PipelineConfig, letters: list[str]) -> tuple[int, int, set[int]]:
    """Runs in the ledger, messages in the main queue, which dead letters are left."""
    left = dlq_ids(config)
    return (
        len(ledger.run_list(config=config)),
        main_queue_depth(config),
        {i for i, letter in enumerate(letters) if letter in left},
    )


@dataclass(frozen=True)
class Action:
    """One admin action, the job it becomes, and what that job does once run."""

    url: str
    form: Callable[[list[str]], dict[str, str]]
    job: str
    kwargs: Callable[[list[str]], dict[str, Any]]
    after: tuple[int, int, set[int]]
    model: type = DeadLetterMessage


ACTIONS = [
    pytest.param(
        Action(
            "ingestionrun/ingest/",
            lambda ids: {},
            "ingest",
            lambda ids: {},
            after=(1, 4, {0, 1}),  # one run; one message per feed
            model=IngestionRun,
        ),
        id="ingest-now",
    ),
    pytest.param(
        Action(
            "ingestionrun/replay/",
            lambda ids: {"source": "jsonplaceholder", "since": TODAY},
            "replay",
            lambda ids: {"source": "jsonplaceholder", "type": None, "since": TODAY, "until": None},
            after=(0, 1, {0, 1}),
            model=IngestionRun,
        ),
        id="replay",
    ),
    pytest.param(
        Action(
            "deadlettermessage/redrive/",
            lambda ids: {"id": ids[0]},
            "dlq_redrive",
            lambda ids: {"message_ids": [ids[0]]},
            after=(0, 1, {1}),
        ),
        id="redrive-one",
    ),
    pytest.param(
        Action(
            "deadlettermessage/redrive/",
            lambda ids: {"all": "1"},
            "dlq_redrive",
            lambda ids: {"message_ids": None},
            after=(0, 2, set()),
        ),
        id="redrive-all",
    ),
    pytest.param(
        Action(
            "deadlettermessage/delete/",
            lambda ids: {"id": ids[0]},
            "dlq_delete",
            lambda ids: {"message_ids": [ids[0]]},
            after=(0, 0, {1}),
        ),
        id="delete-one",
    ),
    pytest.param(
        Action(
            "deadlettermessage/delete/",
            lambda ids: {"all": "1"},
            "dlq_delete",
            lambda ids: {"message_ids": None},
            after=(0, 0, set()),
        ),
        id="delete-all",
    ),
]
BEFORE = (0, 0, {0, 1})
ONE_PER_VIEW = {"ingest-now", "replay", "redrive-one", "delete-all"}


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def job_page_url(response) -> str:
    """The job page the action's message links to (it links to exactly one)."""
    [url] = {url for message in page_messages(response) for url in JOB_LINK.findall(message)}
    return url


def job_url(job_id: str) -> str:
    return f"{ADMIN}/job/{job_id}/change/"


def shown_status(response) -> str:
    [status] = STATUS.findall(response.content.decode())
    return status


@dataclass
class Mode:
    """Where the admin's jobs run: inline in the request, or queued for the (stubbed) worker."""

    name: str
    stub: WorkerStub | None = None

    def post(self, client: Client, url: str, form: dict[str, str] | None = None):
        if self.stub is not None:
            self.stub.accept()
        return client.post(url, form or {}, follow=True)

    def run_worker(self) -> None:
        """What Lambda does next on the worker: run each event the web queued."""
        if self.stub is not None:
            for event in self.stub.events:
                run_job(event, LocalContext(aws_request_id=REQUEST_ID))


@pytest.fixture(params=["inline", "worker"])
def mode(request, stack) -> Mode:
    if request.param == "inline":
        return Mode("inline")
    return Mode("worker", request.getfixturevalue("worker"))


# --- Jobs on the worker ------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_with_jobs_on_the_worker_an_action_only_queues_its_job_and_run_job_then_does_it(
    operator, worker, world, sources, action
):
    worker.accept()

    response = operator.post(f"{ADMIN}/{action.url}", action.form(world), follow=True)

    event = dict(worker.events[0])
    job_id = event.pop("job_id")
    assert event == {
        "command": "pipeline.handlers.run_job",
        "job": action.job,
        "kwargs": action.kwargs(world),
    }
    assert state(worker.config, world) == BEFORE  # the web function ran nothing
    assert len(sources.calls) == 0  # not even a fetch: no ingest inside the request
    [message] = page_messages(response)
    assert "queued on the worker" in message
    assert job_page_url(response) == job_url(job_id)
    [entry] = log_entries(action.model)
    assert f"queued on the worker as job {job_id} (request {REQUEST_ID})" in entry.change_message
    assert job_record_get(job_id, config=worker.config).status == "queued"

    reply = run_job(worker.events[0], LocalContext(aws_request_id=REQUEST_ID))

    assert (reply["status"], reply["job_id"]) == ("done", job_id), reply
    assert state(worker.config, world) == action.after
    assert job_record_get(job_id, config=worker.config).result == reply["result"]


def test_an_ingest_on_the_worker_shows_queued_then_done_with_a_link_to_its_run(
    operator, worker, world
):
    worker.accept()
    url = job_page_url(operator.post(f"{ADMIN}/ingestionrun/ingest/", follow=True))

    queued = operator.get(url)

    assert shown_status(queued) == "queued"
    assert REFRESH in queued.content.decode()  # it refreshes itself while under way
    job = queued.context["job"]
    assert (job.job, job.requested_by, job.kwargs) == ("ingest", "ops", "defaults")

    run_job(worker.events[0], LocalContext(aws_request_id=REQUEST_ID))
    done = operator.get(url)

    [run] = ledger.run_list(config=worker.config)
    assert (run.trigger, run.status) == ("admin", "succeeded")
    assert shown_status(done) == "done"
    assert REFRESH not in done.content.decode()
    assert done.context["job"].result == {"runId": run.run_id, "status": "succeeded"}
    assert done.context["job"].request_id == REQUEST_ID  # finds the worker's log lines
    [run_link] = RUN_LINK.findall(done.content.decode())
    run_page = operator.get(run_link.replace("&amp;", "&"))
    assert [r.run_id for r in run_page.context["runs"]] == [run.run_id]


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.id in ONE_PER_VIEW])
def test_a_refused_invoke_shows_only_the_aws_error_code_runs_nothing_and_records_rejected(
    operator, worker, world, action, caplog
):
    detail = "User: arn:aws:sts::123456789012:assumed-role/twl-pipeline-test-web/s-1 is not"
    worker.refuse("AccessDeniedException", detail)

    response = operator.post(f"{ADMIN}/{action.url}", action.form(world), follow=True)

    page = response.content.decode()
    reason = "could not queue it on the worker (AccessDeniedException)"
    assert response.status_code == HTTPStatus.OK
    assert reason in page
    assert "assumed-role" not in page
    assert "assumed-role" in caplog.text  # the details are in the web function's log
    assert state(worker.config, world) == BEFORE
    assert log_entries(action.model) == []
    [job] = job_record_list(config=worker.config)
    assert (job.status, job.reason) == ("rejected", reason)
    job_page = operator.get(job_url(job.job_id))
    assert shown_status(job_page) == "rejected"
    assert reason in job_page.content.decode() and "assumed-role" not in job_page.content.decode()
    assert REFRESH not in job_page.content.decode()


def test_a_refused_invoke_whose_record_cannot_be_marked_rejected_says_so_now_and_on_its_page(
    operator, worker, monkeypatch, caplog
):
    worker.refuse("AccessDeniedException", "not allowed")
    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
        "UpdateItem",
    )
    with monkeypatch.context() as patched:
        patched.setattr(job_store, "job_record_move", Mock(side_effect=throttled))
        outcome = dispatch(
            jobs.JOB_DLQ_REDRIVE, {"message_ids": ["m-1"]}, requested_by="ops", config=worker.config
        )
    later = utc_now() + admin_jobs.QUEUED_STALL + timedelta(minutes=1)
    monkeypatch.setattr(admin_jobs, "utc_now", lambda: later)

    page = operator.get(job_url(outcome.job_id))

    assert isinstance(outcome, JobRejected)
    assert "its record could not be updated and still says queued" in outcome.reason
    assert "refused, but its record could not be corrected" in caplog.text
    assert job_record_get(outcome.job_id, config=worker.config).status == "queued"
    assert shown_status(page) == "queued"
    assert "the invoke was refused and this record could not be corrected" in page.content.decode()


def test_a_replay_the_worker_could_not_run_is_refused_before_queueing(operator, worker, world):
    response = operator.post(
        f"{ADMIN}/ingestionrun/replay/", {"source": "randomuser", "type": "post"}
    )

    assert "has no type" in response.content.decode()
    assert worker.events == []
    assert log_entries(IngestionRun) == []
    assert job_record_list(config=worker.config) == []


@pytest.mark.parametrize(
    ("job", "kwargs", "reason"),
    [
        ("raw_command", {}, "unknown job 'raw_command'"),
        ("dlq_delete", {}, "message_ids: missing"),
        ("replay", {"dry_run": True}, "unknown kwargs: 'dry_run'"),
    ],
)
def test_dispatch_rejects_an_unknown_job_or_bad_kwargs_without_a_record_or_an_invoke(
    worker, job, kwargs, reason
):
    outcome = dispatch(job, kwargs, requested_by="ops", config=worker.config)

    assert isinstance(outcome, JobRejected) and reason in outcome.reason
    assert outcome.job_id is None
    assert worker.events == []
    assert job_record_list(config=worker.config) == []


def test_a_queued_job_returns_a_ticket_with_its_job_id_and_the_invocations_request_id(worker):
    worker.accept()

    outcome = dispatch(
        jobs.JOB_DLQ_REDRIVE, {"message_ids": ["m-1"]}, requested_by="ops", config=worker.config
    )

    [event] = worker.events
    assert outcome == JobTicket(job="dlq_redrive", job_id=event["job_id"], request_id=REQUEST_ID)


def test_a_jobs_record_keeps_a_short_summary_of_its_kwargs_and_expires_after_the_ttl(worker):
    worker.accept()
    ids = [f"m-{n}" for n in range(MAX_LIST_ITEMS)]

    outcome = dispatch(
        jobs.JOB_DLQ_DELETE, {"message_ids": ids}, requested_by="ops", config=worker.config
    )

    assert isinstance(outcome, JobTicket)
    key = {LEDGER_PK: {"S": f"{JOB_PK_PREFIX}{outcome.job_id}"}, LEDGER_SK: {"S": JOB_SK}}
    item = aws.dynamodb(worker.config).get_item(TableName=worker.config.ledger_table, Key=key)
    item = item["Item"]
    assert item["kwargs"] == {"S": f"message_ids: m-0, m-1, m-2 and {MAX_LIST_ITEMS - 3} more"}
    started = job_record_get(outcome.job_id, config=worker.config).started_at
    expires = parse_iso(started) + JOB_TTL
    assert item[LEDGER_TTL_ATTRIBUTE] == {"N": str(int(expires.timestamp()))}


# --- Both modes look the same ---------------------------------------------------------------


@pytest.fixture
def steps(monkeypatch) -> list[str]:
    """Every status a job's record is written with, in order."""
    written: list[str] = []
    put, move = job_store.job_record_put, job_store.job_record_move

    def spied_put(record: JobRecord, **kwargs: Any) -> None:
        put(record, **kwargs)
        written.append(record.status)

    def spied_move(job_id: str, changes: dict[str, object], **kwargs: Any) -> bool:
        moved = move(job_id, changes, **kwargs)
        if moved:
            written.append(str(changes["status"]))
        return moved

    monkeypatch.setattr(job_store, "job_record_put", spied_put)
    monkeypatch.setattr(job_store, "job_record_move", spied_move)
    return written


def test_a_jobs_record_goes_queued_running_done_inline_and_on_the_worker(
    operator, mode, steps, world
):
    response = mode.post(operator, f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"})
    url = job_page_url(response)
    mode.run_worker()

    page = operator.get(url)

    assert steps == ["queued", "running", "done"]
    assert shown_status(page) == "done"
    job = page.context["job"]
    assert (job.job, job.kwargs, job.requested_by, job.result) == (
        "dlq_redrive",
        "message_ids: all",
        "ops",
        {"count": 2},
    )
    assert job.started_at <= job.running_at <= job.finished_at
    assert dlq_ids(get_config()) == set()


def test_a_job_that_raises_shows_failed_with_its_reason_on_its_page_and_no_public_page(
    operator, mode, monkeypatch
):
    def broken(**kwargs: object) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr("pipeline.services.job_specs.ingest", broken)

    response = mode.post(operator, f"{ADMIN}/ingestionrun/ingest/")
    url = job_page_url(response)
    mode.run_worker()
    page = operator.get(url)

    assert response.status_code == HTTPStatus.OK
    assert shown_status(page) == "failed"
    assert f"RuntimeError: {SECRET}" in page.content.decode()
    assert REFRESH not in page.content.decode()
    visitor = Client()
    assert {
        path: SECRET in visitor.get(path).content.decode() for path in PUBLIC_PATHS
    } == dict.fromkeys(PUBLIC_PATHS, False)
    refused = visitor.get(url)  # the job's page is the console's: staff only
    assert refused.status_code == HTTPStatus.FOUND and refused["Location"].startswith(
        "/admin/login/"
    )


# --- What the worker accepts ------------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch) -> None:
    """Any AWS client the code asks for fails (a rejected job touches nothing)."""

    def refuse(*args: object) -> None:
        raise AssertionError("a rejected job must not reach AWS")

    monkeypatch.setattr(aws, "_build", refuse)


TOO_MANY = [f"m-{n}" for n in range(MAX_LIST_ITEMS + 1)]
BAD_JOB_IDS = [
    pytest.param("../RUN#x", id="a-key-path"),
    pytest.param("A" * 32, id="upper-case"),
    pytest.param(42, id="a-number"),
    pytest.param("f" * 5_000, id="too-long"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param("ingest", "event: expected an object", id="not-an-object"),
        pytest.param({"kwargs": {}}, "unknown job None", id="no-job"),
        pytest.param(
            {"job": "raw_command", "kwargs": {}}, "unknown job 'raw_command'", id="unknown"
        ),
        pytest.param({"job": ["ingest"], "kwargs": {}}, "unknown job ['ingest']", id="job-a-list"),
        pytest.param({"job": "ingest"}, "kwargs: expected an object, got None", id="no-kwargs"),
        pytest.param(
            {"job": "ingest", "kwargs": []}, "kwargs: expected an object", id="kwargs-list"
        ),
        pytest.param(
            {"job": "ingest", "kwargs": {"trigger": "x"}}, "unknown kwargs: 'trigger'", id="extra"
        ),
        pytest.param(
            {"job": "ingest", "kwargs": {"sources": ["nope"]}},
            "unknown source 'nope'",
            id="unknown-source",
        ),
        pytest.param(
            {"job": "ingest", "kwargs": {"sources": []}}, "expected a list of 1", id="no-sources"
        ),
        pytest.param(
            {"job": "replay", "kwargs": {"since": "2026-02-30"}},
            "since: expected a date YYYY-MM-DD",
            id="no-such-day",
        ),
        pytest.param(
            {"job": "replay", "kwargs": {"until": "20261101"}}, "until: expected a date", id="day"
        ),
        pytest.param(
            {"job": "replay", "kwargs": {"since": "2026-11-05", "until": "2026-11-01"}},
            "is after until",
            id="since-after-until",
        ),
        pytest.param(
            {"job": "replay", "kwargs": {"source": "randomuser", "type": "post"}},
            "has no type 'post'",
            id="unknown-type",
        ),
        pytest.param(
            {"job": "replay", "kwargs": {"source": 5}}, "source: expected a name", id="source-int"
        ),
        pytest.param(
            {"job": "dlq_delete", "kwargs": {}}, "message_ids: missing", id="delete-no-ids"
        ),
        pytest.param(
            {"job": "dlq_redrive", "kwargs": {"message_ids": "all"}},
            "message_ids: expected a list",
            id="ids-a-string",
        ),
        pytest.param(
            {"job": "dlq_delete", "kwargs": {"message_ids": [1]}},
            "each item must be a name",
            id="id-an-int",
        ),
        pytest.param(
            {"job": "dlq_delete", "kwargs": {"message_ids": []}},
            "expected a list of 1",
            id="ids-empty",
        ),
        pytest.param(
            {"job": "dlq_delete", "kwargs": {"message_ids": TOO_MANY}},
            f"expected a list of 1 to {MAX_LIST_ITEMS} names",
            id="too-many-ids",
        ),
        pytest.param(
            {"job": "dlq_redrive", "kwargs": {"message_ids": ["x" * 10_000]}},
            "each item must be a name of 1 to 128 characters",
            id="id-too-long",
        ),
    ],
)
def test_run_job_rejects_a_bad_event_with_its_reason_and_runs_nothing(
    config, no_aws, event, reason
):
    reply = run_job(event, LocalContext())

    # A job that ran would have asked for an AWS client and been answered "failed".
    assert reply["status"] == "rejected", reply
    assert reason in reply["reason"]
    assert len(reply["reason"]) <= 300  # never the whole bad value


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
def test_an_event_with_a_malformed_job_id_is_rejected_and_runs_nothing(config, no_aws, job_id):
    event = {**job_event("dlq_delete", {"message_ids": None}), "job_id": job_id}

    reply = run_job(event, LocalContext())

    assert reply["status"] == "rejected", reply
    assert "job_id: expected 32 hex digits" in reply["reason"]
    assert len(reply["reason"]) <= 300
    assert "job_id" not in reply  # nothing was looked up or written under it


def test_an_event_without_a_job_id_still_runs_untracked(stack, world):
    reply = run_job(job_event("dlq_redrive", {"message_ids": None}), LocalContext())

    assert reply == {"job": "dlq_redrive", "status": "done", "result": {"count": 2}}
    assert job_record_list(config=stack) == []


def test_an_event_with_a_job_id_but_no_record_runs_and_gets_a_listed_record(stack, world):
    job_id = uuid.uuid4().hex
    event = job_event("dlq_redrive", {"message_ids": [world[0]]}, job_id=job_id)

    reply = run_job(event, LocalContext(aws_request_id=REQUEST_ID))

    assert reply == {
        "job": "dlq_redrive",
        "status": "done",
        "result": {"count": 1},
        "job_id": job_id,
    }
    [job] = job_record_list(config=stack)
    assert (job.job_id, job.status, job.requested_by, job.kwargs, job.request_id) == (
        job_id,
        "done",
        "unknown",
        f"message_ids: {world[0]}",
        REQUEST_ID,
    )


def test_the_same_event_delivered_twice_runs_once_and_the_second_is_rejected(
    operator, worker, world
):
    worker.accept()
    operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"})
    [event] = worker.events

    first = run_job(event, LocalContext(aws_request_id=REQUEST_ID))
    newer = dead_letter(worker.config)  # a second run would move this one too
    second = run_job(event, LocalContext(aws_request_id="another-delivery"))

    assert first["status"] == "done"
    assert second["status"] == "rejected"
    assert f"job {event['job_id']} is done already: not run again" == second["reason"]
    assert dlq_ids(worker.config) == {newer}
    job = job_record_get(event["job_id"], config=worker.config)
    assert (job.status, job.result, job.request_id) == ("done", {"count": 2}, REQUEST_ID)


def test_a_queued_job_the_worker_rejects_is_recorded_rejected_with_the_reason(
    operator, worker, world
):
    """A web and a worker of different versions: the worker's checks are the last word."""
    worker.accept()
    operator.post(f"{ADMIN}/deadlettermessage/delete/", {"all": "1"})
    event = {**worker.events[0], "kwargs": {"message_ids": "all"}}

    reply = run_job(event, LocalContext(aws_request_id=REQUEST_ID))

    assert reply["status"] == "rejected"
    job = job_record_get(event["job_id"], config=worker.config)
    assert job.status == "rejected" and "message_ids: expected a list" in job.reason
    assert len(dlq_ids(worker.config)) == 2


def test_a_job_that_fails_on_the_worker_is_answered_failed_counted_and_not_raised(
    config, moto_aws, capsys
):
    # No queues exist: the redrive's first SQS call fails.
    reply = run_job(job_event("dlq_redrive", {"message_ids": None}), LocalContext())

    assert reply["status"] == "failed"
    assert "QueueDoesNotExist" in reply["reason"] or "NonExistentQueue" in reply["reason"]
    assert '"JobsFailed"' in capsys.readouterr().out


# --- The Jobs page ------------------------------------------------------------------------


def a_job(status: str, *, age: timedelta = timedelta(0), **fields: Any) -> JobRecord:
    """A job record asked for ``age`` ago (and running since then, when running)."""
    at = iso(utc_now() - age)
    running_at = at if status == "running" else None
    return JobRecord(
        job_id=uuid.uuid4().hex,
        job="ingest",
        kwargs="defaults",
        requested_by="ops",
        status=status,
        started_at=at,
        running_at=running_at,
        **fields,
    )


def test_the_jobs_page_lists_only_jobs_newest_first_refreshing_while_one_is_under_way(
    operator, stack
):
    old, new = a_job("done", age=timedelta(minutes=5)), a_job("running")
    for job in (new, old):  # written out of order: listed by time asked
        job_record_put(job, config=stack)
    ledger.run_put(
        ledger.RunRecord(run_id="r-1", trigger="admin", started_at=iso(utc_now())), config=stack
    )

    under_way = operator.get(f"{ADMIN}/job/")
    job_store.job_record_move(new.job_id, {"status": "done"}, expect=("running",), config=stack)
    over = operator.get(f"{ADMIN}/job/")

    assert [row["job"].job_id for row in under_way.context["rows"]] == [new.job_id, old.job_id]
    assert REFRESH in under_way.content.decode()
    assert REFRESH not in over.content.decode()
    assert [run.run_id for run in ledger.run_list(config=stack)] == ["r-1"]  # runs stay apart


@pytest.mark.parametrize(
    ("job", "note"),
    [
        pytest.param(
            a_job("running", age=timedelta(hours=1)),
            "Running for longer than the worker",
            id="running-too-long",
        ),
        pytest.param(
            a_job("queued", age=timedelta(hours=1)),
            "Not picked up by the worker",
            id="never-picked",
        ),
    ],
)
def test_a_job_silent_for_longer_than_it_could_take_says_so_and_stops_refreshing(
    operator, stack, job, note
):
    job_record_put(job, config=stack)

    page = operator.get(job_url(job.job_id))

    assert shown_status(page) == job.status
    assert note in page.content.decode()
    assert REFRESH not in page.content.decode()


def test_only_staff_with_view_permission_see_the_jobs_pages(client, django_user_model, stack):
    job = a_job("failed", reason=SECRET)
    job_record_put(job, config=stack)
    urls = [f"{ADMIN}/job/", job_url(job.job_id)]
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    before = [client.get(url).status_code for url in urls]

    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(django_user_model.objects.get(pk=user.pk))  # permissions are cached
    after = [client.get(url) for url in urls]

    assert before == [HTTPStatus.FORBIDDEN] * 2
    assert [r.status_code for r in after] == [HTTPStatus.OK] * 2
    assert SECRET in after[1].content.decode()


@pytest.mark.parametrize("job_id", [uuid.uuid4().hex, "not-a-job", "x" * 3_000])
def test_an_unknown_or_malformed_job_id_is_a_message_not_an_error_page(operator, stack, job_id):
    response = operator.get(job_url(job_id), follow=True)

    assert response.status_code == HTTPStatus.OK
    [message] = page_messages(response)
    assert message.startswith("No job") and len(message) < 200


def test_an_unknown_run_id_on_the_runs_page_is_a_message(operator, stack):
    response = operator.get(f"{ADMIN}/ingestionrun/", {"run": "no-such-run" * 100})

    assert response.status_code == HTTPStatus.OK
    assert response.context["runs"] == []
    [message] = page_messages(response)
    assert message.startswith("No run") and len(message) < 200


# --- Inline ------------------------------------------------------------------------------


@pytest.fixture
def no_lambda(monkeypatch) -> None:
    """Any Lambda client the code asks for fails the test."""

    def refuse(config: PipelineConfig) -> None:
        raise AssertionError("inline jobs must not invoke Lambda")

    monkeypatch.setattr(aws, "lambda_", refuse)


def test_with_jobs_on_the_worker_off_the_admin_runs_the_job_inline(operator, world, no_lambda):
    response = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"}, follow=True)

    assert state(get_config(), world) == (0, 2, set())
    [message] = page_messages(response)
    assert message.startswith("Redrove 2 message(s) to the main queue: all messages. See ")
    assert shown_status(operator.get(job_page_url(response))) == "done"


def test_with_jobs_on_the_worker_off_an_inline_ingest_links_its_job_and_its_run(
    operator, stack, sources, no_lambda
):
    response = operator.post(f"{ADMIN}/ingestionrun/ingest/", follow=True)

    [run] = ledger.run_list(config=stack)
    job_page = operator.get(job_page_url(response))
    assert shown_status(job_page) == "done"
    assert job_page.context["job"].run_id == run.run_id
    [run_link] = RUN_LINK.findall(job_page.content.decode())
    assert run_link.endswith(f"?run={run.run_id}")


def test_with_jobs_on_the_worker_off_dispatch_returns_the_jobs_result(stack, world, no_lambda):
    assert stack.jobs_on_worker is False

    outcome = dispatch(
        jobs.JOB_DLQ_REDRIVE, {"message_ids": [world[1]]}, requested_by="ops", config=stack
    )

    assert isinstance(outcome, JobDone) and outcome.result == 1
    assert job_record_get(outcome.job_id, config=stack).status == "done"
    assert state(stack, world) == (0, 1, {0})


@pytest.mark.parametrize(
    ("env", "unset", "expected"),
    [
        ({"AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-dev"}, ["TWL_JOBS_ON_WORKER"], True),
        ({}, ["AWS_LAMBDA_FUNCTION_NAME", "TWL_JOBS_ON_WORKER"], False),
        (
            {"AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-dev", "TWL_JOBS_ON_WORKER": "false"},
            [],
            False,
        ),
        ({"TWL_JOBS_ON_WORKER": "true"}, ["AWS_LAMBDA_FUNCTION_NAME"], True),
    ],
    ids=["in-lambda", "elsewhere", "in-lambda-turned-off", "elsewhere-turned-on"],
)
def test_jobs_go_to_the_worker_by_default_exactly_inside_lambda(monkeypatch, env, unset, expected):
    env = {"DJANGO_SECRET_KEY": "k" * 50, **env}
    with reloaded_settings(monkeypatch, unset=unset, **env) as reloaded:
        assert reloaded.TWL_JOBS_ON_WORKER is expected


# --- Through Zappa's handler on the worker ----------------------------------------------------


def test_zappas_handler_calls_run_job_for_the_events_command_with_event_and_context(
    stack, monkeypatch
):
    """The two steps of LambdaHandler.handler's ``command`` branch, as Zappa takes them."""
    letters = [dead_letter(stack), dead_letter(stack)]
    event = job_event("dlq_delete", {"message_ids": letters[:1]})
    calls: list[tuple[object, ...]] = []

    def recorded(*args: object) -> object:
        calls.append(args)
        return run_job(*args)

    function = LambdaHandler.import_module_and_get_function(event["command"])
    assert function is run_job
    monkeypatch.setattr("pipeline.handlers.run_job", recorded)
    reply = LambdaHandler.run_function(recorded, event, LocalContext())

    assert [len(args) for args in calls] == [2]  # (event, context): never retried with fewer
    assert reply == {"job": "dlq_delete", "status": "done", "result": {"count": 1}}
    assert dlq_ids(stack) == {letters[1]}
