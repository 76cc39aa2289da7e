"""Drift: live resources changed by hand since the stack last set them.

Two sources, both reported: CloudFormation's own drift detection where the endpoint
offers it (AWS; moto does not), and a read-back of each resource the stack holds
against the template's properties, which works on any endpoint and names the
property that differs. A resource the template has but the stack does not is one the
endpoint did not create (moto skips ``AWS::S3::BucketPolicy``): it is reported as a
note, never as drift.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from pipeline.core.config import PipelineConfig
from pipeline.deploy.provision import Change
from pipeline.deploy.stack.spec import StackSpec
from pipeline.deploy.stack.template import build_template
from pipeline.stores import aws

Diffs = list[str]
MISSING_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "ResourceNotFound",
    }
)
DRIFT_POLL_SECONDS = 3.0


def stack_drift(*, config: PipelineConfig, spec: StackSpec) -> list[Change]:
    """Every drifted resource of the stage's stack, plus notes on what was not checked."""
    return cloudformation_drift(config=config, stack=spec.names.stack) + live_drift(
        config=config, spec=spec
    )


def cloudformation_drift(
    *, config: PipelineConfig, stack: str, poll_seconds: float = DRIFT_POLL_SECONDS
) -> list[Change]:
    """CloudFormation's drift detection; a note when the endpoint does not offer it."""
    cfn = aws.cloudformation(config)
    try:
        detection = cfn.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
    except (NotImplementedError, ResponseParserError):  # moto in-process; moto's server
        return [_unavailable(stack)]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NotImplemented", "InternalFailure"):
            return [_unavailable(stack)]
        raise
    while True:
        status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            break
        time.sleep(poll_seconds)
    drifts = cfn.describe_stack_resource_drifts(
        StackName=stack, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
    )["StackResourceDrifts"]
    return [
        Change(
            f"{d['LogicalResourceId']} ({d['ResourceType']})",
            "drift",
            f"CloudFormation: {d['StackResourceDriftStatus'].lower()}: "
            + ", ".join(p["PropertyPath"] for p in d.get("PropertyDifferences", [])),
        )
        for d in drifts
    ]


def _unavailable(stack: str) -> Change:
    return Change(
        f"stack {stack}",
        "note",
        "this endpoint has no CloudFormation drift detection; live read-back only",
    )


