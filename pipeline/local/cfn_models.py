"""Teach moto's CloudFormation what the stack uses and moto leaves out, so the emulator builds it.

moto 5.2 creates an ``AWS::S3::Bucket`` with its encryption only and an
``AWS::DynamoDB::Table`` without TTL or point-in-time recovery, and has no
``AWS::CloudWatch::Alarm`` or ``AWS::SNS::Subscription`` at all. Here those properties
are applied through moto's own backends and those two types are added, so
``manage.py provision`` on the emulator builds what AWS builds and its drift check
reads back what it wrote. One type stays out on purpose: ``AWS::S3::BucketPolicy``.
moto evaluates a bucket policy without its conditions, so the TLS-only deny would
refuse every call over the emulator's plain HTTP; the template test checks that
policy instead, and the drift check reports it as not created by this endpoint.
"""

from __future__ import annotations

import functools
import json
from typing import Any

_INSTALLED = False


def install_cfn_models() -> None:
    """Patch moto's CloudFormation models in place (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.cloudformation import parsing
    from moto.dynamodb.models.table import Table
    from moto.iam.models import Role
    from moto.s3.models import FakeBucket

    _after(FakeBucket, "create_from_cloudformation_json", _bucket_extras)
    _after(FakeBucket, "update_from_cloudformation_json", _bucket_extras)
    _after(Role, "create_from_cloudformation_json", _role_policies_as_json)
    _after(Role, "update_from_cloudformation_json", _role_policies_as_json)
    _after(Table, "create_from_cloudformation_json", _table_extras)
    Table.update_from_cloudformation_json = classmethod(_table_update)  # type: ignore[method-assign,assignment]
    _parse_json_first()
    _quiet_about_the_bucket_policy()
    models = parsing.get_model_map()
    names = parsing.get_name_type_map()
    for model in _make_models():
        models[model.cloudformation_type()] = model
        names[model.cloudformation_type()] = model.cloudformation_name_type()
    _INSTALLED = True


def _quiet_about_the_bucket_policy() -> None:
    """moto warns at every stack about the one type left out here on purpose."""
    import logging
    import warnings

    # pytest restores its own filters per test: pyproject.toml repeats this one.
    warnings.filterwarnings("ignore", message="Tried to parse AWS::S3::BucketPolicy")
    logging.getLogger("moto").addFilter(
        lambda record: "AWS::S3::BucketPolicy" not in record.getMessage()
    )


def _parse_json_first() -> None:
    """moto reads every template with PyYAML's pure-Python loader (a JSON template is YAML
    too): 0.17 s for ours, on every change set. JSON first, then moto's own way."""
    from moto.cloudformation import models

    def parse(template: str) -> Any:
        try:
            return json.loads(template)
        except ValueError:
            return original_static(template)

    original_static = models.Stack.parse_template
    original_change_set = models.ChangeSet._parse_template

    def change_set_parse(self: Any) -> None:
        try:
            self.template_dict = json.loads(self.template)
        except ValueError:
            original_change_set(self)

    models.Stack.parse_template = staticmethod(parse)  # type: ignore[method-assign]
    models.ChangeSet._parse_template = change_set_parse  # type: ignore[method-assign]


