"""`manage.py provision`: one CloudFormation stack per stage, made, updated and checked on moto."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from django.core.management import CommandError, call_command

from pipeline.core.constants import LEDGER_PK, RAW_PREFIX
from pipeline.deploy.provision import ProvisionError, provision
from pipeline.deploy.stack import drift
from pipeline.deploy.stack.spec import StackOptions, spec_from_config
from pipeline.deploy.stack.template import build_template
from pipeline.stores import aws
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE

REGION = "us-east-1"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("provision", *args, stdout=out)
    return out.getvalue()


def _template(config) -> dict[str, Any]:
    return build_template(spec_from_config(config)).to_dict()


def _client(service: str):
    return boto3.client(service, region_name=REGION)


def test_first_run_creates_the_whole_stack_and_prints_its_progress(config, moto_aws):
    out = _run()

    template = _template(config)
    held = _client("cloudformation").describe_stack_resources(StackName=config.names.stack)
    created = {r["LogicalResourceId"] for r in held["StackResources"] if r.get("LogicalResourceId")}
    # moto has no AWS::S3::BucketPolicy (see test_tls_only_policy_is_in_the_template...).
    assert created == set(template["Resources"]) - {"RawBucketPolicy"}
    assert f"{config.names.stack}: CREATE_COMPLETE" in out
    assert "create  RawBucket (AWS::S3::Bucket)  would be added" in out
    assert out.rstrip().endswith(
        f"Stack {config.names.stack}: {len(template['Resources'])} change(s) applied."
    )


def test_the_stack_builds_what_the_pipeline_needs(config, moto_aws):
    provision(config=config, poll_seconds=0)
    names = config.names

    sqs = _client("sqs")
    queue = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=names.queue)["QueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(queue["RedrivePolicy"])
    assert int(queue["VisibilityTimeout"]) == 6 * config.worker_timeout_seconds
    assert (redrive["maxReceiveCount"], redrive["deadLetterTargetArn"].rsplit(":", 1)[-1]) == (
        3,
        names.dlq,
    )
    assert queue["SqsManagedSseEnabled"] == "true"

    ddb = _client("dynamodb")
    for table in (names.curated_table, names.ledger_table):
        described = ddb.describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert described["SSEDescription"]["Status"] == "ENABLED"
        assert described["GlobalSecondaryIndexes"]
        backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=names.ledger_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", LEDGER_TTL_ATTRIBUTE)

    s3 = _client("s3")
    bucket = names.raw_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    [rule] = [r for r in rules if r["ID"] == "ArchiveRawObjects"]
    assert rule["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER_IR"}]
    assert "Expiration" not in rule  # raw objects are never deleted

    alarms = _client("cloudwatch").describe_alarms()["MetricAlarms"]
    template_alarms = [
        r["Properties"]["AlarmName"]
        for r in _template(config)["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(template_alarms)
    assert _client("cloudwatch").get_dashboard(DashboardName=names.dashboard)["DashboardBody"]
    roles = {r["RoleName"] for r in _client("iam").list_roles()["Roles"]}
    assert {names.web_role, names.worker_role} <= roles


def test_a_second_run_changes_nothing_and_says_so(config, moto_aws):
    _run()
    out = _run()
    assert out.strip() == f"Stack {config.names.stack} is up to date; nothing changed."


def test_check_on_a_fresh_account_exits_non_zero_and_creates_nothing(config, moto_aws):
    with pytest.raises(CommandError, match="1 difference") as failure:
        _run("--check")
    assert failure.value.returncode == 1
    assert _client("cloudformation").list_stacks()["StackSummaries"] == []


def test_check_right_after_provisioning_finds_nothing(config, moto_aws):
    _run()
    out = _run("--check")
    assert "drift" not in out.split("\n")[-2]
    assert "not created by this endpoint; not checked" in out  # the bucket policy, on moto
    assert out.rstrip().endswith("is up to date; nothing changed.")


def _tamper_queue(config) -> None:
    sqs = _client("sqs")
    url = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})


def _tamper_table(config) -> None:
    _client("dynamodb").update_continuous_backups(
        TableName=config.names.curated_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )


def _tamper_bucket(config) -> None:
    _client("s3").put_bucket_versioning(
        Bucket=config.names.raw_bucket, VersioningConfiguration={"Status": "Suspended"}
    )


def _tamper_role(config) -> None:
    broad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    _client("iam").put_role_policy(
        RoleName=config.names.web_role, PolicyName="extra", PolicyDocument=json.dumps(broad)
    )


def _tamper_alarm(config) -> None:
    _client("cloudwatch").put_metric_alarm(
        AlarmName=f"{config.names.alarm_prefix}-dead-letters",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": config.names.dlq}],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def _delete_alarm(config) -> None:
    _client("cloudwatch").delete_alarms(AlarmNames=[f"{config.names.alarm_prefix}-queue-age"])


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_tamper_queue, ("IngestionQueue (AWS::SQS::Queue)", "VisibilityTimeout: live 5")),
        (_tamper_table, ("CuratedTable (AWS::DynamoDB::Table)", "PointInTimeRecovery: live false")),
        (_tamper_bucket, ("RawBucket (AWS::S3::Bucket)", 'Configuration: live "Suspended"')),
        (_tamper_role, ("WebRole (AWS::IAM::Role)", '"extra"')),
        (_tamper_alarm, ("DeadLettersAlarm (AWS::CloudWatch::Alarm)", "Threshold: live 1000.0")),
        (_delete_alarm, ("QueueAgeAlarm (AWS::CloudWatch::Alarm)", "deleted outside the stack")),
    ],
    ids=["queue", "table", "bucket", "role", "alarm", "deleted-alarm"],
)
def test_check_names_a_resource_changed_by_hand_and_exits_non_zero(
    config, moto_aws, tamper: Callable[[Any], None], named: tuple[str, str]
):
    _run()
    tamper(config)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 difference") as failure:
        call_command("provision", "--check", stdout=out)
    assert failure.value.returncode == 1
    resource, what = named
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("drift")]
    assert line.startswith(f"drift   {resource}  ") and what in line, line


def test_check_shows_a_template_change_as_a_change_set_and_provision_applies_it(
    config, moto_aws, settings
):
    _run()
    settings.TWL_RAW_ARCHIVE_AFTER_DAYS = 30
    out = io.StringIO()
    with pytest.raises(CommandError, match="difference"):
        call_command("provision", "--check", stdout=out)
    assert "update  RawBucket (AWS::S3::Bucket)  would change" in out.getvalue()

    assert "1 change(s) applied" in _run()
    rules = _client("s3").get_bucket_lifecycle_configuration(Bucket=config.names.raw_bucket)
    [rule] = [r for r in rules["Rules"] if r["ID"] == "ArchiveRawObjects"]
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER_IR"}]
    assert "is up to date" in _run()


def test_an_alarm_email_adds_a_subscription_to_the_alarm_topic(config, moto_aws, settings):
    settings.TWL_ALARM_EMAIL = "ops@example.com"
    _run()
    sns = _client("sns")
    [topic] = sns.list_topics()["Topics"]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_print_template_writes_the_stages_template_as_json_without_any_aws_call(monkeypatch):
    monkeypatch.setattr(aws, "_client", lambda *a: pytest.fail("no AWS call"))
    out = _run("--print-template", "--stage", "prod")
    template = json.loads(out)
    assert template["Resources"]["IngestionQueue"]["Properties"]["QueueName"] == (
        "twl-pipeline-ingestion-queue-prod"
    )
    # 6x the prod worker's 120 s timeout (zappa_settings.json), not this machine's setting.
    assert template["Resources"]["IngestionQueue"]["Properties"]["VisibilityTimeout"] == 720
    assert (
        template["Resources"]["WorkerRole"]["Properties"]["RoleName"] == "twl-pipeline-prod-worker"
    )


def test_a_malformed_stage_is_refused():
    with pytest.raises(CommandError, match="--stage"):
        _run("--print-template", "--stage", "Prod Stage")


def test_tls_only_policy_is_in_the_template_since_moto_cannot_create_it(config):
    """moto has no AWS::S3::BucketPolicy, and would deny every plain-HTTP call if it had."""
    resources = _template(config)["Resources"]
    [statement] = resources["RawBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert resources["RawBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "RawBucket"}


def test_data_is_retained_when_the_stack_or_a_resource_goes(config):
    resources = _template(config)["Resources"]
    for logical_id in (
        "RawBucket",
        "CuratedTable",
        "LedgerTable",
        "IngestionQueue",
        "DeadLetterQueue",
    ):
        assert resources[logical_id]["DeletionPolicy"] == "Retain"
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_lifecycle_archives_raw_objects_and_their_old_versions_and_never_expires(config):
    spec = spec_from_config(config, StackOptions(archive_after_days=45))
    bucket = build_template(spec).to_dict()["Resources"]["RawBucket"]["Properties"]
    [rule] = [
        r for r in bucket["LifecycleConfiguration"]["Rules"] if r["Id"] == "ArchiveRawObjects"
    ]
    assert rule["Prefix"] == f"{RAW_PREFIX}/"
    assert rule["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 45}]
    assert rule["NoncurrentVersionTransitions"] == [
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 45}
    ]
    assert not {"ExpirationInDays", "NoncurrentVersionExpiration"} & set(rule)


def test_the_template_fits_cloudformations_inline_limit_with_room_for_sources(config):
    from pipeline.deploy.stack.template import compact_body

    size = len(compact_body(spec_from_config(config)).encode())
    assert size < 51_200 * 0.7, size


def test_an_invalid_name_is_refused_before_any_aws_call(config, settings, monkeypatch):
    monkeypatch.setattr(aws, "_client", lambda *a: pytest.fail("no AWS call"))
    settings.TWL_RAW_BUCKET = "x"  # too short for S3
    with pytest.raises(CommandError, match=r"settings are invalid: x is not a valid s3 bucket"):
        _run()


def test_an_aws_error_becomes_a_command_error_not_a_traceback(config, moto_aws, monkeypatch):
    def refuse(**_kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateChangeSet")

    cfn = aws.cloudformation(config)
    monkeypatch.setattr(cfn, "create_change_set", refuse)
    with pytest.raises(CommandError, match=r"AWS request failed: .*AccessDenied"):
        _run()


def test_cloudformation_drift_detection_is_used_where_the_endpoint_offers_it(config, monkeypatch):
    client = boto3.client("cloudformation", region_name=REGION)
    stub = Stubber(client)
    stack = config.names.stack
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-1"}, {"StackName": stack})
    stub.add_response(
        "describe_stack_drift_detection_status",
        {
            "StackId": "s",
            "StackDriftDetectionId": "d-1",
            "DetectionStatus": "DETECTION_COMPLETE",
            "Timestamp": "2026-12-01T00:00:00Z",
        },
    )
    stub.add_response(
        "describe_stack_resource_drifts",
        {
            "StackResourceDrifts": [
                {
                    "StackId": "s",
                    "LogicalResourceId": "LedgerTable",
                    "ResourceType": "AWS::DynamoDB::Table",
                    "StackResourceDriftStatus": "MODIFIED",
                    "Timestamp": "2026-12-01T00:00:00Z",
                    "PropertyDifferences": [
                        {
                            "PropertyPath": "/BillingMode",
                            "ExpectedValue": "PAY_PER_REQUEST",
                            "ActualValue": "PROVISIONED",
                            "DifferenceType": "NOT_EQUAL",
                        }
                    ],
                }
            ]
        },
    )
    monkeypatch.setattr(aws, "cloudformation", lambda _config: client)
    with stub:
        [change] = drift.cloudformation_drift(config=config, stack=stack, poll_seconds=0)
    assert change.action == "drift"
    assert change.resource == "LedgerTable (AWS::DynamoDB::Table)"
    assert change.detail == "CloudFormation: modified: /BillingMode"


def test_on_moto_drift_detection_is_reported_as_unavailable_not_as_drift(config, moto_aws):
    provision(config=config, poll_seconds=0)
    [note] = drift.cloudformation_drift(config=config, stack=config.names.stack)
    assert note.action == "note" and "live read-back only" in note.detail


def test_throttle_counters_the_web_may_write_are_the_ledgers_throttle_items(config):
    """The web role's one write is keyed by the ledger's partition key prefix."""
    web = _template(config)["Resources"]["WebRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    [statement] = [s for s in web["Statement"] if s["Sid"] == "ThrottleCounters"]
    assert statement["Action"] == ["dynamodb:UpdateItem"]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["THROTTLE#*"]}
    }
    assert LEDGER_PK == "pk"  # DynamoDB's LeadingKeys are the partition key's values


def test_a_source_the_stage_does_not_ingest_gets_no_feed_stale_alarm(config):
    from dataclasses import replace

    spec = spec_from_config(replace(config, enabled_sources=("jsonplaceholder",)))
    alarms = [
        r["Properties"]["AlarmName"]
        for r in build_template(spec).to_dict()["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any("feed-stale-jsonplaceholder-post" in a for a in alarms)
    assert not any("randomuser" in a for a in alarms)


def test_a_named_stage_is_never_provisioned_on_an_emulator(config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:4566"
    with pytest.raises(CommandError, match="--stage dev provisions the real stage"):
        _run("--stage", "dev")


def test_a_named_stage_is_provisioned_in_its_own_region(config, settings, monkeypatch):
    from pipeline.management.commands import provision as command

    settings.AWS_REGION = "eu-west-1"  # this shell's; zappa_settings.json deploys to us-east-1
    seen = {}

    def record(*, config, spec, **_kwargs):
        seen["region"], seen["stack"] = config.aws_region, spec.names.stack
        return []

    monkeypatch.setattr(command, "provision", record)
    _run("--stage", "prod")
    assert seen == {"region": "us-east-1", "stack": "twl-pipeline-prod-infra"}


class _SlowCloudFormation:
    """An update whose execution CloudFormation reports only on the second poll."""

    def __init__(self) -> None:
        self.polls = 0

    def describe_stacks(self, **_kw):
        return {"Stacks": [{"StackStatus": "UPDATE_COMPLETE"}]}  # the previous update's

    def create_change_set(self, **_kw):
        return {}

    def describe_change_set(self, **_kw):
        if not hasattr(self, "executed"):
            change = {"Action": "Modify", "LogicalResourceId": "RawBucket", "ResourceType": "S3"}
            return {"Status": "CREATE_COMPLETE", "Changes": [{"ResourceChange": change}]}
        self.polls += 1
        return {"ExecutionStatus": "EXECUTE_IN_PROGRESS" if self.polls < 2 else "EXECUTE_FAILED"}

    def execute_change_set(self, **_kw):
        self.executed = True

    def get_paginator(self, _name):
        return type("P", (), {"paginate": lambda _self, **_kw: [{"StackEvents": []}]})()


def test_an_update_is_judged_by_its_own_execution_not_the_stacks_previous_status(
    config, monkeypatch
):
    fake = _SlowCloudFormation()
    monkeypatch.setattr(aws, "cloudformation", lambda _config: fake)
    with pytest.raises(ProvisionError, match=r"ended UPDATE_COMPLETE \(EXECUTE_FAILED\)"):
        provision(config=config, poll_seconds=0)
    assert fake.polls == 2


def test_check_on_a_stack_that_failed_to_create_says_to_delete_it(config, monkeypatch):
    class RolledBack(_SlowCloudFormation):
        def describe_stacks(self, **_kw):
            return {"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE"}]}

    monkeypatch.setattr(aws, "cloudformation", lambda _config: RolledBack())
    [change] = provision(config=config, check_only=True, poll_seconds=0)
    assert change.action == "update" and "delete-stack" in change.detail
