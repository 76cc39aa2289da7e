"""The whole stack of a stage as one CloudFormation template (troposphere).

Data resources (``storage``), the two function roles (``roles``), the alarms, their
topic and the dashboard (``monitoring``), and outputs naming what Zappa's stages use.
Zappa keeps deploying the functions and API Gateway; the roles' names are fixed so the
stages' ``role_name`` can name them.
"""

from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, Output, Ref, Sub, Template, iam

from pipeline.core.constants import PRODUCT
from pipeline.deploy.stack import monitoring, storage
from pipeline.deploy.stack.roles import (
    FUNCTIONS,
    Function,
    StageTarget,
    function_policy,
    trust_policy,
)
from pipeline.deploy.stack.spec import StackOptions, StackSpec, spec_for_stage

ROLE_IDS: dict[Function, str] = {"web": "WebRole", "worker": "WorkerRole"}
POLICY_NAME = f"{PRODUCT}-access"
# What the documents say for the account and region; Fn::Sub fills them in.
ACCOUNT = "${AWS::AccountId}"
REGION = "${AWS::Region}"


def build_template(spec: StackSpec) -> Template:
    """Every resource of the stage's stack, with its outputs."""
    template = Template(
        Description=f"{PRODUCT} stage {spec.names.stage}: data, roles, alarms, dashboard "
        "(manage.py provision)"
    )
    resources = [
        *storage.raw_bucket(spec),
        *storage.queues(spec),
        *storage.tables(spec),
        *(_role(spec, function) for function in FUNCTIONS),
        *monitoring.topic(spec),
        *monitoring.alarms(spec),
        monitoring.dashboard(spec),
    ]
    for resource in resources:
        template.add_resource(resource)
    for output in _outputs(spec):
        template.add_output(output)
    return template


def template_body(spec: StackSpec) -> str:
    """The template as sorted, indented JSON (what CloudFormation receives)."""
    return json.dumps(build_template(spec).to_dict(), indent=1, sort_keys=True)


def compact_body(spec: StackSpec) -> str:
    """The template as compact JSON: CloudFormation takes at most 51,200 bytes inline."""
    return json.dumps(build_template(spec).to_dict(), separators=(",", ":"), sort_keys=True)


def template_json(stage: str, options: StackOptions | None = None) -> str:
    """The template of a zappa_settings.json stage (``manage.py provision --print-template``)."""
    return template_body(spec_for_stage(stage, options))


def _role(spec: StackSpec, function: Function) -> iam.Role:
    target = StageTarget(names=spec.names, region=REGION, account_id=ACCOUNT)
    name = spec.names.web_role if function == "web" else spec.names.worker_role
    return iam.Role(
        ROLE_IDS[function],
        RoleName=name,
        Description=f"{PRODUCT} {spec.names.stage}: the {function} function's execution role",
        AssumeRolePolicyDocument=substituted(trust_policy(function, ACCOUNT)),
        Policies=[
            iam.Policy(
                PolicyName=POLICY_NAME,
                PolicyDocument=substituted(function_policy(function, target)),
            )
        ],
        Metadata={
            "checkov": {
                "skip": [
                    {
                        "id": "CKV_AWS_111",
                        "comment": "The only unconstrained resource is X-Ray's, whose "
                        "PutTraceSegments/PutTelemetryRecords take no resource ARN.",
                    }
                ]
            }
        },
    )


def substituted(document: Any) -> Any:
    """The document with each string naming a pseudo parameter wrapped in ``Fn::Sub``."""
    if isinstance(document, dict):
        return {key: substituted(value) for key, value in document.items()}
    if isinstance(document, list):
        return [substituted(value) for value in document]
    if isinstance(document, str) and "${AWS::" in document:
        return Sub(document)
    return document


def _outputs(spec: StackSpec) -> list[Output]:
    """What the Zappa stages and an operator need from the stack."""
    values: list[tuple[str, Any, str]] = [
        ("RawBucketName", Ref(storage.RAW_BUCKET), "TWL_RAW_BUCKET"),
        ("QueueName", GetAtt(storage.QUEUE, "QueueName"), "TWL_QUEUE_NAME"),
        ("QueueUrl", Ref(storage.QUEUE), "the ingestion queue"),
        ("QueueArn", GetAtt(storage.QUEUE, "Arn"), "the worker stage's SQS event source arn"),
        ("DeadLetterQueueName", GetAtt(storage.DLQ, "QueueName"), "TWL_DLQ_NAME"),
        ("DeadLetterQueueArn", GetAtt(storage.DLQ, "Arn"), "the dead-letter queue"),
        ("CuratedTableName", Ref(storage.CURATED_TABLE), "TWL_CURATED_TABLE"),
        ("LedgerTableName", Ref(storage.LEDGER_TABLE), "TWL_LEDGER_TABLE"),
        ("WebRoleName", Ref(ROLE_IDS["web"]), "role_name of the web stage"),
        ("WebRoleArn", GetAtt(ROLE_IDS["web"], "Arn"), "the web function's role"),
        ("WorkerRoleName", Ref(ROLE_IDS["worker"]), "role_name of the _worker stage"),
        ("WorkerRoleArn", GetAtt(ROLE_IDS["worker"], "Arn"), "the worker function's role"),
        ("AlarmTopicArn", Ref(monitoring.ALARM_TOPIC), "where every alarm notifies"),
        (
            "DashboardUrl",
            Sub(
                "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region="
                "${AWS::Region}#dashboards:name=" + spec.names.dashboard
            ),
            "the stage's dashboard",
        ),
    ]
    return [Output(key, Value=value, Description=why) for key, value, why in values]
