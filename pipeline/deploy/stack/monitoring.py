"""The stack's alarms, the SNS topic they notify, and the stage's CloudWatch dashboard.

Alarms watch AWS's own metrics (Lambda, API Gateway, SQS, DynamoDB) and the EMF metrics
the pipeline emits (``pipeline.core.metrics``: namespace ``TWLPipeline``, dimensions
``service`` and ``stage`` plus each metric's own). docs/DEPLOY.md "Alarms" gives each
one's runbook step; ``tests/test_stack_monitoring.py`` checks every metric named here
against what the code really emits.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from troposphere import Ref, Sub, cloudwatch, sns

from pipeline.core.metrics import NAMESPACE, SERVICE
from pipeline.deploy.stack.spec import StackSpec
from pipeline.sources import Feed

ALARM_TOPIC = "AlarmTopic"
ALARM_EMAIL = "AlarmEmailSubscription"
DASHBOARD = "Dashboard"
PERIOD = 300  # seconds: the schedule's cadence, and CloudWatch's cheapest resolution
FEED_METRIC = "FeedIngested"  # 1 per feed per run that stored or confirmed its data
RECORD_METRICS = ("RecordsInserted", "RecordsUpdated", "RecordsRejected")
# The worker never raises for a failed admin job (Lambda would retry it): it counts it.
JOBS_FAILED_METRIC = "JobsFailed"


def emf_dimensions(spec: StackSpec, **extra: str) -> list[tuple[str, str]]:
    """The dimensions of one of the pipeline's EMF metrics in this stage, sorted by name."""
    return sorted({"service": SERVICE, "stage": spec.names.stage, **extra}.items())


def topic(spec: StackSpec) -> list[Any]:
    """The alarms' topic, and an e-mail subscription when ``TWL_ALARM_EMAIL`` is set."""
    resources: list[Any] = [
        sns.Topic(
            ALARM_TOPIC,
            TopicName=spec.names.alarm_topic,
            Metadata={
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_26",
                            "comment": "Alarm notices carry no data; CloudWatch cannot publish "
                            "to a topic under the AWS managed key, and a customer key costs "
                            "$1/month per stage.",
                        }
                    ]
                }
            },
        )
    ]
    if spec.options.alarm_email:
        resources.append(
            sns.SubscriptionResource(
                ALARM_EMAIL,
                Protocol="email",
                Endpoint=spec.options.alarm_email,
                TopicArn=Ref(ALARM_TOPIC),
            )
        )
    return resources


def _alarm(spec: StackSpec, logical_id: str, suffix: str, description: str, **props: Any) -> Any:
    defaults: dict[str, Any] = {
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 1,
        "TreatMissingData": "notBreaching",
    }
    return cloudwatch.Alarm(
        logical_id,
        AlarmName=f"{spec.names.alarm_prefix}-{suffix}",
        AlarmDescription=description,
        AlarmActions=[Ref(ALARM_TOPIC)],
        OKActions=[Ref(ALARM_TOPIC)],
        **{**defaults, **props},
    )


def _dims(*pairs: tuple[str, str]) -> list[cloudwatch.MetricDimension]:
    return [cloudwatch.MetricDimension(Name=name, Value=value) for name, value in pairs]


@dataclass(frozen=True)
class AwsAlarm:
    """An alarm on one AWS metric of one of the stage's resources."""

    logical_id: str
    suffix: str
    description: str
    namespace: str
    metric: str
    dimension: str
    resource: str
    statistic: str = "Sum"
    threshold: int = 1

    def build(self, spec: StackSpec) -> Any:
        return _alarm(
            spec,
            self.logical_id,
            self.suffix,
            self.description,
            Namespace=self.namespace,
            MetricName=self.metric,
            Dimensions=_dims((self.dimension, self.resource)),
            Statistic=self.statistic,
            Period=PERIOD,
            Threshold=self.threshold,
        )


