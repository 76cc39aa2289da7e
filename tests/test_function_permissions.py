"""Every AWS call each function makes is allowed to its role, and the web role only reads data.

The calls are the real ones: recorded (``tests.iam_eval.CallRecorder``) while the code
runs on in-process moto, mapped to the IAM requests AWS makes for them, and judged
against the role's policy by a small evaluator of identity policies. Set-up (data,
dead letters, reading the queue) happens outside the recording window. The policies
are ``function_policy`` for moto's account; the template test checks the stack deploys
exactly those, and what the web role may never do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import pytest
from botocore.stub import Stubber
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.throttling import AnonRateThrottle

from pipeline import handlers
from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import JOB_PK_PREFIX, LEDGER_PK
from pipeline.deploy.stack.roles import (
    FUNCTIONS,
    TRACE_ACTIONS,
    TRUSTED_SERVICES,
    Function,
    StageTarget,
    function_policy,
)
from pipeline.deploy.stack.spec import spec_from_config
from pipeline.deploy.stack.template import ROLE_IDS, build_template
from pipeline.local.poller import LocalContext, lambda_event
from pipeline.services.ingest import ingest
from pipeline.services.jobs import job_event
from pipeline.services.secrets import resolve_secret
from pipeline.stores import aws, messages
from pipeline.stores.definitions import (
    SOURCEDEF_PK,
    definition_delete,
    definition_history,
    definition_put,
    definition_version_get,
    definitions_current,
)
from pipeline.stores.ledger import run_list
from pipeline.stores.throttle import THROTTLE_PK_PREFIX
from pipeline.stores.worker import JobRecord, job_record_put
from records_api import urls, urls_pages
from tests.declared.test_definitions_store import catalog
from tests.iam_eval import (
    AwsCall,
    CallRecorder,
    IamMapper,
    IamRequest,
    UnmappedCall,
    UnsupportedPolicy,
    allowed,
    allowing_statement,
    resolve_subs,
    table_keys_from_template,
)
from tests.test_admin_console import dead_letter

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
HIGH_RATE = "100000/minute"  # throttles on, counting, never refusing
ADMIN = "/admin/pipeline"


def target_of(config: PipelineConfig) -> StageTarget:
    return StageTarget(names=config.names, region=REGION, account_id=ACCOUNT)


def template_of(config: PipelineConfig) -> dict[str, Any]:
    return build_template(spec_from_config(config)).to_dict()


def mapper_of(config: PipelineConfig) -> IamMapper:
    return IamMapper(REGION, ACCOUNT, table_keys_from_template(template_of(config)))


Verdicts = dict[IamRequest, str | None]


def judged(function: Function, calls: Iterable[AwsCall], config: PipelineConfig) -> Verdicts:
    """Each distinct IAM request of the calls -> the Sid allowing it (None: denied)."""
    policy, mapper = function_policy(function, target_of(config)), mapper_of(config)
    return {
        request: allowing_statement(policy, request)
        for call in calls
        for request in mapper.requests(call)
    }


def denied(verdicts: Verdicts) -> list[str]:
    return sorted(
        f"{r.action} {r.resource} {dict(r.context)}" for r, sid in verdicts.items() if sid is None
    )


def resources(verdicts: Verdicts, action: str) -> set[str]:
    return {r.resource for r in verdicts if r.action == action}


def leading_keys(verdicts: Verdicts, action: str) -> set[str]:
    return {
        v for r in verdicts if r.action == action for v in r.values("dynamodb:LeadingKeys") or ()
    }


@pytest.fixture
def recorder(monkeypatch) -> CallRecorder:
    calls = CallRecorder()
    calls.install(monkeypatch)
    return calls


def _received(config: PipelineConfig) -> list[dict[str, Any]]:
    """Every message waiting on the main queue (received without waiting: moto has them)."""
    sqs, url = aws.sqs(config), messages.queue_url(config)
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        received += batch
    return received


def _sqs_event(config: PipelineConfig, received: list[dict[str, Any]]) -> dict[str, Any]:
    return lambda_event(received, queue_arn=messages.queue_arn(config), region=REGION)


def _process_queue(config: PipelineConfig) -> None:
    """What the SQS event source and the worker do with the queue (set-up, not recorded)."""
    received = _received(config)
    assert handlers.process_sqs_event(_sqs_event(config, received), LocalContext()) == {
        "batchItemFailures": []
    }
    for message in received:
        aws.sqs(config).delete_message(
            QueueUrl=messages.queue_url(config), ReceiptHandle=message["ReceiptHandle"]
        )


@pytest.fixture
def data(stack, sources) -> PipelineConfig:
    """One processed ingest (its records, runs, counters and raw objects)."""
    ingest(config=stack)
    _process_queue(stack)
    return stack


@pytest.fixture
def letters(data) -> list[str]:
    """Two messages in the dead-letter queue, with their failure reasons; their ids."""
    return [dead_letter(data), dead_letter(data)]


@pytest.fixture
def throttles_on(settings, monkeypatch) -> None:
    """Every rate limit on (high enough never to refuse), so the counters are written."""
    settings.TWL_PAGE_RATE = HIGH_RATE
    settings.TWL_HEALTH_RATE = HIGH_RATE
    monkeypatch.setattr(
        AnonRateThrottle, "THROTTLE_RATES", {"anon": HIGH_RATE, "apikey": HIGH_RATE}
    )


@pytest.fixture
def staff(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))
    return browser


def a_record_id() -> str:
    """A processed record's id (read before the window opens)."""
    return Client().get("/api/records?limit=1").json()["results"][0]["id"]


