"""The stage's IAM policy is least privilege, covers what the code calls, and lands on the role."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import boto3
import botocore.session
import pytest
from django.core.management import CommandError, call_command

from pipeline.core.names import resource_names
from pipeline.deploy import iam
from pipeline.deploy.zappa_steps import stage_environment

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
POLICY = iam.iam_policy(stage="dev", region="us-east-1", account_id=ACCOUNT)
# Where AWS or the data names things, a trailing "*" is the only way to grant access:
# object keys under raw/ and quarantine/, and the log streams Lambda creates.
ALLOWED_WILDCARDS = re.compile(
    r"^(arn:aws:s3:::twl-pipeline-raw-data-dev/(raw|quarantine)/\*"
    r"|arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/twl-pipeline-dev(-worker)?:\*)$"
)
# Code that runs only on an operator's machine, never inside Lambda.
# Taken from the package's own exclusions, so the check follows what really ships.
NOT_IN_LAMBDA = tuple(
    pattern
    for pattern in json.loads((ROOT / "zappa_settings.json").read_text())["base"]["exclude_glob"]
    if pattern.startswith("pipeline/")
)
# Boto3 operations whose IAM action is named differently.
ACTION_OF = {
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "sqs:SendMessageBatch": ["sqs:SendMessage"],
    "sqs:DeleteMessageBatch": ["sqs:DeleteMessage"],
    "sqs:ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
    "dynamodb:TransactWriteItems": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
    "dynamodb:TransactGetItems": ["dynamodb:GetItem"],
}


def _statements():
    return POLICY["Statement"]


def _as_list(value):
    return [value] if isinstance(value, str) else value


def _actions() -> set[str]:
    return {a for s in _statements() for a in _as_list(s["Action"])}


def test_no_action_is_a_wildcard():
    assert all("*" not in action for action in _actions())


def test_resources_hold_no_wildcard_except_object_keys_and_log_streams():
    resources = [r for s in _statements() for r in _as_list(s["Resource"])]
    wild = [r for r in resources if "*" in r]
    assert wild and all(ALLOWED_WILDCARDS.match(r) for r in wild), wild


def test_every_resource_names_the_stage():
    for statement in _statements():
        for resource in _as_list(statement["Resource"]):
            assert re.search(r"twl-pipeline-[a-z-]*dev\b", resource), resource


def test_only_allow_statements_and_no_other_stage_is_reachable():
    prod = json.dumps(iam.iam_policy(stage="prod", region="us-east-1", account_id=ACCOUNT))
    assert all(s["Effect"] == "Allow" for s in _statements())
    assert "-dev" not in prod and "-dev" in json.dumps(POLICY)


def test_scan_is_allowed_on_the_curated_table_only():
    scans = [s for s in _statements() if "dynamodb:Scan" in _as_list(s["Action"])]
    assert [s["Resource"] for s in scans] == [
        [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/twl-pipeline-curated-dev"]
    ]


def test_listing_the_raw_bucket_is_limited_to_the_raw_prefix():
    [listing] = [s for s in _statements() if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing["Resource"] == ["arn:aws:s3:::twl-pipeline-raw-data-dev"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/*"]}}


def test_zappas_handler_may_read_exactly_the_stages_secrets_file():
    [remote] = [s for s in _statements() if s["Sid"] == "ZappaRemoteEnv"]
    assert remote["Action"] == ["s3:GetObject"]
    assert remote["Resource"] == [
        "arn:aws:s3:::twl-pipeline-zappa-deployments-dev/twl-pipeline-dev-secrets.json"
    ]


def test_every_aws_operation_the_lambda_code_calls_is_allowed():
    """Scan the code for boto3 calls; a new call without its permission fails here first."""
    called = _operations_called()
    assert {"s3:GetObject", "sqs:SendMessage", "dynamodb:TransactWriteItems"} <= called
    needed = {action for op in called for action in ACTION_OF.get(op, [op])}
    assert needed <= _actions(), sorted(needed - _actions())


def test_trust_lets_lambda_api_gateway_and_eventbridge_assume_the_role_and_no_one_else():
    [statement] = iam.trust_policy()["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert sorted(statement["Principal"]["Service"]) == [
        "apigateway.amazonaws.com",
        "events.amazonaws.com",
        "lambda.amazonaws.com",
    ]


def test_role_is_created_once_then_left_alone_and_repaired_after_tampering(moto_aws, config):
    client = boto3.client("iam")
    first = iam.role_ensure(stage="dev", region="us-east-1", account_id=ACCOUNT, client=client)
    second = iam.role_ensure(stage="dev", region="us-east-1", account_id=ACCOUNT, client=client)
    assert first == ["role twl-pipeline-dev-lambda created", "policy twl-pipeline-access put"]
    assert second == []
    stored = client.get_role_policy(
        RoleName="twl-pipeline-dev-lambda", PolicyName="twl-pipeline-access"
    )
    assert iam.canonical(stored["PolicyDocument"]) == iam.canonical(POLICY)

    broad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    client.put_role_policy(
        RoleName="twl-pipeline-dev-lambda",
        PolicyName="twl-pipeline-access",
        PolicyDocument=json.dumps(broad),
    )
    kwargs = {"stage": "dev", "region": "us-east-1", "account_id": ACCOUNT, "client": client}
    assert iam.role_ensure(check_only=True, **kwargs) == ["policy twl-pipeline-access: differs"]
    assert iam.role_ensure(**kwargs) == ["policy twl-pipeline-access: put"]
    assert iam.role_ensure(**kwargs) == []


def test_other_policies_on_the_role_are_reported_not_removed(moto_aws, config):
    client = boto3.client("iam")
    iam.role_ensure(stage="dev", region="us-east-1", account_id=ACCOUNT, client=client)
    broad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    # What Zappa's own role management would have added.
    client.put_role_policy(
        RoleName="twl-pipeline-dev-lambda",
        PolicyName="zappa-permissions",
        PolicyDocument=json.dumps(broad),
    )
    changes = iam.role_ensure(stage="dev", region="us-east-1", account_id=ACCOUNT, client=client)
    assert changes == [
        "warning: role twl-pipeline-dev-lambda also has zappa-permissions;"
        " remove it for least privilege"
    ]
    assert (
        "zappa-permissions"
        in client.list_role_policies(RoleName="twl-pipeline-dev-lambda")["PolicyNames"]
    )


def test_iam_policy_command_prints_the_document_as_json():
    out = io.StringIO()
    call_command(
        "iam_policy", "--stage", "dev", "--region", "us-east-1", "--account", ACCOUNT, stdout=out
    )
    assert json.loads(out.getvalue()) == POLICY


def test_iam_policy_command_rejects_a_malformed_account_or_stage():
    with pytest.raises(CommandError, match="12-digit"):
        call_command("iam_policy", "--stage", "dev", "--account", "12345")
    with pytest.raises(CommandError, match="--stage"):
        call_command("iam_policy", "--stage", "Dev Stage", "--account", ACCOUNT)


def test_iam_role_command_is_idempotent_and_looks_the_account_up(moto_aws, config):
    first, second = io.StringIO(), io.StringIO()
    call_command("iam_role", "--stage", "dev", stdout=first)
    call_command("iam_role", "--stage", "dev", stdout=second)
    assert "role twl-pipeline-dev-lambda created" in first.getvalue()
    assert "up to date; nothing changed" in second.getvalue()
    stored = boto3.client("iam").get_role_policy(
        RoleName="twl-pipeline-dev-lambda", PolicyName="twl-pipeline-access"
    )
    assert iam.canonical(stored["PolicyDocument"]) == iam.canonical(POLICY)


def test_iam_role_check_exits_non_zero_on_drift(moto_aws, config):
    with pytest.raises(CommandError, match="Drift") as failure:
        call_command("iam_role", "--stage", "dev", "--check")
    assert failure.value.returncode == 1


def _operations_called() -> set[str]:
    """``service:Operation`` for every boto3 client method or paginator the Lambda code uses."""
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service, prefix in (("s3", "s3"), ("sqs", "sqs"), ("dynamodb", "dynamodb")):
        model = session.get_service_model(service)
        for name in model.operation_names:
            operations.setdefault(botocore.xform_name(name), set()).add(f"{prefix}:{name}")
    called: set[str] = set()
    for path in _lambda_sources():
        text = path.read_text()
        methods = re.findall(r"\.([a-z_0-9]+)\(", text)
        methods += re.findall(r"get_paginator\(\"([a-z_0-9]+)\"\)", text)
        for method in methods:
            called |= operations.get(method, set())
    return called


def _lambda_sources() -> list[Path]:
    sources = [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "records_api").rglob("*.py")]
    return [p for p in sources if not str(p.relative_to(ROOT)).startswith(NOT_IN_LAMBDA)]


def test_the_policy_grants_the_names_a_stage_overrides_not_the_defaults():
    names = resource_names("dev", {"TWL_RAW_BUCKET": "acme-raw", "TWL_CURATED_TABLE": "acme-c"})
    policy = json.dumps(
        iam.iam_policy(stage="dev", region="us-east-1", account_id=ACCOUNT, names=names)
    )
    assert "arn:aws:s3:::acme-raw/raw/*" in policy and "table/acme-c" in policy
    assert "twl-pipeline-raw-data-dev" not in policy and "twl-pipeline-curated-dev" not in policy


def test_by_default_the_policy_names_what_the_stages_zappa_environment_names(tmp_path):
    settings = tmp_path / "zappa_settings.json"
    settings.write_text(
        json.dumps(
            {
                "base": {"environment_variables": {"TWL_RAW_BUCKET": "from-base"}},
                "dev": {"extends": "base", "environment_variables": {"TWL_STAGE": "dev"}},
                "dev_worker": {"extends": "dev"},
            }
        )
    )
    env = stage_environment("dev_worker", settings_file=settings)
    assert env == {"TWL_RAW_BUCKET": "from-base", "TWL_STAGE": "dev"}
    assert stage_environment("nope", settings_file=settings) == {}
    # The real file: no stage renames anything, so the rule's defaults are granted.
    assert "arn:aws:s3:::twl-pipeline-raw-data-dev/raw/*" in json.dumps(POLICY)