def _aws_alarms(spec: StackSpec) -> list[AwsAlarm]:
    names = spec.names
    lam, fn = "AWS/Lambda", "FunctionName"
    return [
        AwsAlarm("WorkerErrorsAlarm", "worker-errors",
                 "The worker function failed (an exception escaped a handler).",
                 lam, "Errors", fn, names.worker_function),
        AwsAlarm("WebServerErrorsAlarm", "web-5xx",
                 "The API or pages answered 5xx: a bug or an AWS outage, never bad input.",
                 "AWS/ApiGateway", "5XXError", "ApiName", names.web_function),
        AwsAlarm("DeadLettersAlarm", "dead-letters",
                 "Messages reached the dead-letter queue after every try failed.",
                 "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names.dlq,
                 statistic="Maximum"),
        AwsAlarm("QueueAgeAlarm", "queue-age",
                 "The oldest ingestion message has waited too long: processing is stuck.",
                 "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", names.queue,
                 statistic="Maximum", threshold=spec.options.queue_age_alarm_seconds),
        AwsAlarm("WebThrottlesAlarm", "web-throttles",
                 "Lambda refused to run the web function (concurrency limit).",
                 lam, "Throttles", fn, names.web_function),
        AwsAlarm("WorkerThrottlesAlarm", "worker-throttles",
                 "Lambda refused to run the worker function (concurrency limit).",
                 lam, "Throttles", fn, names.worker_function),
    ]  # fmt: skip


def alarms(spec: StackSpec) -> list[Any]:
    """Every alarm of the stage (docs/DEPLOY.md "Alarms" says what to do when one fires)."""
    jobs_failed = _alarm(
        spec,
        "JobsFailedAlarm",
        "jobs-failed",
        "An admin job (Ingest now, Replay, DLQ redrive/delete) failed on the worker.",
        Namespace=NAMESPACE,
        MetricName=JOBS_FAILED_METRIC,
        Dimensions=_dims(*emf_dimensions(spec)),
        Statistic="Sum",
        Period=PERIOD,
    )
    return [
        *(alarm.build(spec) for alarm in _aws_alarms(spec)),
        jobs_failed,
        _dynamodb_throttles(spec),
        *(_feed_stale(spec, f) for f in spec.feeds),
    ]


def _dynamodb_throttles(spec: StackSpec) -> Any:
    """Read or write throttle events on either table, summed by metric math."""
    queries = []
    for i, (table, metric) in enumerate(
        (t, m)
        for t in (spec.names.curated_table, spec.names.ledger_table)
        for m in ("ReadThrottleEvents", "WriteThrottleEvents")
    ):
        queries.append(
            cloudwatch.MetricDataQuery(
                Id=f"m{i}",
                ReturnData=False,
                MetricStat=cloudwatch.MetricStat(
                    Metric=cloudwatch.Metric(
                        Namespace="AWS/DynamoDB",
                        MetricName=metric,
                        Dimensions=_dims(("TableName", table)),
                    ),
                    Period=PERIOD,
                    Stat="Sum",
                ),
            )
        )
    total = "+".join(f"FILL({q.Id},0)" for q in queries)
    queries.append(cloudwatch.MetricDataQuery(Id="throttles", Expression=total, ReturnData=True))
    return _alarm(
        spec,
        "DynamoDBThrottlesAlarm",
        "dynamodb-throttles",
        "DynamoDB throttled reads or writes on the curated or ledger table.",
        Metrics=queries,
    )