# --- The evaluator judges as IAM does (so a pass means something) -----------------------

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Objects",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::bucket/raw/*"],
        },
        {
            "Sid": "Listing",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::bucket",
            "Condition": {"StringLike": {"s3:prefix": ["raw/*"]}},
        },
        {
            "Sid": "Counters",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/ledger"],
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["THROTTLE#*"]}},
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:PutLogEvents"],
            "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*"],
        },
    ],
}
LEDGER = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger"
STREAM = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:2026/x"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (IamRequest.of("s3:GetObject", "arn:aws:s3:::bucket/raw/a/b.json"), "Objects"),
        (IamRequest.of("S3:getobject", "arn:aws:s3:::bucket/raw/a.json"), "Objects"),
        (IamRequest.of("s3:GetObject", "arn:aws:s3:::bucket/quarantine/a.json"), None),
        (IamRequest.of("s3:GetObject", "arn:aws:s3:::BUCKET/raw/a.json"), None),
        (IamRequest.of("s3:PutObject", "arn:aws:s3:::bucket/raw/a.json"), None),
        (
            IamRequest.of("s3:ListBucket", "arn:aws:s3:::bucket", {"s3:prefix": ["raw/x/"]}),
            "Listing",
        ),
        (
            IamRequest.of("s3:ListBucket", "arn:aws:s3:::bucket", {"s3:prefix": ["quarantine/"]}),
            None,
        ),
        (IamRequest.of("s3:ListBucket", "arn:aws:s3:::bucket"), None),
        (
            IamRequest.of(
                "dynamodb:UpdateItem", LEDGER, {"dynamodb:LeadingKeys": ["THROTTLE#api#1"]}
            ),
            "Counters",
        ),
        (IamRequest.of("dynamodb:UpdateItem", LEDGER, {"dynamodb:LeadingKeys": ["RUN#1"]}), None),
        (
            IamRequest.of(
                "dynamodb:UpdateItem", LEDGER, {"dynamodb:LeadingKeys": ["THROTTLE#a", "RUN#1"]}
            ),
            None,
        ),
        (
            IamRequest.of(
                "dynamodb:UpdateItem", f"{LEDGER}-other", {"dynamodb:LeadingKeys": ["THROTTLE#a"]}
            ),
            None,
        ),
        (
            IamRequest.of("dynamodb:UpdateItem", LEDGER.replace("123456789012", "999999999999")),
            None,
        ),
        # IAM: ForAllValues over no values is true (DynamoDB always sends LeadingKeys).
        (IamRequest.of("dynamodb:UpdateItem", LEDGER), "Counters"),
        (IamRequest.of("dynamodb:PutItem", LEDGER, {"dynamodb:LeadingKeys": ["THROTTLE#a"]}), None),
        (IamRequest.of("logs:PutLogEvents", STREAM), "Logs"),
        (IamRequest.of("logs:PutLogEvents", STREAM.replace("/f:", "/g:")), None),
    ],
)
def test_the_evaluator_allows_exactly_what_iam_would(request_, expected):
    assert allowing_statement(POLICY, request_) == expected