def _after(cls: Any, name: str, extra: Any) -> None:
    """Run ``extra(resource, properties, account, region)`` after moto's own classmethod."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def wrapped(klass: Any, *args: Any, **kwargs: Any) -> Any:
        resource = original(*args, **kwargs)
        json_ = kwargs.get("cloudformation_json", args[1] if len(args) > 1 else {})
        account = kwargs.get("account_id", args[2] if len(args) > 2 else "")
        region = kwargs.get("region_name", args[3] if len(args) > 3 else "")
        extra(resource, json_.get("Properties", {}), account, region)
        return resource

    setattr(cls, name, classmethod(wrapped))


def _bucket_extras(bucket: Any, props: dict[str, Any], account: str, region: str) -> None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account][get_partition(region)]
    name = bucket.name
    if "VersioningConfiguration" in props:
        backend.put_bucket_versioning(name, props["VersioningConfiguration"]["Status"])
    if "PublicAccessBlockConfiguration" in props:
        backend.put_public_access_block(name, props["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in props:
        backend.put_bucket_ownership_controls(name, props["OwnershipControls"])
    if "LifecycleConfiguration" in props:
        rules = [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
        backend.put_bucket_lifecycle_configuration(name, rules)


def _role_policies_as_json(role: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto keeps a template's inline policy as a dict and answers its repr; store JSON."""
    for policy in props.get("Policies", []):
        document = policy["PolicyDocument"]
        if not isinstance(document, str):
            role.put_policy(policy["PolicyName"], json.dumps(document))


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (what moto stores)."""
    shaped: dict[str, Any] = {
        "ID": rule.get("Id"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Transitions" in rule:
        shaped["Transition"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    if "NoncurrentVersionTransitions" in rule:
        shaped["NoncurrentVersionTransition"] = [
            {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        shaped["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return shaped


def _table_extras(table: Any, props: dict[str, Any], account: str, region: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][region]
    sse = props.get("SSESpecification")
    if sse is not None:
        # CloudFormation spells the API's "Enabled" as "SSEEnabled"; moto reads the API's.
        table.sse_specification = {
            **(table.sse_specification or {}),
            "Enabled": bool(sse.get("SSEEnabled")),
        }
    if "TimeToLiveSpecification" in props and table.ttl.get("TimeToLiveStatus") != "ENABLED":
        backend.update_time_to_live(table.name, props["TimeToLiveSpecification"])
    if "PointInTimeRecoverySpecification" in props:
        backend.update_continuous_backups(table.name, props["PointInTimeRecoverySpecification"])


def _table_update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Any:
    """In-place table updates (moto has none): billing mode, TTL, point-in-time recovery."""
    props = cloudformation_json.get("Properties", {})
    if "BillingMode" in props:
        original_resource.billing_mode = props["BillingMode"]
    _table_extras(original_resource, props, account_id, region_name)
    return original_resource


def _alarm_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = None
    if props.get("Metrics"):
        queries = []
        for query in props["Metrics"]:
            stat = query.get("MetricStat")
            metric_stat = None
            if stat:
                metric = stat["Metric"]
                dims = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
                metric_stat = MetricStat(
                    metric=Metric(metric["MetricName"], metric["Namespace"], dims),
                    period=stat.get("Period"),
                    stat=stat.get("Stat"),
                    unit=stat.get("Unit"),
                )
            queries.append(
                MetricDataQuery(
                    query_id=query["Id"],
                    label=query.get("Label"),
                    period=query.get("Period"),
                    return_data=str(query.get("ReturnData", True)).lower(),
                    expression=query.get("Expression"),
                    metric_stat=metric_stat,
                )
            )
    return {
        "name": props["AlarmName"],
        "namespace": props.get("Namespace"),
        "metric_name": props.get("MetricName"),
        "metric_data_queries": queries,
        "comparison_operator": props["ComparisonOperator"],
        "evaluation_periods": props["EvaluationPeriods"],
        "datapoints_to_alarm": props.get("DatapointsToAlarm"),
        "period": props.get("Period"),
        "threshold": props.get("Threshold"),
        "statistic": props.get("Statistic"),
        "description": props.get("AlarmDescription"),
        "dimensions": [
            {"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions", [])
        ],
        "alarm_actions": props.get("AlarmActions", []),
        "ok_actions": props.get("OKActions", []),
        "treat_missing_data": props.get("TreatMissingData"),
    }


def _make_models() -> tuple[Any, Any]:
    return _alarm_model(), _subscription_model()


def _alarm_model() -> Any:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel

    class AlarmModel(CloudFormationModel):
        """``AWS::CloudWatch::Alarm`` through moto's PutMetricAlarm."""

        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> AlarmModel:
            props = {"AlarmName": resource_name, **cloudformation_json.get("Properties", {})}
            cloudwatch_backends[account_id][region_name].put_metric_alarm(**_alarm_kwargs(props))
            return cls(props["AlarmName"])

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> AlarmModel:
            backend = cloudwatch_backends[account_id][region_name]
            props = cloudformation_json.get("Properties", {})
            if props.get("AlarmName", original_resource.name) != original_resource.name:
                backend.delete_alarms([original_resource.name])
            return cls.create_from_cloudformation_json(
                props.get("AlarmName", original_resource.name),
                cloudformation_json,
                account_id,
                region_name,
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

    return AlarmModel


def _subscription_model() -> Any:
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    class SubscriptionModel(CloudFormationModel):
        """``AWS::SNS::Subscription`` through moto's Subscribe."""

        def __init__(self, arn: str) -> None:
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> SubscriptionModel:
            props = cloudformation_json.get("Properties", {})
            backend = sns_backends[account_id][region_name]
            found = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
            return cls(found.arn)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> SubscriptionModel:
            sns_backends[account_id][region_name].unsubscribe(original_resource.arn)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            sns_backends[account_id][region_name].unsubscribe(resource_name)

    return SubscriptionModel
