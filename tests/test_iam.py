"""Each function's IAM policy names only its stage, covers what the code calls, lands on its role.

What each call really needs, and what the web role may never do, is checked against
recorded calls in tests/test_function_permissions.py; these are the cheap static checks
of ``pipeline.deploy.stack.roles`` and of ``manage.py iam_policy``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import botocore.session
import pytest
from django.core.management import CommandError, call_command

from pipeline.core.names import resource_names
from pipeline.deploy.stack.roles import FUNCTIONS, Function, StageTarget, function_policy
from pipeline.deploy.stack.spec import spec_for_stage
from pipeline.deploy.stack.template import POLICY_NAME
from pipeline.deploy.zappa_steps import stage_environment
from pipeline.stores import aws

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "us-east-1"
DEV = StageTarget(names=spec_for_stage("dev").names, region=REGION, account_id=ACCOUNT)
POLICIES: dict[Function, dict] = {f: function_policy(f, DEV) for f in FUNCTIONS}
# Where AWS or the data names things, a trailing "*" is the only way to grant access:
# object keys under raw/, quarantine/ and admin/ (the admin's database), the log
# streams Lambda creates, and the parameters operators name under the stage's sources
# path (declared sources' secrets). X-Ray's actions take no resource at all ("*").
ALLOWED_WILDCARDS = re.compile(
    r"^(arn:aws:s3:::twl-pipeline-raw-data-dev/(raw|quarantine|admin)/\*"
    r"|arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/twl-pipeline-dev(-worker)?:\*"
    r"|arn:aws:ssm:us-east-1:123456789012:parameter/twl-pipeline/dev/sources/\*"
    r"|\*)$"
)
# Code that runs only on an operator's machine, never inside Lambda.
# Taken from the package's own exclusions, so the check follows what really ships.
NOT_IN_LAMBDA = tuple(
    pattern
    for pattern in json.loads((ROOT / "zappa_settings.json").read_text())["base"]["exclude_glob"]
    if pattern.startswith("pipeline/")
)
SCANNED_SERVICES = ("s3", "sqs", "dynamodb", "lambda", "ssm")
# Boto3 operations whose IAM action is named differently.
ACTION_OF = {
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "s3:HeadObject": ["s3:GetObject"],
    "sqs:SendMessageBatch": ["sqs:SendMessage"],
    "sqs:DeleteMessageBatch": ["sqs:DeleteMessage"],
    "sqs:ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
    "dynamodb:TransactWriteItems": [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ],
    "dynamodb:TransactGetItems": ["dynamodb:GetItem"],
    "lambda:Invoke": ["lambda:InvokeFunction"],
}


def _statements(function: Function) -> list[dict]:
    return POLICIES[function]["Statement"]


def _actions(*functions: Function) -> set[str]:
    return {a for f in functions for s in _statements(f) for a in s["Action"]}


def _with_action(function: Function, action: str) -> list[dict]:
    return [s for s in _statements(function) if action in s["Action"]]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_resources_hold_no_wildcard_except_object_keys_log_streams_and_x_ray(function):
    wild = [r for s in _statements(function) for r in s["Resource"] if "*" in r]
    assert wild and all(ALLOWED_WILDCARDS.match(r) for r in wild), wild


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_resource_names_the_stage(function):
    for statement in _statements(function):
        for resource in statement["Resource"]:
            assert resource == "*" or re.search(r"twl-pipeline[-/][a-z-]*dev\b", resource), resource


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_allow_statements_and_no_other_stage_is_reachable(function):
    prod = StageTarget(names=spec_for_stage("prod").names, region=REGION, account_id=ACCOUNT)
    assert all(s["Effect"] == "Allow" for s in _statements(function))
    assert "-dev" not in json.dumps(function_policy(function, prod))
    assert "-dev" in json.dumps(POLICIES[function])


def test_the_web_writes_ledger_items_only_under_its_own_leading_keys():
    """Counters, job records and declared sources' definitions; no other ledger write."""
    ledger = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/twl-pipeline-ledger-dev"
    writes = {
        s["Sid"]: (s["Action"], s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        for s in _statements("web")
        if {"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} & set(s["Action"])
    }
    assert writes == {
        "ThrottleCounters": (["dynamodb:UpdateItem"], ["THROTTLE#*"]),
        "JobRecords": (["dynamodb:PutItem", "dynamodb:UpdateItem"], ["JOB#*"]),
        "SourceDefinitions": (["dynamodb:DeleteItem", "dynamodb:PutItem"], ["SOURCEDEF*"]),
    }
    assert all(s["Resource"] == [ledger] for s in _statements("web") if s["Sid"] in writes)


def test_only_the_worker_scans_and_only_the_curated_table():
    assert _with_action("web", "dynamodb:Scan") == []
    assert [s["Resource"] for s in _with_action("worker", "dynamodb:Scan")] == [
        [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/twl-pipeline-curated-dev"]
    ]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_listing_the_raw_bucket_is_limited_to_the_raw_prefix(function):
    [listing] = _with_action(function, "s3:ListBucket")
    assert listing["Resource"] == ["arn:aws:s3:::twl-pipeline-raw-data-dev"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/*"]}}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zappas_handler_may_read_exactly_the_stages_secrets_file(function):
    [remote] = [s for s in _statements(function) if s["Sid"] == "ZappaRemoteEnv"]
    assert remote["Action"] == ["s3:GetObject"]
    assert remote["Resource"] == [
        "arn:aws:s3:::twl-pipeline-zappa-deployments-dev/twl-pipeline-dev-secrets.json"
    ]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_both_functions_read_only_the_stages_source_secrets(function):
    [secrets] = _with_action(function, "ssm:GetParameter")
    assert secrets["Action"] == ["ssm:GetParameter"]
    assert secrets["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/twl-pipeline/dev/sources/*"
    ]
    assert {a for a in _actions(function) if a.startswith("ssm:")} == {"ssm:GetParameter"}


def test_every_aws_operation_the_lambda_code_calls_is_allowed_to_one_of_the_roles():
    """Scan the code for boto3 calls; a new call without its permission fails here first.

    Which role needs which call is proven on recorded calls in
    tests/test_function_permissions.py; this catches a call no test exercises.
    """
    called = _operations_called()
    assert {
        "s3:GetObject",
        "sqs:SendMessage",
        "dynamodb:TransactWriteItems",
        "lambda:Invoke",
        "ssm:GetParameter",
    } <= called
    needed = {action for op in called for action in ACTION_OF.get(op, [op])}
    granted = _actions(*FUNCTIONS)
    assert needed <= granted, sorted(needed - granted)


def _operations_called() -> set[str]:
    """``service:Operation`` for every boto3 client method or paginator the Lambda code uses."""
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service in SCANNED_SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            operations.setdefault(botocore.xform_name(name), set()).add(f"{service}:{name}")
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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_stack_puts_each_functions_policy_and_only_it_on_its_role(stack, function):
    iam = aws.iam(stack)
    target = StageTarget(names=stack.names, region=REGION, account_id=ACCOUNT)
    role = stack.names.web_role if function == "web" else stack.names.worker_role

    stored = iam.get_role_policy(RoleName=role, PolicyName=POLICY_NAME)["PolicyDocument"]

    assert stored == function_policy(function, target)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [POLICY_NAME]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def _printed(*args: str) -> dict:
    out = io.StringIO()
    call_command(
        "iam_policy", "--stage", "dev", "--region", REGION, "--account", ACCOUNT, *args, stdout=out
    )
    return json.loads(out.getvalue())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_iam_policy_command_prints_the_functions_policy_as_json(function):
    assert _printed("--function", function) == POLICIES[function]


def test_iam_policy_command_prints_the_web_policy_by_default():
    assert _printed() == POLICIES["web"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--stage", "dev", "--account", "12345"], "12-digit"),
        (["--stage", "Dev Stage", "--account", ACCOUNT], "--stage"),
        (["--stage", "dev", "--account", ACCOUNT, "--function", "admin"], "invalid choice"),
    ],
    ids=["account", "stage", "function"],
)
def test_iam_policy_command_rejects_a_malformed_account_stage_or_function(args, error):
    with pytest.raises(CommandError, match=error):
        call_command("iam_policy", *args)


def test_the_policy_grants_the_names_a_stage_overrides_not_the_defaults():
    names = resource_names("dev", {"TWL_RAW_BUCKET": "acme-raw", "TWL_CURATED_TABLE": "acme-c"})
    target = StageTarget(names=names, region=REGION, account_id=ACCOUNT)
    for function in FUNCTIONS:
        policy = json.dumps(function_policy(function, target))
        assert "arn:aws:s3:::acme-raw/raw/*" in policy and "table/acme-c" in policy
        assert "twl-pipeline-raw-data-dev" not in policy
        assert "twl-pipeline-curated-dev" not in policy


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
    assert "arn:aws:s3:::twl-pipeline-raw-data-dev/raw/*" in json.dumps(POLICIES["web"])