def test_an_unknown_condition_operator_makes_its_statement_not_apply():
    request = IamRequest.of("s3:ListBucket", "arn:aws:s3:::bucket", {"s3:prefix": ["raw/x"]})
    statement = {
        **POLICY["Statement"][1],
        "Condition": {"StringLikeIfExists": {"s3:prefix": "raw/*"}},
    }
    assert not allowed({"Statement": [statement]}, request)
    assert not allowed({"Statement": []}, request)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"},
    ],
    ids=["deny", "not-action"],
)
def test_the_evaluator_refuses_to_judge_what_it_does_not_model(statement):
    with pytest.raises(UnsupportedPolicy):
        allowed({"Statement": [statement]}, IamRequest.of("s3:GetObject", "arn:aws:s3:::b/k"))


def test_a_transaction_is_authorised_item_by_item_with_each_items_partition_key(config):
    ledger, curated = config.names.ledger_table, config.names.curated_table
    call = AwsCall(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": curated, "Item": {"id": {"S": "r-1"}, "x": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": ledger,
                        "Key": {LEDGER_PK: {"S": "COUNT#a"}, "sk": {"S": "-"}},
                    }
                },
            ]
        },
    )
    requests = mapper_of(config).requests(call)
    assert [
        (r.action, r.resource.rsplit("/", 1)[1], r.values("dynamodb:LeadingKeys")) for r in requests
    ] == [
        ("dynamodb:PutItem", curated, ("r-1",)),
        ("dynamodb:UpdateItem", ledger, ("COUNT#a",)),
    ]


@pytest.mark.parametrize(
    "call",
    [
        AwsCall("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": []}}),
        AwsCall("sqs", "ListQueues", {}),
        AwsCall("dynamodb", "ExecuteStatement", {"Statement": "DELETE FROM t"}),
        AwsCall("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"}),
    ],
    ids=["s3", "sqs", "dynamodb", "other-service"],
)
def test_a_call_the_mapper_does_not_know_fails_rather_than_passing_unjudged(config, call):
    with pytest.raises(UnmappedCall):
        mapper_of(config).requests(call)


def test_the_recorder_keeps_only_the_calls_made_inside_its_window(config, moto_aws, recorder):
    sqs = aws.sqs(config)
    sqs.create_queue(QueueName="q")

    with recorder.window():
        aws.sqs(config).get_queue_url(QueueName="q")
        aws.dynamodb(config).list_tables(Limit=5)
    sqs.list_queues()

    assert [(c.service, c.operation, dict(c.params)) for c in recorder.calls] == [
        ("sqs", "GetQueueUrl", {"QueueName": "q"}),
        ("dynamodb", "ListTables", {"Limit": 5}),
    ]


# --- WEB: pages, API and the admin --------------------------------------------------------


def _routes(patterns: list[URLPattern | URLResolver]) -> list[URLPattern]:
    assert all(isinstance(p, URLPattern) for p in patterns)
    return [p for p in patterns if isinstance(p, URLPattern)]


def _public_paths(record_id: str) -> list[str]:
    """Every route of the pages and the API, filled in, and the filtered reads."""
    paths = []
    for route in _routes(urls.urlpatterns) + _routes(urls_pages.urlpatterns):
        kwargs = {name: record_id for name in route.pattern.converters}
        paths.append(reverse(str(route.name), kwargs=kwargs))
    filters = ["source=jsonplaceholder", "source=jsonplaceholder&type=post", "type=user", "limit=2"]
    paths += [f"/api/records?{f}" for f in filters] + [f"/records/?{f}" for f in filters]
    return [*paths, "/api/records/no-such-record", "/records/no-such-record/"]


