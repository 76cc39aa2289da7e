"""Provisioning creates or verifies bucket, queues and tables idempotently, and detects drift."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import (
    CURATED_PK,
    LEDGER_PK,
    LEDGER_SK,
    RUNS_INDEX,
    RUNS_INDEX_PK,
    RUNS_INDEX_SK,
    SOURCE_INDEX,
    SOURCE_INDEX_PK,
    SOURCE_INDEX_SK,
    TYPE_INDEX,
    TYPE_INDEX_PK,
    TYPE_INDEX_SK,
)
from pipeline.deploy.provision import Change, ProvisionError, has_drift, provision
from pipeline.stores import aws
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE

READ_PREFIXES = ("Get", "Head", "Describe", "List")


@pytest.fixture
def config(config, settings) -> PipelineConfig:
    """As in production: the bucket policy denies non-TLS requests."""
    settings.TWL_S3_REQUIRE_TLS = True
    return get_config()


def _run_command(*args: str) -> str:
    out = StringIO()
    call_command("provision", *args, stdout=out)
    return out.getvalue()


def _record_calls(config: PipelineConfig) -> list[str]:
    """Record every AWS operation the provisioning clients send from now on."""
    calls: list[str] = []
    for client in (aws.s3(config), aws.sqs(config), aws.dynamodb(config)):
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name), unique_id="t-rec"
        )
    return calls


def _queue_attributes(config: PipelineConfig, name: str) -> dict[str, str]:
    sqs = aws.sqs(config)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _set_queue_attribute(config: PipelineConfig, name: str, key: str, value: str) -> None:
    sqs = aws.sqs(config)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={key: value})


def _table(config: PipelineConfig, name: str) -> dict[str, Any]:
    return aws.dynamodb(config).describe_table(TableName=name)["Table"]


def _ttl(config: PipelineConfig, name: str) -> dict[str, Any]:
    return dict(aws.dynamodb(config).describe_time_to_live(TableName=name)["TimeToLiveDescription"])


def _by_resource(changes: list[Change]) -> dict[str, Change]:
    return {c.resource: c for c in changes}


def _assert_table(table: dict[str, Any], keys: list[tuple[str, str]], indexes: dict[str, list]):
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == keys
    assert table["SSEDescription"]["Status"] == "ENABLED"
    found = {
        gsi["IndexName"]: [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]]
        for gsi in table["GlobalSecondaryIndexes"]
    }
    assert found == indexes
    assert {g["Projection"]["ProjectionType"] for g in table["GlobalSecondaryIndexes"]} == {"ALL"}


def test_first_run_creates_every_resource_with_the_required_settings(config, moto_aws):
    changes = provision(config=config)

    assert [(c.resource, c.action) for c in changes] == [
        (f"s3:{config.raw_bucket}", "create"),
        (f"sqs:{config.dlq_name}", "create"),
        (f"sqs:{config.queue_name}", "create"),
        (f"dynamodb:{config.curated_table}", "create"),
        (f"dynamodb:{config.ledger_table}", "create"),
    ]
    s3, bucket = aws.s3(config), config.raw_bucket
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [deny] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert deny["Sid"] == "DenyInsecureTransport"
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "s3:*"
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    dlq = _queue_attributes(config, config.dlq_name)
    assert dlq["SqsManagedSseEnabled"] == "true"
    assert dlq["MessageRetentionPeriod"] == "1209600"
    queue = _queue_attributes(config, config.queue_name)
    assert queue["SqsManagedSseEnabled"] == "true"
    assert queue["MessageRetentionPeriod"] == "345600"
    assert int(queue["VisibilityTimeout"]) == 6 * config.worker_timeout_seconds
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 3

    _assert_table(
        _table(config, config.curated_table),
        [(CURATED_PK, "HASH")],
        {
            SOURCE_INDEX: [(SOURCE_INDEX_PK, "HASH"), (SOURCE_INDEX_SK, "RANGE")],
            TYPE_INDEX: [(TYPE_INDEX_PK, "HASH"), (TYPE_INDEX_SK, "RANGE")],
        },
    )
    _assert_table(
        _table(config, config.ledger_table),
        [(LEDGER_PK, "HASH"), (LEDGER_SK, "RANGE")],
        {RUNS_INDEX: [(RUNS_INDEX_PK, "HASH"), (RUNS_INDEX_SK, "RANGE")]},
    )
    assert _ttl(config, config.ledger_table) == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": LEDGER_TTL_ATTRIBUTE,
    }
    assert _ttl(config, config.curated_table)["TimeToLiveStatus"] == "DISABLED"


def test_second_run_changes_nothing_and_says_so(config, moto_aws):
    provision(config=config)
    calls = _record_calls(config)

    changes = provision(config=config)

    assert {c.action for c in changes} == {"ok"}
    assert not has_drift(changes)
    assert all(name.startswith(READ_PREFIXES) for name in calls), calls
    output = _run_command()
    assert f"ok      s3:{config.raw_bucket}  up to date" in output
    assert "nothing changed" in output


def test_command_prints_one_line_per_change_and_a_count(config, moto_aws):
    output = _run_command()

    assert f"create  s3:{config.raw_bucket}  bucket created" in output
    assert output.strip().splitlines()[-1] == "5 change(s) applied."


def test_check_reports_drift_and_exits_nonzero_without_writing(config, moto_aws):
    provision(config=config)
    s3 = aws.s3(config)
    s3.put_bucket_versioning(
        Bucket=config.raw_bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    _set_queue_attribute(config, config.queue_name, "VisibilityTimeout", "30")
    calls = _record_calls(config)

    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("provision", "--check", stdout=out)

    assert raised.value.returncode == 1
    assert "Drift: 2 difference(s)." in str(raised.value)
    assert "versioning: Suspended -> Enabled" in out.getvalue()
    assert "VisibilityTimeout: 30 -> 360" in out.getvalue()
    assert all(name.startswith(READ_PREFIXES) for name in calls), calls
    assert s3.get_bucket_versioning(Bucket=config.raw_bucket)["Status"] == "Suspended"
    assert _queue_attributes(config, config.queue_name)["VisibilityTimeout"] == "30"

    changes = _by_resource(provision(config=config))
    assert changes[f"s3:{config.raw_bucket}"].action == "update"
    assert changes[f"sqs:{config.queue_name}"].action == "update"
    assert s3.get_bucket_versioning(Bucket=config.raw_bucket)["Status"] == "Enabled"
    assert "nothing changed" in _run_command("--check")


def test_check_on_empty_account_reports_everything_missing_and_creates_nothing(config, moto_aws):
    calls = _record_calls(config)

    changes = provision(config=config, check_only=True)

    assert [c.action for c in changes] == ["create"] * 5
    assert all("would be created" in c.detail for c in changes)
    assert all(name.startswith(READ_PREFIXES) for name in calls), calls
    assert aws.s3(config).list_buckets()["Buckets"] == []
    assert aws.sqs(config).list_queues().get("QueueUrls", []) == []
    assert aws.dynamodb(config).list_tables()["TableNames"] == []


def test_missing_gsi_is_added_back(config, moto_aws):
    provision(config=config)
    ddb = aws.dynamodb(config)
    ddb.update_table(
        TableName=config.curated_table,
        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": SOURCE_INDEX}}],
    )
    remaining = _table(config, config.curated_table).get("GlobalSecondaryIndexes", [])
    assert SOURCE_INDEX not in {g["IndexName"] for g in remaining}

    [drift] = [c for c in provision(config=config, check_only=True) if c.action != "ok"]
    assert drift.resource == f"dynamodb:{config.curated_table}"
    assert f"index {SOURCE_INDEX}: missing" in drift.detail

    change = _by_resource(provision(config=config))[f"dynamodb:{config.curated_table}"]

    assert change.action == "update"
    names = {g["IndexName"] for g in _table(config, config.curated_table)["GlobalSecondaryIndexes"]}
    assert names == {SOURCE_INDEX, TYPE_INDEX}
    assert not has_drift(provision(config=config))


def test_ledger_ttl_switched_off_is_reported_then_switched_back_on(config, moto_aws):
    provision(config=config)
    aws.dynamodb(config).update_time_to_live(
        TableName=config.ledger_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": LEDGER_TTL_ATTRIBUTE},
    )

    [drift] = [c for c in provision(config=config, check_only=True) if c.action != "ok"]
    assert drift.resource == f"dynamodb:{config.ledger_table}"
    assert drift.detail == f"drift: time to live: missing -> {LEDGER_TTL_ATTRIBUTE}"
    assert _ttl(config, config.ledger_table)["TimeToLiveStatus"] == "DISABLED"

    change = _by_resource(provision(config=config))[f"dynamodb:{config.ledger_table}"]

    assert change.action == "update"
    assert _ttl(config, config.ledger_table)["TimeToLiveStatus"] == "ENABLED"
    assert not has_drift(provision(config=config, check_only=True))


def test_ledger_ttl_on_another_attribute_fails_clearly_and_is_left_alone(config, moto_aws):
    provision(config=config)
    ddb = aws.dynamodb(config)
    ddb.update_time_to_live(
        TableName=config.ledger_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": LEDGER_TTL_ATTRIBUTE},
    )
    ddb.update_time_to_live(
        TableName=config.ledger_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone_at"},
    )

    with pytest.raises(ProvisionError, match="TTL is on attribute 'gone_at'"):
        provision(config=config)

    assert _ttl(config, config.ledger_table)["AttributeName"] == "gone_at"


def test_existing_policy_statements_are_kept_when_the_tls_statement_is_added(config, moto_aws):
    s3, bucket = aws.s3(config), config.raw_bucket
    s3.create_bucket(Bucket=bucket)
    other = {
        "Sid": "AllowReadForAnalytics",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )

    change = provision(config=config)[0]

    assert change.action == "update"
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AllowReadForAnalytics", "DenyInsecureTransport"]


def test_redrive_count_given_as_a_string_is_not_drift(config, moto_aws):
    provision(config=config)
    dlq_arn = _queue_attributes(config, config.dlq_name)["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    _set_queue_attribute(config, config.queue_name, "RedrivePolicy", policy)

    assert not has_drift(provision(config=config, check_only=True))


def test_bucket_outside_us_east_1_is_created_with_its_region(config, moto_aws):
    eu = dataclasses.replace(config, aws_region="eu-west-1")

    provision(config=eu)

    location = aws.s3(eu).get_bucket_location(Bucket=eu.raw_bucket)["LocationConstraint"]
    assert location == "eu-west-1"


def test_table_without_kms_encryption_is_reported_as_drift(config, moto_aws):
    # Only the report is tested: moto accepts update_table(SSESpecification=...) but ignores it.
    ddb = aws.dynamodb(config)
    ddb.create_table(
        TableName=config.ledger_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in (LEDGER_PK, LEDGER_SK, RUNS_INDEX_PK, RUNS_INDEX_SK)
        ],
        KeySchema=[
            {"AttributeName": LEDGER_PK, "KeyType": "HASH"},
            {"AttributeName": LEDGER_SK, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": RUNS_INDEX,
                "KeySchema": [
                    {"AttributeName": RUNS_INDEX_PK, "KeyType": "HASH"},
                    {"AttributeName": RUNS_INDEX_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(
        TableName=config.ledger_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": LEDGER_TTL_ATTRIBUTE},
    )

    change = _by_resource(provision(config=config, check_only=True))[
        f"dynamodb:{config.ledger_table}"
    ]

    assert change.action == "update"
    assert change.detail == "drift: encryption (KMS): false -> true"


def test_table_with_another_key_schema_fails_clearly_and_is_left_alone(config, moto_aws):
    ddb = aws.dynamodb(config)
    ddb.create_table(
        TableName=config.curated_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )

    with pytest.raises(ProvisionError, match="key schema differs"):
        provision(config=config)
    with pytest.raises(CommandError, match="key schema differs"):
        _run_command()

    remaining = _table(config, config.curated_table).get("GlobalSecondaryIndexes", [])
    assert SOURCE_INDEX not in {g["IndexName"] for g in remaining}


def test_aws_error_becomes_a_command_error_not_a_traceback(config, moto_aws, settings):
    settings.TWL_RAW_BUCKET = "x"  # too short: S3 answers InvalidBucketName

    with pytest.raises(CommandError, match=r"AWS request failed: .*InvalidBucketName"):
        _run_command()


def test_plain_http_emulator_gets_no_tls_only_policy(config, settings, moto_aws):
    settings.TWL_S3_REQUIRE_TLS = False
    provision(config=get_config())
    s3 = aws.s3(config)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=config.raw_bucket)
    s3.put_object(Bucket=config.raw_bucket, Key="raw/x.json", Body=b"{}")
    assert not has_drift(provision(config=get_config(), check_only=True))


def test_tls_requirement_defaults_to_the_endpoint_scheme(monkeypatch):
    import importlib

    from twl_site import settings as site_settings

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert importlib.reload(site_settings).TWL_S3_REQUIRE_TLS is False
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert importlib.reload(site_settings).TWL_S3_REQUIRE_TLS is True
    monkeypatch.undo()
    importlib.reload(site_settings)