def _feed_stale(spec: StackSpec, feed: Feed) -> Any:
    """No successful ingest of one feed for ``feed_stale_after_seconds`` (missing data counts)."""
    periods = max(1, math.ceil(spec.options.feed_stale_after_seconds / PERIOD))
    suffix = _slug(f"{feed.source}-{feed.type}")
    return _alarm(
        spec,
        f"FeedStale{_camel(feed.source)}{_camel(feed.type)}Alarm",
        f"feed-stale-{suffix}",
        f"{feed.source}/{feed.type} not ingested successfully for "
        f"{periods * PERIOD // 60} minutes (the source fails, or the schedule stopped).",
        Namespace=NAMESPACE,
        MetricName=FEED_METRIC,
        Dimensions=_dims(*emf_dimensions(spec, source=feed.source, type=feed.type)),
        Statistic="Sum",
        Period=PERIOD,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        ComparisonOperator="LessThanThreshold",
        Threshold=1,
        # No data means no run at all: that is the stalest a feed can be.
        TreatMissingData="breaching",
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


# --- the dashboard ----------------------------------------------------------------------


def dashboard(spec: StackSpec) -> Any:
    """The seed's widgets plus records, freshness per source and API latency per endpoint."""
    names = spec.names
    functions = (names.web_function, names.worker_function)
    widgets = [
        _widget(
            "Lambda invocations",
            [_m("AWS/Lambda", "Invocations", FunctionName=f) for f in functions],
        ),
        _widget("Lambda errors", [_m("AWS/Lambda", "Errors", FunctionName=f) for f in functions]),
        _widget(
            "Lambda duration p50 / p99 (ms)",
            [
                _m("AWS/Lambda", "Duration", stat, FunctionName=f)
                for f in functions
                for stat in ("p50", "p99")
            ],
        ),
        _widget(
            "Queue sent / received / visible",
            [
                _m("AWS/SQS", metric, stat, QueueName=q)
                for q in (names.queue, names.dlq)
                for metric, stat in (
                    ("NumberOfMessagesSent", "Sum"),
                    ("NumberOfMessagesReceived", "Sum"),
                    ("ApproximateNumberOfMessagesVisible", "Maximum"),
                )
            ],
        ),
        _widget(
            "DynamoDB consumed read / write capacity",
            [
                _m("AWS/DynamoDB", metric, TableName=t)
                for t in (names.curated_table, names.ledger_table)
                for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")
            ],
        ),
        _widget(
            "API requests, 4xx, 5xx",
            [
                _m("AWS/ApiGateway", m, ApiName=names.web_function)
                for m in ("Count", "4XXError", "5XXError")
            ],
        ),
        *(_per_source(spec, metric, f"{metric} per source") for metric in RECORD_METRICS),
        _per_source(
            spec, FEED_METRIC, "Ingest freshness: successful ingests per source (0 = stale)"
        ),
        _widget(
            "API latency p50 / p99 per endpoint (ms)",
            [
                [{"expression": _latency_search(spec, stat), "label": stat, "id": f"lat_{stat}"}]
                for stat in ("p50", "p99")
            ],
        ),
    ]
    layout = [
        {**w, "x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6}
        for i, w in enumerate(widgets)
    ]
    # Sub fills ${AWS::Region}; the body holds no other "${".
    return cloudwatch.Dashboard(
        DASHBOARD, DashboardName=names.dashboard, DashboardBody=Sub(json.dumps({"widgets": layout}))
    )


def _m(namespace: str, metric: str, stat: str = "Sum", **dimensions: str) -> list[Any]:
    """One metric line of a widget: namespace, name, dimension pairs, options."""
    pairs = [part for item in dimensions.items() for part in item]
    return [namespace, metric, *pairs, {"stat": stat}]


def _widget(title: str, metrics: list[list[Any]]) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "metrics": metrics,
            "region": "${AWS::Region}",
            "period": PERIOD,
            "view": "timeSeries",
        },
    }


def _per_source(spec: StackSpec, metric: str, title: str) -> dict[str, Any]:
    """One line per source: the sum of the metric over the source's feeds."""
    lines: list[list[Any]] = []
    sources = sorted({f.source for f in spec.feeds})
    for s_index, source in enumerate(sources):
        ids = []
        for t_index, feed in enumerate(f for f in spec.feeds if f.source == source):
            ident = f"s{s_index}t{t_index}"
            ids.append(ident)
            pairs = [
                p for pair in emf_dimensions(spec, source=source, type=feed.type) for p in pair
            ]
            lines.append(
                [NAMESPACE, metric, *pairs, {"stat": "Sum", "id": ident, "visible": False}]
            )
        expression = "+".join(f"FILL({i},0)" for i in ids)
        lines.append([{"expression": expression, "label": source, "id": f"s{s_index}"}])
    return _widget(title, lines)


def _latency_search(spec: StackSpec, stat: str) -> str:
    """Every endpoint's ApiLatency in this stage, found by SEARCH (endpoints come and go)."""
    keys = ",".join(sorted(["endpoint", "service", "stage"]))
    return (
        f'SEARCH(\'{{{NAMESPACE},{keys}}} MetricName="ApiLatency" '
        f"stage=\"{spec.names.stage}\"', '{stat}', {PERIOD})"
    )