def test_every_call_the_public_pages_and_api_make_is_allowed_to_the_web_role(
    data, recorder, throttles_on, make_api_key
):
    record_id = a_record_id()
    paths = _public_paths(record_id)
    browser = Client(REMOTE_ADDR="203.0.113.7")
    # A client with the personal-data scope reads what anonymous readers may not (the
    # raw item of a person) and has its use stamped: the web role must allow both.
    scoped = Client(REMOTE_ADDR="203.0.113.8", HTTP_X_API_KEY=make_api_key(scopes="personal-data"))
    person = Client().get("/api/records?source=randomuser&limit=1").json()["results"][0]["id"]
    raw = f"/api/records/{person}/raw"

    with recorder.window():
        replies = {path: browser.get(path) for path in paths}
        # The API's next page, from its own cursor.
        replies["next"] = browser.get(replies["/api/records?limit=2"].json()["next"])
        replies[raw] = browser.get(raw)
        replies["scoped raw"] = scoped.get(raw)
        replies["scoped export"] = scoped.get("/api/records", {"format": "csv"})

    assert {
        p: r.status_code for p, r in replies.items() if r.status_code >= HTTPStatus.BAD_REQUEST
    } == {
        "/api/records/no-such-record": HTTPStatus.NOT_FOUND,
        "/records/no-such-record/": HTTPStatus.NOT_FOUND,
        raw: HTTPStatus.FORBIDDEN,  # a person's raw item, to an anonymous reader
    }
    verdicts = judged("web", recorder.calls, data)
    assert denied(verdicts) == []
    assert {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "sqs:GetQueueAttributes",
        "s3:GetObject",
    } <= {r.action for r in verdicts}
    target = target_of(data)
    queues = {target.queue(data.names.queue), target.queue(data.names.dlq)}
    assert resources(verdicts, "sqs:GetQueueAttributes") == queues  # the health check's depths
    throttled = leading_keys(verdicts, "dynamodb:UpdateItem")
    assert throttled and all(k.startswith(THROTTLE_PK_PREFIX) for k in throttled)
    assert {
        f"{THROTTLE_PK_PREFIX}{scope}#203.0.113.7" for scope in ("api", "page", "health")
    } <= throttled
    assert any(k.startswith(f"{THROTTLE_PK_PREFIX}apikey#") for k in throttled)  # per key
    assert any(k.startswith(f"{THROTTLE_PK_PREFIX}apikey-used#") for k in throttled)


def _admin_paths(record_id: str, letter: str, job_id: str, run_id: str) -> list[str]:
    """Every URL of the pipeline's admin pages that answers a GET."""
    paths = ["/admin/", f"{ADMIN}/"]
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "pipeline":
            continue
        for route in _routes(model_admin.get_urls()):
            if route.name is None:  # Django's bare <object_id>/ redirect to change/
                continue
            kwargs = {name: record_id for name in route.pattern.converters}
            paths.append(reverse(f"admin:{route.name}", kwargs=kwargs))
    return [
        *paths,
        f"{ADMIN}/deadlettermessage/delete/?id={letter}",
        f"{ADMIN}/record/?source=randomuser",
        f"{ADMIN}/job/{job_id}/change/",
        f"{ADMIN}/ingestionrun/?run={run_id}",
    ]


def a_job(config: PipelineConfig) -> str:
    """A job's record, as the web writes one at dispatch (set-up, not recorded); its id."""
    job_id = uuid.uuid4().hex
    record = JobRecord(job_id, "ingest", "defaults", "ops", "queued", iso(utc_now()))
    job_record_put(record, config=config)
    return job_id


def test_every_call_the_admin_pages_make_for_staff_is_allowed_to_the_web_role(
    data, letters, recorder, throttles_on, staff
):
    [run] = run_list(config=data)
    paths = _admin_paths(a_record_id(), letters[0], a_job(data), run.run_id)

    with recorder.window():
        replies = {path: staff.get(path) for path in paths}

    assert all(r.status_code < HTTPStatus.INTERNAL_SERVER_ERROR for r in replies.values()), replies
    assert replies[f"{ADMIN}/deadlettermessage/"].status_code == HTTPStatus.OK
    assert letters[0] in replies[f"{ADMIN}/deadlettermessage/"].content.decode()
    verdicts = judged("web", recorder.calls, data)
    assert denied(verdicts) == []
    dlq = target_of(data).queue(data.names.dlq)
    assert {("sqs:ReceiveMessage", dlq), ("sqs:ChangeMessageVisibility", dlq)} <= {
        (r.action, r.resource) for r in verdicts
    }
    assert {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"} <= {
        r.action for r in verdicts
    }


