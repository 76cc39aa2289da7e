"""The admin's writing jobs: queued on the worker function in deployed stages, inline locally.

moto's Lambda ``invoke`` needs Docker, so the Lambda client ``pipeline.stores.aws``
builds is driven by botocore's Stubber: each invoke's parameters are checked and its
payload recorded. Feeding that payload to ``pipeline.handlers.run_job``
(what Zappa's handler does on the worker) then runs the job against moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.stub import Stubber
from zappa.handler import LambdaHandler

from pipeline.core.clock import utc_now
from pipeline.core.config import PipelineConfig, get_config
from pipeline.handlers import run_job
from pipeline.local.poller import LocalContext
from pipeline.models import DeadLetterMessage, IngestionRun
from pipeline.services import jobs
from pipeline.services.jobs import MAX_LIST_ITEMS, JobRejected, JobTicket, dispatch, job_event
from pipeline.stores import aws, ledger
from tests import factories
from tests.factories import put_raw
from tests.test_admin_console import dead_letter, dlq_ids, log_entries, main_queue_depth
from tests.test_settings import reloaded_settings

pytestmark = pytest.mark.django_db

ADMIN = "/admin/pipeline"
REQUEST_ID = "5f1c2a9e-0000-4000-8000-00000000abcd"
TODAY = utc_now().date().isoformat()


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
def on_worker(config, settings) -> PipelineConfig:
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


# --- Jobs on the worker ------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_with_jobs_on_the_worker_an_action_only_queues_its_job_and_run_job_then_does_it(
    operator, worker, world, action
):
    worker.accept()

    response = operator.post(f"{ADMIN}/{action.url}", action.form(world), follow=True)

    assert worker.events == [
        {"command": "pipeline.handlers.run_job", "job": action.job, "kwargs": action.kwargs(world)}
    ]
    assert state(worker.config, world) == BEFORE  # the web function wrote nothing
    [message] = page_messages(response)
    assert "queued on the worker" in message
    [entry] = log_entries(action.model)
    assert f"queued on the worker (request {REQUEST_ID})" in entry.change_message

    reply = run_job(worker.events[0], LocalContext(aws_request_id=REQUEST_ID))

    assert reply["status"] == "done", reply
    assert state(worker.config, world) == action.after


def test_ingest_now_on_the_worker_records_the_run_as_the_admins(operator, worker, world):
    worker.accept()
    operator.post(f"{ADMIN}/ingestionrun/ingest/")

    reply = run_job(worker.events[0], LocalContext())

    [run] = ledger.run_list(config=worker.config)
    assert (run.trigger, run.status) == ("admin", "succeeded")
    assert reply["result"] == {"runId": run.run_id, "status": "succeeded"}


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.id in ONE_PER_VIEW])
def test_a_refused_invoke_shows_only_the_aws_error_code_and_runs_nothing(
    operator, worker, world, action, caplog
):
    detail = "User: arn:aws:sts::123456789012:assumed-role/twl-pipeline-test-web/s-1 is not"
    worker.refuse("AccessDeniedException", detail)

    response = operator.post(f"{ADMIN}/{action.url}", action.form(world), follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert "could not queue it on the worker (AccessDeniedException)" in page
    assert "assumed-role" not in page
    assert "assumed-role" in caplog.text  # the details are in the web function's log
    assert state(worker.config, world) == BEFORE
    assert log_entries(action.model) == []


def test_a_replay_the_worker_could_not_run_is_refused_before_queueing(operator, worker, world):
    response = operator.post(
        f"{ADMIN}/ingestionrun/replay/", {"source": "randomuser", "type": "post"}
    )

    assert "has no type" in response.content.decode()
    assert worker.events == []
    assert log_entries(IngestionRun) == []


@pytest.mark.parametrize(
    ("job", "kwargs", "reason"),
    [
        ("raw_command", {}, "unknown job 'raw_command'"),
        ("dlq_delete", {}, "message_ids: missing"),
        ("replay", {"dry_run": True}, "unknown kwargs: 'dry_run'"),
    ],
)
def test_dispatch_rejects_an_unknown_job_or_bad_kwargs_without_invoking_the_worker(
    worker, job, kwargs, reason
):
    outcome = dispatch(job, kwargs, config=worker.config)

    assert isinstance(outcome, JobRejected) and reason in outcome.reason
    assert worker.events == []


def test_a_queued_job_returns_a_ticket_with_the_invocations_request_id(worker):
    worker.accept()

    outcome = dispatch(jobs.JOB_DLQ_REDRIVE, {"message_ids": ["m-1"]}, config=worker.config)

    assert outcome == JobTicket(job="dlq_redrive", request_id=REQUEST_ID)


# --- What the worker accepts ------------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch) -> None:
    """Any AWS client the code asks for fails (a rejected job touches nothing)."""

    def refuse(*args: object) -> None:
        raise AssertionError("a rejected job must not reach AWS")

    monkeypatch.setattr(aws, "_build", refuse)


TOO_MANY = [f"m-{n}" for n in range(MAX_LIST_ITEMS + 1)]


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


def test_a_job_that_fails_on_the_worker_is_answered_failed_counted_and_not_raised(
    config, moto_aws, capsys
):
    # No queues exist: the redrive's first SQS call fails.
    reply = run_job(job_event("dlq_redrive", {"message_ids": None}), LocalContext())

    assert reply["status"] == "failed"
    assert "QueueDoesNotExist" in reply["reason"] or "NonExistentQueue" in reply["reason"]
    assert '"JobsFailed"' in capsys.readouterr().out


# --- Inline, as before -------------------------------------------------------------------


@pytest.fixture
def no_lambda(monkeypatch) -> None:
    """Any Lambda client the code asks for fails the test."""

    def refuse(config: PipelineConfig) -> None:
        raise AssertionError("inline jobs must not invoke Lambda")

    monkeypatch.setattr(aws, "lambda_", refuse)


def test_with_jobs_on_the_worker_off_the_admin_runs_the_job_inline(operator, world, no_lambda):
    response = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"}, follow=True)

    assert state(get_config(), world) == (0, 2, set())
    assert page_messages(response) == ["Redrove 2 message(s) to the main queue: all messages."]


def test_with_jobs_on_the_worker_off_dispatch_returns_the_jobs_result(stack, world, no_lambda):
    assert stack.jobs_on_worker is False

    moved = dispatch(jobs.JOB_DLQ_REDRIVE, {"message_ids": [world[1]]}, config=stack)

    assert moved == 1
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