def live_drift(*, config: PipelineConfig, spec: StackSpec) -> list[Change]:
    """Read each stack resource back and compare it with the template's properties."""
    cfn = aws.cloudformation(config)
    stack = spec.names.stack
    # moto lists a resource it could not create without its ids.
    held = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        if r.get("LogicalResourceId")
    }
    account = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"].split(":")[4]
    resolve = Resolver(account=account, region=config.aws_region, physical=held)
    changes = []
    for logical_id, resource in sorted(build_template(spec).to_dict()["Resources"].items()):
        kind = resource["Type"]
        where = f"{logical_id} ({kind})"
        check = CHECKS.get(kind)
        if logical_id not in held:
            changes.append(Change(where, "note", "not created by this endpoint; not checked"))
            continue
        if check is None:
            continue
        props = resolve(resource.get("Properties", {}))
        try:
            diffs = check(config, props, held[logical_id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in MISSING_CODES:
                raise
            diffs = ["deleted outside the stack"]
        if diffs:
            changes.append(Change(where, "drift", "; ".join(diffs)))
    return changes


class Resolver:
    """Fill in the intrinsics the template uses: Ref, Fn::GetAtt Arn, Fn::Sub."""

    def __init__(self, *, account: str, region: str, physical: dict[str, str]) -> None:
        self.account, self.region, self.physical = account, region, physical

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.physical.get(value["Ref"], value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            return self._arn(value["Fn::GetAtt"][0])
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"].replace("${AWS::AccountId}", self.account)
            text = text.replace("${AWS::Region}", self.region)
            for logical_id in self.physical:
                text = text.replace("${" + logical_id + ".Arn}", self._arn(logical_id))
            return text
        return {k: self(v) for k, v in value.items()}

    def _arn(self, logical_id: str) -> str:
        """Only the ARNs the template asks for: the bucket's and the DLQ's."""
        physical = self.physical.get(logical_id, logical_id)
        if physical.startswith("http"):  # a queue URL
            return f"arn:aws:sqs:{self.region}:{self.account}:{physical.rsplit('/', 1)[-1]}"
        return f"arn:aws:s3:::{physical}"


def _differ(label: str, live: Any, wanted: Any) -> Diffs:
    if canonical(live) == canonical(wanted):
        return []
    return [
        f"{label}: live {json.dumps(live, sort_keys=True, default=str)} != template "
        f"{json.dumps(wanted, sort_keys=True, default=str)}"
    ]


def _queue(config: PipelineConfig, props: dict[str, Any], url: str) -> Diffs:
    live = aws.sqs(config).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    diffs: Diffs = []
    for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
        if key in props:
            diffs += _differ(key, int(live.get(key, 0)), int(props[key]))
    sse = str(live.get("SqsManagedSseEnabled", "false")).lower() == "true"
    diffs += _differ("SqsManagedSseEnabled", sse, bool(props.get("SqsManagedSseEnabled")))
    if "RedrivePolicy" in props:
        policy = json.loads(live.get("RedrivePolicy") or "{}")
        wanted = props["RedrivePolicy"]
        diffs += _differ(
            "RedrivePolicy",
            [
                str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1],
                int(policy.get("maxReceiveCount", 0)),
            ],
            [str(wanted["deadLetterTargetArn"]).rsplit(":", 1)[-1], int(wanted["maxReceiveCount"])],
        )
    return diffs


def _table(config: PipelineConfig, props: dict[str, Any], name: str) -> Diffs:
    ddb = aws.dynamodb(config)
    table = ddb.describe_table(TableName=name)["Table"]
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
    sse = table.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING", "UPDATING")
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    diffs = _differ("BillingMode", billing, props["BillingMode"])
    diffs += _differ("KeySchema", table.get("KeySchema"), props["KeySchema"])
    diffs += _differ(
        "GlobalSecondaryIndexes",
        indexes,
        {i["IndexName"]: i["KeySchema"] for i in props.get("GlobalSecondaryIndexes", [])},
    )
    diffs += _differ("SSESpecification", sse, props["SSESpecification"]["SSEEnabled"])
    wanted_pitr = props.get("PointInTimeRecoverySpecification", {})
    diffs += _differ(
        "PointInTimeRecovery",
        pitr == "ENABLED",
        bool(wanted_pitr.get("PointInTimeRecoveryEnabled")),
    )
    if "TimeToLiveSpecification" in props:
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        on = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        diffs += _differ(
            "TimeToLiveSpecification",
            ttl.get("AttributeName") if on else None,
            props["TimeToLiveSpecification"]["AttributeName"],
        )
    return diffs


def _bucket(config: PipelineConfig, props: dict[str, Any], name: str) -> Diffs:
    s3 = aws.s3(config)
    encryption = _or_none(s3.get_bucket_encryption, Bucket=name)
    rules = encryption["ServerSideEncryptionConfiguration"]["Rules"] if encryption else []
    algorithms = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    wanted_sse = [
        r["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    block = _or_none(s3.get_public_access_block, Bucket=name)
    lifecycle = _or_none(s3.get_bucket_lifecycle_configuration, Bucket=name)
    live_rules = [
        [
            r.get("ID"),
            r["Status"],
            [(t.get("Days"), t.get("StorageClass")) for t in r.get("Transitions", [])],
        ]
        for r in (lifecycle or {}).get("Rules", [])
    ]
    wanted_rules = [
        [
            r.get("Id"),
            r["Status"],
            [(t["TransitionInDays"], t["StorageClass"]) for t in r.get("Transitions", [])],
        ]
        for r in props["LifecycleConfiguration"]["Rules"]
    ]
    diffs = _differ("BucketEncryption", algorithms, wanted_sse)
    diffs += _differ(
        "VersioningConfiguration",
        s3.get_bucket_versioning(Bucket=name).get("Status"),
        props["VersioningConfiguration"]["Status"],
    )
    diffs += _differ(
        "PublicAccessBlockConfiguration",
        block["PublicAccessBlockConfiguration"] if block else None,
        props["PublicAccessBlockConfiguration"],
    )
    return diffs + _differ("LifecycleConfiguration", live_rules, wanted_rules)


def _bucket_policy(config: PipelineConfig, props: dict[str, Any], _physical: str) -> Diffs:
    reply = _or_none(aws.s3(config).get_bucket_policy, Bucket=props["Bucket"])
    live = json.loads(reply["Policy"])["Statement"] if reply else []
    return _differ("PolicyDocument", live, props["PolicyDocument"]["Statement"])


def _role(config: PipelineConfig, props: dict[str, Any], name: str) -> Diffs:
    iam = aws.iam(config)
    role = iam.get_role(RoleName=name)["Role"]
    diffs = _differ(
        "AssumeRolePolicyDocument",
        _document(role.get("AssumeRolePolicyDocument")),
        props["AssumeRolePolicyDocument"],
    )
    wanted = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}
    live_names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    live = {
        n: _document(iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"])
        for n in live_names
    }
    diffs += _differ("Policies", live, wanted)
    attached = [
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    ]
    return diffs + _differ("ManagedPolicyArns", attached, props.get("ManagedPolicyArns", []))


def _alarm(config: PipelineConfig, props: dict[str, Any], name: str) -> Diffs:
    found = aws.cloudwatch(config).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        return ["deleted outside the stack"]
    live: dict[str, Any] = dict(found[0])
    diffs: Diffs = []
    for key in ("MetricName", "Namespace", "ComparisonOperator", "TreatMissingData"):
        if key in props:
            diffs += _differ(key, live.get(key), props[key])
    for key in ("Threshold", "EvaluationPeriods"):
        diffs += _differ(key, float(live.get(key, 0)), float(props[key]))
    return diffs


def _dashboard(config: PipelineConfig, props: dict[str, Any], name: str) -> Diffs:
    body = aws.cloudwatch(config).get_dashboard(DashboardName=name)["DashboardBody"]
    return _differ("DashboardBody", json.loads(body), json.loads(props["DashboardBody"]))


CHECKS: dict[str, Callable[[PipelineConfig, dict[str, Any], str], Diffs]] = {
    "AWS::SQS::Queue": _queue,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::IAM::Role": _role,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,
}
_ABSENT = frozenset(
    {
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchPublicAccessBlockConfiguration",
        "NoSuchLifecycleConfiguration",
        "NoSuchBucketPolicy",
    }
)


def _or_none(call: Callable[..., Any], **kwargs: Any) -> Any:
    """An S3 configuration read; None when the bucket has none of it."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _ABSENT:
            return None
        raise


def _document(value: Any) -> Any:
    """IAM answers documents decoded by boto3, or as (URL-encoded) JSON text."""
    if isinstance(value, str):
        from urllib.parse import unquote

        return json.loads(unquote(value))
    return value or {}


_LISTY_KEYS = frozenset({"Action", "Resource", "Service", "NotAction", "NotResource"})


def canonical(document: Any) -> Any:
    """A comparable form: single values as one-item lists, lists sorted, keys ordered."""
    if isinstance(document, dict):
        return {
            key: ([v] if key in _LISTY_KEYS and isinstance(v, str) else v)
            for key, v in ((k, canonical(x)) for k, x in sorted(document.items()))
        }
    if isinstance(document, list):
        items = [canonical(v) for v in document]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return document