@pytest.fixture
def on_worker(data, settings) -> PipelineConfig:
    settings.TWL_JOBS_ON_WORKER = True
    return get_config()


def test_the_admins_replay_dry_run_lists_raw_keys_on_the_web_which_its_role_allows(
    on_worker, recorder, staff
):
    form = {"source": "jsonplaceholder", "dry_run": "on"}

    with recorder.window():
        reply = staff.post(f"{ADMIN}/ingestionrun/replay/", form)

    assert reply.status_code == HTTPStatus.OK
    assert "raw/source=jsonplaceholder/type=post/" in reply.content.decode()
    # A read, so it runs here even with jobs on the worker: it lists, and sends nothing.
    assert {c.operation for c in recorder.calls} == {"ListObjectsV2"}
    verdicts = judged("web", recorder.calls, on_worker)
    assert denied(verdicts) == []
    assert {r.values("s3:prefix") for r in verdicts} == {
        (f"raw/source=jsonplaceholder/type={type_}/",) for type_ in ("post", "comment", "user")
    }


ADMIN_JOBS = [
    ("ingestionrun/ingest/", lambda ids: {}),
    ("ingestionrun/replay/", lambda ids: {"source": "jsonplaceholder"}),
    ("deadlettermessage/redrive/", lambda ids: {"id": ids[0]}),
    ("deadlettermessage/redrive/", lambda ids: {"all": "1"}),
    ("deadlettermessage/delete/", lambda ids: {"id": ids[1]}),
    ("deadlettermessage/delete/", lambda ids: {"all": "1"}),
]


def test_with_jobs_on_the_worker_the_admins_actions_only_record_their_jobs_and_invoke_it(
    on_worker, letters, recorder, staff
):
    lambda_client = aws.lambda_(on_worker)
    with Stubber(lambda_client) as stub:  # moto's invoke needs Docker
        for _ in ADMIN_JOBS:
            stub.add_response("invoke", {"StatusCode": HTTPStatus.ACCEPTED})
        with recorder.window():
            replies = [staff.post(f"{ADMIN}/{url}", form(letters)) for url, form in ADMIN_JOBS]
        stub.assert_no_pending_responses()

    assert {r.status_code for r in replies} == {HTTPStatus.FOUND}
    verdicts = judged("web", recorder.calls, on_worker)
    assert denied(verdicts) == []
    # Per action: the job's record, then one invoke of the worker, and nothing else
    # (redirects are not followed).
    assert [f"{c.service}:{c.operation}" for c in recorder.calls] == [
        "dynamodb:PutItem",
        "lambda:Invoke",
    ] * len(ADMIN_JOBS)
    worker = target_of(on_worker).function(on_worker.names.worker_function)
    assert resources(verdicts, "lambda:InvokeFunction") == {worker}
    written = leading_keys(verdicts, "dynamodb:PutItem")
    assert len(written) == len(ADMIN_JOBS) and all(k.startswith(JOB_PK_PREFIX) for k in written)


def test_a_refused_invoke_records_the_job_rejected_with_a_write_the_web_role_allows(
    on_worker, recorder, staff
):
    with Stubber(aws.lambda_(on_worker)) as stub:
        stub.add_client_error("invoke", service_error_code="TooManyRequestsException")
        with recorder.window():
            reply = staff.post(f"{ADMIN}/ingestionrun/ingest/")

    assert reply.status_code == HTTPStatus.FOUND
    verdicts = judged("web", recorder.calls, on_worker)
    assert denied(verdicts) == []
    assert [f"{c.service}:{c.operation}" for c in recorder.calls] == [
        "dynamodb:PutItem",
        "lambda:Invoke",
        "dynamodb:UpdateItem",
    ]
    [updated] = leading_keys(verdicts, "dynamodb:UpdateItem")
    assert updated.startswith(JOB_PK_PREFIX)


