"""Partial batch responses on the SQS event source, the Zappa callbacks, package bytecode."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import boto3
import click
import pytest
from django.core.management import CommandError, call_command
from zappa.core import Zappa

from pipeline.deploy import zappa_steps
from pipeline.deploy.zappa_callbacks import compile_bytecode, post_deploy, prepare_stage
from pipeline.stores import aws
from tests.test_zappa_settings import SETTINGS, load

REPORT = "ReportBatchItemFailures"
FUNCTION = "twl-pipeline-dev-worker"
QUEUE = "twl-pipeline-ingestion-queue-dev"


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def worker(config, moto_aws) -> SimpleNamespace:
    """A function, a queue and the mapping between them, made the way Zappa makes it."""
    iam, lam, sqs = (boto3.client(s, region_name="us-east-1") for s in ("iam", "lambda", "sqs"))
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(
        RoleName="twl-pipeline-dev-lambda", AssumeRolePolicyDocument=json.dumps(trust)
    )
    function = lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.lambda_handler",
        Code={"ZipFile": _tiny_zip()},
    )
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # Zappa's SqsEventSource.add: the function's ARN, no FunctionResponseTypes.
    mapping = lam.create_event_source_mapping(
        FunctionName=function["FunctionArn"],
        EventSourceArn=queue_arn,
        BatchSize=10,
        Enabled=False,
        MaximumBatchingWindowInSeconds=0,
    )
    return SimpleNamespace(lam=lam, queue_arn=queue_arn, uuid=mapping["UUID"])


def test_first_run_turns_partial_batches_on_and_the_second_finds_nothing_to_do(worker):
    first = zappa_steps.enable_partial_batch_responses(
        function_name=FUNCTION, queue_arn=worker.queue_arn, client=worker.lam
    )
    second = zappa_steps.enable_partial_batch_responses(
        function_name=FUNCTION, queue_arn=worker.queue_arn, client=worker.lam
    )
    assert first == [f"{worker.uuid}: FunctionResponseTypes += {REPORT}"]
    assert second == []
    mapping = worker.lam.get_event_source_mapping(UUID=worker.uuid)
    assert mapping["FunctionResponseTypes"] == [REPORT]
    assert mapping["State"] == "Disabled"  # enabling is asked for separately


def test_enable_turns_the_mapping_on_in_the_same_update_as_the_response_types(worker):
    changes = zappa_steps.enable_partial_batch_responses(
        function_name=FUNCTION, queue_arn=worker.queue_arn, client=worker.lam, enable=True
    )
    assert changes == [
        f"{worker.uuid}: FunctionResponseTypes += {REPORT}",
        f"{worker.uuid}: enabled",
    ]
    mapping = worker.lam.get_event_source_mapping(UUID=worker.uuid)
    assert (mapping["State"], mapping["FunctionResponseTypes"]) == ("Enabled", [REPORT])


def test_default_client_comes_from_the_pipelines_client_factory(worker, monkeypatch):
    built = []

    def factory(config):
        built.append(config)
        return real(config)

    real = aws.lambda_
    monkeypatch.setattr(aws, "lambda_", factory)
    changes = zappa_steps.enable_partial_batch_responses(
        function_name=FUNCTION, queue_arn=worker.queue_arn
    )
    assert len(changes) == 1 and len(built) == 1
    assert built[0].aws_region == "us-east-1"
    mapping = worker.lam.get_event_source_mapping(UUID=worker.uuid)
    assert mapping["FunctionResponseTypes"] == [REPORT]


def test_a_queue_without_a_mapping_to_the_function_is_a_clear_error(worker):
    with pytest.raises(zappa_steps.DeployError, match="no event source mapping"):
        zappa_steps.enable_partial_batch_responses(
            function_name="twl-pipeline-dev", queue_arn=worker.queue_arn, client=worker.lam
        )


def test_command_sets_response_types_once_and_then_reports_nothing_to_change(worker):
    args = ["--function", FUNCTION, "--queue-arn", worker.queue_arn, "--enable"]
    first, second = io.StringIO(), io.StringIO()
    call_command("enable_batch_failures", *args, stdout=first)
    call_command("enable_batch_failures", *args, stdout=second)
    assert "FunctionResponseTypes += ReportBatchItemFailures" in first.getvalue()
    assert "2 change(s)." in first.getvalue()
    assert second.getvalue().strip() == "Nothing to change."
    mapping = worker.lam.get_event_source_mapping(UUID=worker.uuid)
    assert (mapping["State"], mapping["FunctionResponseTypes"]) == ("Enabled", [REPORT])


def test_command_derives_function_and_queue_from_the_zappa_stage(worker):
    out = io.StringIO()
    call_command("enable_batch_failures", "--stage", "dev_worker", stdout=out)
    assert "1 change(s)." in out.getvalue()
    assert worker.lam.get_event_source_mapping(UUID=worker.uuid)["FunctionResponseTypes"] == [
        REPORT
    ]


def test_command_refuses_a_stage_without_an_sqs_event(worker):
    with pytest.raises(CommandError, match="no SQS event source"):
        call_command("enable_batch_failures", "--stage", "dev")


def test_command_without_a_target_says_what_to_give(worker):
    with pytest.raises(CommandError, match="--stage, or both --function and --queue-arn"):
        call_command("enable_batch_failures")


def test_post_deploy_callback_enables_partial_batches_with_zappas_own_client(worker):
    cli = SimpleNamespace(
        lambda_name=FUNCTION,
        stage_config={"events": [{"function": "x", "event_source": {"arn": worker.queue_arn}}]},
        zappa=SimpleNamespace(lambda_client=worker.lam),
    )
    post_deploy(cli)
    post_deploy(cli)  # an update runs it again: nothing left to do, no error
    mapping = worker.lam.get_event_source_mapping(UUID=worker.uuid)
    assert (mapping["State"], mapping["FunctionResponseTypes"]) == ("Enabled", [REPORT])


def test_post_deploy_fails_the_deploy_loudly_when_the_mapping_is_missing(worker):
    other = worker.queue_arn.replace(QUEUE, "some-other-queue")
    cli = SimpleNamespace(
        lambda_name=FUNCTION,
        stage_config={"events": [{"function": "x", "event_source": {"arn": other}}]},
        zappa=SimpleNamespace(lambda_client=worker.lam),
    )
    with pytest.raises(click.ClickException, match="check the account id"):
        post_deploy(cli)


def test_a_mapping_still_being_created_is_awaited_before_the_update():
    class Lambda:
        """Answers 'Creating' once, then 'Disabled', like a fresh mapping on AWS."""

        def __init__(self) -> None:
            self.updates: list[dict] = []

        def get_paginator(self, name):
            mapping = {
                "UUID": "u1",
                "State": "Creating",
                "FunctionArn": f"arn:aws:lambda:r:1:function:{FUNCTION}",
            }
            return SimpleNamespace(paginate=lambda **kw: [{"EventSourceMappings": [mapping]}])

        def get_event_source_mapping(self, UUID):
            return {"UUID": UUID, "State": "Disabled", "FunctionResponseTypes": []}

        def update_event_source_mapping(self, **kwargs):
            self.updates.append(kwargs)

    lam, naps = Lambda(), []
    changes = zappa_steps.enable_partial_batch_responses(
        function_name=FUNCTION,
        queue_arn="arn:aws:sqs:r:1:q",
        client=lam,
        enable=True,
        sleep=naps.append,
    )
    assert naps == [zappa_steps.SETTLE_DELAY_SECONDS]
    assert lam.updates == [{"UUID": "u1", "FunctionResponseTypes": [REPORT], "Enabled": True}]
    assert len(changes) == 2


# --- settings callback ---------------------------------------------------------------------


def test_the_base_template_stage_cannot_be_deployed():
    with pytest.raises(click.ClickException, match="'base' is a template"):
        prepare_stage(load("base"))


def test_an_explicit_account_id_replaces_the_placeholder_in_the_queue_arn(monkeypatch):
    monkeypatch.setenv(zappa_steps.ACCOUNT_ENV, "111122223333")
    cli = load("dev_worker")
    prepare_stage(cli)
    [arn] = zappa_steps.sqs_queue_arns(cli.stage_config["events"])
    assert arn == f"arn:aws:sqs:us-east-1:111122223333:{QUEUE}"
    # The handler's routing table is built from the same events: the ARNs agree.
    assert f"AWS_EVENT_MAPPING={{'{arn}': ['pipeline.handlers.process_sqs_event']}}" in (
        cli.get_zappa_settings_string()
    )


def test_the_deploying_credentials_account_replaces_the_placeholder(monkeypatch, moto_aws):
    monkeypatch.delenv(zappa_steps.ACCOUNT_ENV, raising=False)
    cli = load("prod_worker")
    cli.zappa.sts_client = boto3.client("sts", region_name="us-east-1")  # as on deploy/update
    prepare_stage(cli)
    [arn] = zappa_steps.sqs_queue_arns(cli.stage_config["events"])
    assert arn == "arn:aws:sqs:us-east-1:123456789012:twl-pipeline-ingestion-queue-prod"


def test_packaging_a_worker_without_credentials_or_account_id_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv(zappa_steps.ACCOUNT_ENV, raising=False)
    with pytest.raises(click.ClickException, match=zappa_steps.ACCOUNT_ENV):
        prepare_stage(load("dev_worker"))


def test_a_web_stage_needs_no_account_id():
    cli = load("dev")
    prepare_stage(cli)
    assert cli.stage_config.get("events", []) == []


def test_a_real_account_id_in_the_settings_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.delenv(zappa_steps.ACCOUNT_ENV, raising=False)
    settings = json.loads(SETTINGS.read_text().replace("123456789012", "444455556666"))
    path = tmp_path / "zappa_settings.json"
    path.write_text(json.dumps(settings))
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = "dev_worker", False
    cli.load_settings(str(path))
    prepare_stage(cli)
    assert zappa_steps.sqs_queue_arns(cli.stage_config["events"])[0].split(":")[4] == "444455556666"


# --- zip callback --------------------------------------------------------------------------


def test_bytecode_callback_adds_unchecked_hash_pyc_files_next_to_each_module(tmp_path):
    package = tmp_path / "pkg.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "VALUE = 42\n")
        archive.writestr("app/__init__.py", "")
        archive.writestr("app/data.json", "{}")
    compile_bytecode(SimpleNamespace(zip_path=str(package)))
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        pyc = archive.read("__pycache__/handler.cpython-311.pyc")
        info = archive.getinfo("handler.py")
    assert {"handler.py", "app/data.json", "app/__pycache__/__init__.cpython-311.pyc"} <= names
    # PEP 552 flags: bit 0 hash-based, bit 1 check_source; unchecked = 0b01.
    assert int.from_bytes(pyc[4:8], "little") == 0b01
    assert (info.external_attr >> 16) & 0o777 == 0o755


def test_bytecode_for_another_python_is_refused(tmp_path):
    with pytest.raises(zappa_steps.DeployError, match="cpython-312"):
        zappa_steps.compile_package_bytecode(Path(tmp_path / "x.zip"), python_tag="cpython-312")


# --- Zappa itself, end to end on moto -------------------------------------------------------


def _zappa(monkeypatch, *argv: str) -> None:
    """Run the Zappa CLI in-process (moto intercepts its boto3 calls)."""
    from zappa.cli import ZappaCLI

    monkeypatch.setattr(ZappaCLI, "check_for_update", lambda self: None)  # PyPI lookup
    ZappaCLI().handle(list(argv))


def test_zappa_deploy_and_update_of_the_worker_leave_partial_batches_on(
    worker_resources, monkeypatch, tmp_path
):
    """`zappa deploy/update dev_worker` on moto: role by name, placeholder account resolved,
    mapping created disabled by Zappa, then switched to partial batches and enabled."""
    code = tmp_path / "code.zip"
    code.write_bytes(_tiny_zip())
    _zappa(monkeypatch, "deploy", "dev_worker", "--zip", str(code))
    lam = boto3.client("lambda", region_name="us-east-1")
    # Listed by queue: moto matches FunctionName literally, and Zappa passed the ARN.
    [mapping] = lam.list_event_source_mappings(EventSourceArn=worker_resources)[
        "EventSourceMappings"
    ]
    assert (mapping["State"], mapping["FunctionResponseTypes"]) == ("Enabled", [REPORT])
    assert mapping["FunctionArn"].endswith(f":function:{FUNCTION}")
    assert lam.get_function(FunctionName=FUNCTION)["Configuration"]["Role"].endswith(
        ":role/twl-pipeline-dev-worker"
    )

    # moto has no ListFunctionUrlConfigs, which `update` calls to drop unused function URLs.
    monkeypatch.setattr(Zappa, "delete_lambda_function_url", lambda self, name: None)
    _zappa(monkeypatch, "update", "dev_worker", "--zip", str(code))
    [mapping] = lam.list_event_source_mappings(EventSourceArn=worker_resources)[
        "EventSourceMappings"
    ]
    assert (mapping["State"], mapping["FunctionResponseTypes"]) == ("Enabled", [REPORT])
    [rule] = boto3.client("events", region_name="us-east-1").list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Name"] == f"{FUNCTION}-pipeline.handlers.scheduled_ingest"


@pytest.fixture
def worker_resources(config, moto_aws, monkeypatch) -> str:
    """The dev stage's stack (its queue, its worker role), as `manage.py provision --stage dev`."""
    from pipeline.deploy.provision import provision
    from pipeline.deploy.stack.spec import spec_for_stage

    monkeypatch.delenv(zappa_steps.ACCOUNT_ENV, raising=False)  # looked up with STS, as on AWS
    provision(config=config, spec=spec_for_stage("dev"), poll_seconds=0)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