def test_storing_editing_and_deleting_a_declared_source_is_allowed_to_the_web_role(stack, recorder):
    """What the admin's Sources pages call: each change one transaction, under SOURCEDEF."""
    with recorder.window():
        definition_put(
            "catalog", catalog(), change="created", actor="ops", expected_version=None, config=stack
        )
        definition_put(
            "catalog",
            catalog("{sku}"),
            change="edited",
            actor="ops",
            expected_version=1,
            config=stack,
        )
        definitions_current(config=stack)
        definition_history("catalog", config=stack)
        definition_version_get("catalog", 1, config=stack)
        definition_delete("catalog", actor="ops", expected_version=2, config=stack)

    verdicts = judged("web", recorder.calls, stack)
    assert denied(verdicts) == []
    assert {r.action for r in verdicts} == {
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    written = leading_keys(verdicts, "dynamodb:PutItem") | leading_keys(
        verdicts, "dynamodb:DeleteItem"
    )
    assert written == {SOURCEDEF_PK, f"{SOURCEDEF_PK}#catalog"}
    assert [c.operation for c in recorder.calls].count("TransactWriteItems") == 3


# --- WORKER: the schedule, the queue, and the commands run with `zappa manage` ------------


def _poison() -> dict[str, Any]:
    return {
        "MessageId": "poison-1",
        "ReceiptHandle": "r-poison",
        "Body": "not json",
        "Attributes": {"ApproximateReceiveCount": "3"},
    }


WORKER_COMMANDS: list[tuple[str, ...]] = [
    ("ingest",),
    ("replay", "--source", "jsonplaceholder"),
    ("replay", "--dry-run"),
    ("runs",),
    ("dlq", "list"),
    ("recount", "--check"),
    ("recount",),
    ("recount", "--reset"),
]


def test_every_call_the_worker_makes_is_allowed_to_the_worker_role(stack, sources, recorder):
    config = stack
    with recorder.window():
        reply = handlers.scheduled_ingest({}, None)
    assert reply["status"] == "succeeded", reply
    # The SQS event source receives (and later deletes) with the worker's role too:
    # test_the_worker_role_has_what_lambdas_sqs_event_source_needs_of_the_queue.
    event = _sqs_event(config, [*_received(config), _poison()])
    letters = [dead_letter(config), dead_letter(config), dead_letter(config)]

    with recorder.window():
        batch = handlers.process_sqs_event(event, LocalContext())
        for command in WORKER_COMMANDS:
            call_command(*command)
        call_command("dlq", "redrive", "--id", letters[0])
        for job, kwargs in [
            ("dlq_redrive", {"message_ids": [letters[1]]}),
            ("dlq_delete", {"message_ids": None}),
            ("replay", {"source": "randomuser"}),
            ("ingest", {}),
        ]:
            # Tracked (the worker records it running, then done) and untracked.
            for job_id in (uuid.uuid4().hex, None):
                event = job_event(job, kwargs, job_id=job_id)
                assert handlers.run_job(event, LocalContext())["status"] == "done"
        call_command("dlq", "purge", "--yes")

    assert batch == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    verdicts = judged("worker", recorder.calls, config)
    assert denied(verdicts) == []
    assert {
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
    } <= {r.action for r in verdicts}
    assert "MSG#poison-1" in leading_keys(verdicts, "dynamodb:PutItem")  # its failure reason
    assert any(k.startswith(JOB_PK_PREFIX) for k in leading_keys(verdicts, "dynamodb:UpdateItem"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_reading_a_declared_sources_secret_is_allowed_to_both_roles_and_only_there(
    config, moto_aws, recorder, function
):
    name = f"{config.names.source_secrets_path}catalog-token"
    aws.ssm(config).put_parameter(Name=name, Value="s3cret", Type="SecureString")

    with recorder.window():
        assert resolve_secret(f"ssm:{name}", config=config) == "s3cret"

    verdicts = judged(function, recorder.calls, config)
    assert denied(verdicts) == []
    assert {(r.action, r.resource) for r in verdicts} == {
        ("ssm:GetParameter", target_of(config).arn("ssm", f"parameter{name}"))
    }
    policy = function_policy(function, target_of(config))
    elsewhere = ["/twl-pipeline/prod/sources/x", "/twl-pipeline/test/other", "/other/x"]
    for other in [*elsewhere, config.names.source_secrets_path.rstrip("/")]:
        arn = target_of(config).arn("ssm", f"parameter{other}")
        assert not allowed(policy, IamRequest.of("ssm:GetParameter", arn)), other


# --- The roles as the template renders them -----------------------------------------------


def _template_roles(config: PipelineConfig) -> dict[Function, dict[str, Any]]:
    resources = template_of(config)["Resources"]
    return {
        function: resolve_subs(
            resources[ROLE_IDS[function]]["Properties"], region=REGION, account_id=ACCOUNT
        )
        for function in FUNCTIONS
    }


def _template_policy(config: PipelineConfig, function: Function) -> dict[str, Any]:
    [policy] = _template_roles(config)[function]["Policies"]
    return policy["PolicyDocument"]


def test_the_template_gives_each_role_exactly_its_function_policy_and_nothing_else(config):
    template = template_of(config)
    roles = {k for k, v in template["Resources"].items() if v["Type"].startswith("AWS::IAM::")}
    assert roles == set(ROLE_IDS.values())
    for function in FUNCTIONS:
        properties = _template_roles(config)[function]
        assert "ManagedPolicyArns" not in properties
        assert _template_policy(config, function) == function_policy(function, target_of(config))


def _curated_and_ledger(config: PipelineConfig) -> tuple[str, str]:
    target = target_of(config)
    return target.table("curated"), target.table("ledger")


def _web_must_not(config: PipelineConfig) -> list[IamRequest]:
    """Every write the web role must be refused, each as IAM would be asked for it."""
    target = target_of(config)
    curated, ledger = _curated_and_ledger(config)
    queues = [target.queue(config.names.queue), target.queue(config.names.dlq)]
    record = ["jsonplaceholder-post-1"]
    not_counters = [  # anything but THROTTLE#..., in any company and spelling
        ["RUN#r-1"],
        ["MSG#m-1"],
        ["FEED#jsonplaceholder#post"],
        [f"{THROTTLE_PK_PREFIX}api#1", "RUN#r-1"],
        ["throttle#api#1"],
        [f"x{THROTTLE_PK_PREFIX}api#1"],
    ]
    not_jobs = [  # anything but JOB#..., the same way
        ["RUN#r-1"],
        ["MSG#m-1"],
        ["AGG"],
        [f"{JOB_PK_PREFIX}{'a' * 32}", "RUN#r-1"],
        [f"{JOB_PK_PREFIX.lower()}{'a' * 32}"],
        [f"x{JOB_PK_PREFIX}{'a' * 32}"],
    ]
    not_definitions = [  # anything but SOURCEDEF..., the same way
        ["RUN#r-1"],
        ["AGG"],
        [SOURCEDEF_PK, "RUN#r-1"],
        [f"{SOURCEDEF_PK.lower()}#catalog"],
        [f"x{SOURCEDEF_PK}"],
        [f"{JOB_PK_PREFIX}{'a' * 32}"],
    ]
    item_writes = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
    return [
        *(
            IamRequest.of(f"dynamodb:{a}", curated, {"dynamodb:LeadingKeys": record})
            for a in item_writes
        ),
        *(
            IamRequest.of("dynamodb:UpdateItem", ledger, {"dynamodb:LeadingKeys": k})
            for k in not_counters
        ),
        *(
            IamRequest.of(f"dynamodb:{a}", ledger, {"dynamodb:LeadingKeys": k})
            for a in ("PutItem", "UpdateItem")
            for k in not_jobs
        ),
        *(
            IamRequest.of(
                f"dynamodb:{a}", ledger, {"dynamodb:LeadingKeys": [f"{THROTTLE_PK_PREFIX}a"]}
            )
            for a in ("PutItem", "DeleteItem", "BatchWriteItem")
        ),
        *(
            IamRequest.of(f"dynamodb:{a}", ledger, {"dynamodb:LeadingKeys": [f"{JOB_PK_PREFIX}a"]})
            for a in ("DeleteItem", "BatchWriteItem")
        ),
        *(
            IamRequest.of("dynamodb:DeleteItem", ledger, {"dynamodb:LeadingKeys": k})
            for k in not_definitions
        ),
        *(
            IamRequest.of(f"dynamodb:{a}", ledger, {"dynamodb:LeadingKeys": [SOURCEDEF_PK]})
            for a in ("UpdateItem", "BatchWriteItem")
        ),
        *(IamRequest.of("dynamodb:Scan", table) for table in (curated, ledger)),
        *(
            IamRequest.of(f"sqs:{a}", q)
            for a in ("DeleteMessage", "SendMessage", "PurgeQueue")
            for q in queues
        ),
        IamRequest.of("sqs:ReceiveMessage", queues[0]),
        *(
            IamRequest.of(f"s3:{a}", target.bucket(f"/{prefix}/k.json"))
            for a in ("PutObject", "DeleteObject")
            for prefix in ("raw", "quarantine")
        ),
        IamRequest.of("s3:GetObject", target.bucket("/quarantine/k.json")),
        IamRequest.of("lambda:InvokeFunction", target.function("twl-pipeline-prod-worker")),
    ]


def test_the_web_role_as_deployed_cannot_write_data_send_or_delete_messages(config):
    web = _template_policy(config, "web")
    may = [
        f"{r.action} {r.resource} {dict(r.context)}"
        for r in _web_must_not(config)
        if allowed(web, r)
    ]
    assert may == []
    # ...while its one write and its reads are allowed (the checks above are not vacuous).
    _, ledger = _curated_and_ledger(config)
    assert allowed(
        web,
        IamRequest.of("dynamodb:UpdateItem", ledger, {"dynamodb:LeadingKeys": ["THROTTLE#api#1"]}),
    )
    assert allowed(
        web, IamRequest.of("dynamodb:GetItem", ledger, {"dynamodb:LeadingKeys": ["RUN#r-1"]})
    )
    for action in ("PutItem", "UpdateItem"):  # the admin's job records
        job = {"dynamodb:LeadingKeys": [f"{JOB_PK_PREFIX}{'a' * 32}"]}
        assert allowed(web, IamRequest.of(f"dynamodb:{action}", ledger, job))
    for action in ("PutItem", "DeleteItem"):  # declared sources' definitions
        for key in (SOURCEDEF_PK, f"{SOURCEDEF_PK}#catalog"):
            definition = {"dynamodb:LeadingKeys": [key]}
            assert allowed(web, IamRequest.of(f"dynamodb:{action}", ledger, definition))


def _statements(config: PipelineConfig) -> list[dict[str, Any]]:
    return [s for f in FUNCTIONS for s in _template_policy(config, f)["Statement"]]


def test_no_action_anywhere_holds_a_wildcard(config):
    actions = [a for s in _statements(config) for a in s["Action"]]
    assert actions and not [a for a in actions if "*" in a]


def test_the_only_unconstrained_resource_is_x_rays(config):
    star = [s for s in _statements(config) if "*" in s["Resource"]]
    assert star and all(
        s["Resource"] == ["*"] and s["Action"] == sorted(TRACE_ACTIONS) for s in star
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_trust_policy_is_this_accounts_and_only_the_services_the_role_needs(config, function):
    trust = _template_roles(config)[function]["AssumeRolePolicyDocument"]
    [statement] = trust["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert sorted(statement["Principal"]["Service"]) == sorted(TRUSTED_SERVICES[function])
    assert set(statement["Principal"]) == {"Service"}


def test_the_worker_role_has_what_lambdas_sqs_event_source_needs_of_the_queue(config):
    """The event source mapping polls, deletes and reads attributes with the worker's role."""
    worker = _template_policy(config, "worker")
    queue = target_of(config).queue(config.names.queue)
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert allowed(worker, IamRequest.of(action, queue)), action
