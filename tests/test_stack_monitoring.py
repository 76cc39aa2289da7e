"""Every metric the stack's alarms and dashboard name is one the code really emits.

CloudWatch keys a metric by namespace, name and the exact set of its dimension names:
an alarm naming {service, source, stage, type} watches nothing if the code emits
{service, source, type}. So the pipeline's own metrics are captured from a real run
(EMF lines on stdout: ingest, a failing source, the worker, a bad message, API calls)
and compared with every reference the template makes. AWS's own metrics are checked
against their documented spelling and this stage's real resource names.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.metrics import NAMESPACE, SERVICE
from pipeline.core.names import ResourceNames, resource_names
from pipeline.deploy.stack import monitoring
from pipeline.deploy.stack.spec import spec_from_config
from pipeline.deploy.stack.template import build_template
from pipeline.handlers import process_sqs_event, run_job, scheduled_ingest
from pipeline.local.poller import LocalContext, drain
from pipeline.services.jobs import JOB_DLQ_REDRIVE, job_event
from pipeline.sources import Feed, all_feeds
from pipeline.stores import aws
from pipeline.stores.messages import queue_url

ALARM = "AWS::CloudWatch::Alarm"
DASHBOARD = "AWS::CloudWatch::Dashboard"
TOPIC = "AWS::SNS::Topic"
FAILING_SOURCE = "randomuser"
OTHER_STAGE = resource_names("prod")
API_PATHS = ("/api/records", "/api/analytics", "/api/health", "/api/runs", "/api/nope")

# AWS's own metrics the stack may name, spelled as AWS documents them, and the one
# dimension that names this stage's resource.
AWS_METRICS: dict[str, tuple[frozenset[str], str]] = {
    "AWS/Lambda": (frozenset({"Invocations", "Errors", "Duration", "Throttles"}), "FunctionName"),
    "AWS/SQS": (
        frozenset(
            {
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
                "ApproximateNumberOfMessagesVisible",
                "ApproximateAgeOfOldestMessage",
            }
        ),
        "QueueName",
    ),
    "AWS/DynamoDB": (
        frozenset(
            {
                "ConsumedReadCapacityUnits",
                "ConsumedWriteCapacityUnits",
                "ReadThrottleEvents",
                "WriteThrottleEvents",
            }
        ),
        "TableName",
    ),
    "AWS/ApiGateway": (frozenset({"Count", "4XXError", "5XXError", "Latency"}), "ApiName"),
}

# Kinds of reference the extractor reads (each must be seen in the real template).
KIND_ALARM = "alarm"
KIND_QUERY = "alarm query"
KIND_LINE = "dashboard line"
KIND_SEARCH = "search"

SEARCH = re.compile(r"SEARCH\(\s*'(?P<query>[^']*)'")
SCHEMA = re.compile(r"\{(?P<schema>[^}]*)\}")
TERM = re.compile(r'(?P<key>[\w.:/-]+)\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"()]+))')


@dataclass(frozen=True)
class Metric:
    """One metric as CloudWatch keys it, with the dimension values known for it.

    A SEARCH names no values but its filters, and may name no metric (``name`` None).
    """

    namespace: str
    name: str | None
    dimensions: frozenset[str]
    values: frozenset[tuple[str, str]]
    where: str = field(default="", compare=False)
    kind: str = field(default="", compare=False)


def stage_resources(names: ResourceNames) -> dict[str, set[str]]:
    """What each AWS dimension may name in this stage.

    Zappa names the REST API after the web function (``create_api_gateway_routes``).
    """
    return {
        "FunctionName": {names.web_function, names.worker_function},
        "QueueName": {names.queue, names.dlq},
        "TableName": {names.curated_table, names.ledger_table},
        "ApiName": {names.web_function},
    }


# --- what the code emits ------------------------------------------------------------------


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents among captured stdout lines (log lines and others are skipped)."""
    documents = []
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "CloudWatchMetrics" in document.get("_aws", {}):
            documents.append(document)
    return documents


def emitted_metrics(documents: list[dict[str, Any]]) -> set[Metric]:
    """Each (namespace, name, dimension set, values) the documents publish."""
    return {
        Metric(
            namespace=directive["Namespace"],
            name=metric["Name"],
            dimensions=frozenset(dimensions),
            values=frozenset((d, str(document[d])) for d in dimensions),
        )
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]
        for metric in directive["Metrics"]
    }


# --- what the template names --------------------------------------------------------------


def stage_template(config: PipelineConfig) -> dict[str, Any]:
    return build_template(spec_from_config(config)).to_dict()


def references(template: dict[str, Any]) -> list[Metric]:
    """Every metric the template's alarms and dashboards name."""
    found: list[Metric] = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == ALARM:
            found += alarm_references(f"alarm {logical_id}", properties)
        elif resource["Type"] == DASHBOARD:
            found += dashboard_references(f"dashboard {logical_id}", properties["DashboardBody"])
    return found


def alarm_references(where: str, properties: dict[str, Any]) -> list[Metric]:
    """One metric, or each query's metric (and SEARCH) of a metric-math alarm."""
    if "MetricName" in properties:
        return [named_metric(where, KIND_ALARM, properties)]
    found: list[Metric] = []
    for query in properties.get("Metrics", []):
        label = f"{where} query {query['Id']}"
        if "MetricStat" in query:
            found.append(named_metric(label, KIND_QUERY, query["MetricStat"]["Metric"]))
        found += search_references(label, query.get("Expression", ""))
    return found


def named_metric(where: str, kind: str, metric: dict[str, Any]) -> Metric:
    pairs = [(d["Name"], str(d["Value"])) for d in metric.get("Dimensions", [])]
    return Metric(
        namespace=metric["Namespace"],
        name=metric["MetricName"],
        dimensions=frozenset(name for name, _ in pairs),
        values=frozenset(pairs),
        where=where,
        kind=kind,
    )


def dashboard_json(body: Any) -> dict[str, Any]:
    """The dashboard's JSON, with Fn::Sub's own variables filled in (``${AWS::*}`` stay)."""
    if isinstance(body, dict):
        substituted = body["Fn::Sub"]
        text, variables = (substituted, {}) if isinstance(substituted, str) else substituted
        for name, value in variables.items():
            text = text.replace("${" + name + "}", str(value))
        body = text
    document: dict[str, Any] = json.loads(body)
    return document


def dashboard_references(where: str, body: Any) -> list[Metric]:
    """Every metric line and SEARCH expression of every widget."""
    found: list[Metric] = []
    for number, widget in enumerate(dashboard_json(body)["widgets"]):
        properties = widget.get("properties", {})
        label = f"{where} widget {properties.get('title', number)!r}"
        for line in properties.get("metrics", []):
            if isinstance(line[0], dict):
                found += search_references(label, line[0].get("expression", ""))
            else:
                found.append(line_metric(label, line))
    return found


def line_metric(where: str, line: list[Any]) -> Metric:
    """A line's namespace, name and dimension pairs (its options dict last)."""
    tokens = [token for token in line if not isinstance(token, dict)]
    if {".", "..."} & set(tokens):
        raise ValueError(f"{where}: the '.'/'...' shorthand is not read here; spell it out")
    namespace, name, *flat = tokens
    if len(flat) % 2:
        raise ValueError(f"{where}: {name} has a dimension name without a value")
    pairs = list(zip(flat[::2], flat[1::2], strict=True))
    return Metric(
        namespace=namespace,
        name=name,
        dimensions=frozenset(n for n, _ in pairs),
        values=frozenset(pairs),
        where=where,
        kind=KIND_LINE,
    )


def search_references(where: str, expression: str) -> list[Metric]:
    """The metrics a SEARCH('{Namespace,dim,...} MetricName="X" dim="v"', ...) finds."""
    if "SELECT" in expression.upper():
        raise ValueError(f"{where}: Metrics Insights queries are not read here: {expression}")
    queries = SEARCH.findall(expression)
    if "SEARCH" in expression and not queries:
        raise ValueError(f"{where}: cannot read the SEARCH in {expression}")
    return [search_metric(where, query) for query in queries]


def search_metric(where: str, query: str) -> Metric:
    schema = SCHEMA.search(query)
    if schema is None:
        raise ValueError(f"{where}: SEARCH without a {{namespace,dimensions}} schema: {query}")
    namespace, *dimensions = [part.strip().strip('"') for part in schema["schema"].split(",")]
    rest = query[schema.end() :]
    if TERM.sub("", rest).strip():
        raise ValueError(f'{where}: only key="value" terms are read here: {query}')
    terms = {
        m["key"]: m["quoted"] if m["quoted"] is not None else m["bare"] for m in TERM.finditer(rest)
    }
    name = terms.pop("MetricName", None)
    return Metric(
        namespace=namespace,
        name=name,
        dimensions=frozenset(dimensions),
        values=frozenset(terms.items()),
        where=where,
        kind=KIND_SEARCH,
    )


# --- the comparisons ----------------------------------------------------------------------


def pipeline_problems(named: list[Metric], emitted: set[Metric]) -> list[str]:
    """Each reference to the pipeline's namespace that matches no emitted metric, and why."""
    problems = []
    for ref in (r for r in named if r.namespace == NAMESPACE):
        same_name = [
            e for e in emitted if e.namespace == ref.namespace and ref.name in (None, e.name)
        ]
        same_dimensions = [e for e in same_name if e.dimensions == ref.dimensions]
        if not same_name:
            problems.append(f"{ref.where}: {ref.name} is never emitted at all")
        elif not same_dimensions:
            sets = sorted({tuple(sorted(e.dimensions)) for e in same_name})
            problems.append(
                f"{ref.where}: {ref.name} named with dimensions {sorted(ref.dimensions)}, "
                f"emitted with {sets}"
            )
        elif not any(ref.values <= e.values for e in same_dimensions):
            seen = sorted({tuple(sorted(e.values)) for e in same_dimensions})
            problems.append(
                f"{ref.where}: {ref.name} never emitted with {dict(sorted(ref.values))}; "
                f"emitted with {seen}"
            )
    return problems


def aws_problems(named: list[Metric], names: ResourceNames) -> list[str]:
    """Each AWS metric misspelt, named by another dimension, or naming another resource."""
    real = stage_resources(names)
    problems = []
    for ref in (r for r in named if r.namespace != NAMESPACE):
        known, dimension = AWS_METRICS.get(ref.namespace, (frozenset(), ""))
        value = dict(ref.values).get(dimension)
        if ref.name not in known:
            problems.append(f"{ref.where}: {ref.namespace} {ref.name} is not an allowed AWS metric")
        elif ref.dimensions != {dimension}:
            problems.append(
                f"{ref.where}: {ref.namespace} {ref.name} named by {sorted(ref.dimensions)}, "
                f"not [{dimension!r}]"
            )
        elif value not in real[dimension]:
            problems.append(
                f"{ref.where}: {ref.name} {dimension}={value!r} is not one of this stage's "
                f"{sorted(real[dimension])}"
            )
    return problems


def fires_at(properties: dict[str, Any], value: float) -> bool:
    """Whether one datapoint of ``value`` breaches the alarm's threshold."""
    threshold = properties["Threshold"]
    compare: dict[str, Callable[[float, float], bool]] = {
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "GreaterThanThreshold": lambda v, t: v > t,
        "LessThanThreshold": lambda v, t: v < t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    }
    return compare[properties["ComparisonOperator"]](value, threshold)


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == ALARM
    }


def alarms_watching(
    template: dict[str, Any], namespace: str, metric: str, values: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The alarms one of whose metrics is ``metric`` with (at least) these dimension values."""
    wanted = frozenset(values.items())
    return {
        logical_id: properties
        for logical_id, properties in alarms(template).items()
        if any(
            ref.namespace == namespace and ref.name == metric and wanted <= ref.values
            for ref in alarm_references(logical_id, properties)
        )
    }


def feed_stale_alarm(template: dict[str, Any], feed: Feed) -> tuple[str, dict[str, Any]]:
    """The one alarm on a feed's own pipeline metric (its feed-stale alarm)."""
    wanted = frozenset({("source", feed.source), ("type", feed.type)})
    found = {
        logical_id: properties
        for logical_id, properties in alarms(template).items()
        if any(
            ref.namespace == NAMESPACE and wanted <= ref.values
            for ref in alarm_references(logical_id, properties)
        )
    }
    assert len(found) == 1, f"{feed}: one feed-stale alarm expected, found {sorted(found)}"
    [(logical_id, alarm)] = found.items()
    return logical_id, alarm


# --- the run whose metrics are captured ---------------------------------------------------


@pytest.fixture
def captured(stack, sources, settings, capsys) -> list[dict[str, Any]]:
    """The EMF documents of two scheduled runs (the second with a source failing), the
    worker draining the queue (with one bad message on it), a few API requests, and an
    admin job rejected and one failing on the worker."""
    settings.TWL_METRICS_ENABLED = True
    # The failing source's 500 is not retried: backoff would sleep for seconds.
    settings.TWL_HTTP_RETRIES = 0
    config = get_config()
    assert scheduled_ingest({}, None)["status"] == "succeeded"
    aws.sqs(config).send_message(QueueUrl=queue_url(config), MessageBody="{not a message")
    worked = drain(process_sqs_event, config=config)
    assert (worked.succeeded, worked.failed) == (len(all_feeds()), 1)
    sources.replace(
        "GET", f"{config.base_url(FAILING_SOURCE)}/api/", status=HTTPStatus.INTERNAL_SERVER_ERROR
    )
    assert scheduled_ingest({}, None)["status"] == "partial"
    client = Client()
    for path in API_PATHS:
        client.get(path)
    assert run_job({"job": "no-such-job"}, LocalContext())["status"] == "rejected"
    # The DLQ gone under the worker: the admin's redrive job fails (and is counted).
    settings.TWL_DLQ_NAME = f"{config.dlq_name}-gone"
    redrive = job_event(JOB_DLQ_REDRIVE, {"message_ids": None})
    assert run_job(redrive, LocalContext())["status"] == "failed"
    return emf_documents(capsys.readouterr().out)


@pytest.mark.django_db
def test_every_pipeline_metric_the_stack_names_is_emitted_with_the_same_dimensions_and_values(
    captured, config
):
    named = references(stage_template(config))
    assert {r.kind for r in named if r.namespace == NAMESPACE} >= {KIND_ALARM, KIND_SEARCH}
    assert pipeline_problems(named, emitted_metrics(captured)) == []


@pytest.mark.django_db
def test_feed_stale_alarms_fire_on_the_value_a_failing_feed_emits_and_not_on_a_healthy_one(
    captured, config
):
    template = stage_template(config)
    for feed in all_feeds():
        logical_id, alarm = feed_stale_alarm(template, feed)
        values = [
            value
            for document in captured
            if (document.get("source"), document.get("type")) == (feed.source, feed.type)
            for value in document.get(alarm["MetricName"], [])
        ]
        # The first run stored every feed; the second failed FAILING_SOURCE's.
        assert len(values) == 2, f"{feed}: {alarm['MetricName']} emitted {values}"
        healthy, last = values
        assert not fires_at(alarm, healthy), logical_id
        assert fires_at(alarm, last) == (feed.source == FAILING_SOURCE), logical_id


def test_aws_metrics_the_stack_names_are_spelled_as_aws_documents_them_for_this_stage(config):
    named = references(stage_template(config))
    assert {r.namespace for r in named if r.namespace != NAMESPACE} == set(AWS_METRICS)
    assert aws_problems(named, config.names) == []


def test_the_extractor_reads_alarms_metric_math_dashboard_lines_and_searches(config):
    named = references(stage_template(config))
    assert {r.kind for r in named} == {KIND_ALARM, KIND_QUERY, KIND_LINE, KIND_SEARCH}
    search = next(r for r in named if r.kind == KIND_SEARCH)
    assert (search.namespace, search.name) == (NAMESPACE, "ApiLatency")
    assert search.dimensions == {"endpoint", "service", "stage"}
    assert search.values == {("stage", config.stage)}


# --- a tampered template is caught ----------------------------------------------------------


def first_pipeline_alarm(template: dict[str, Any]) -> dict[str, Any]:
    """The first alarm on a per-feed pipeline metric (it has every dimension to tamper)."""
    return feed_stale_alarm(template, all_feeds()[0])[1]


def edit_dashboard(template: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    [resource] = [r for r in template["Resources"].values() if r["Type"] == DASHBOARD]
    body = dashboard_json(resource["Properties"]["DashboardBody"])
    edit(body)
    resource["Properties"]["DashboardBody"] = {"Fn::Sub": json.dumps(body)}


def dashboard_lines(body: dict[str, Any]) -> list[list[Any]]:
    return [line for w in body["widgets"] for line in w["properties"].get("metrics", [])]


def _drop_dimension(name: str) -> Callable[[dict[str, Any]], None]:
    def tamper(template: dict[str, Any]) -> None:
        alarm = first_pipeline_alarm(template)
        alarm["Dimensions"] = [d for d in alarm["Dimensions"] if d["Name"] != name]

    return tamper


def _alarm_value(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def tamper(template: dict[str, Any]) -> None:
        for dimension in first_pipeline_alarm(template)["Dimensions"]:
            if dimension["Name"] == name:
                dimension["Value"] = value

    return tamper


def _alarm_metric(template: dict[str, Any]) -> None:
    first_pipeline_alarm(template)["MetricName"] = "FeedIngest"


def _line(edit: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], None]:
    """Edit the dashboard's first metric line in the pipeline's namespace."""

    def tamper(template: dict[str, Any]) -> None:
        def first(body: dict[str, Any]) -> None:
            edit(next(line for line in dashboard_lines(body) if line[0] == NAMESPACE))

        edit_dashboard(template, first)

    return tamper


def _line_metric(line: list[Any]) -> None:
    line[1] = "RecordInserted"


def _line_without_service(line: list[Any]) -> None:
    at = line.index("service")
    del line[at : at + 2]


def _search(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def tamper(template: dict[str, Any]) -> None:
        def replace(body: dict[str, Any]) -> None:
            for line in dashboard_lines(body):
                if isinstance(line[0], dict) and "SEARCH" in line[0]["expression"]:
                    line[0]["expression"] = line[0]["expression"].replace(old, new)
                    return

        edit_dashboard(template, replace)

    return tamper


PIPELINE_TAMPERS = {
    "alarm-without-stage": (_drop_dimension("stage"), "named with dimensions"),
    "alarm-without-service": (_drop_dimension("service"), "named with dimensions"),
    "alarm-on-another-stage": (_alarm_value("stage", "prod"), "never emitted with"),
    "alarm-on-another-type": (_alarm_value("type", "photo"), "never emitted with"),
    "alarm-misspelt": (_alarm_metric, "never emitted at all"),
    "line-misspelt": (_line(_line_metric), "never emitted at all"),
    "line-without-service": (_line(_line_without_service), "named with dimensions"),
    "search-without-service": (_search(",service,", ","), "named with dimensions"),
    "search-on-another-stage": (_search('stage="test"', 'stage="prod"'), "never emitted with"),
    "search-misspelt": (_search('"ApiLatency"', '"APILatency"'), "never emitted at all"),
}


@pytest.mark.parametrize(
    ("tamper", "problem"), PIPELINE_TAMPERS.values(), ids=list(PIPELINE_TAMPERS)
)
def test_a_pipeline_metric_reference_the_code_does_not_emit_is_reported(config, tamper, problem):
    original = stage_template(config)
    # What the untampered template names stands for what the code emits.
    emitted = {
        Metric(r.namespace, r.name, r.dimensions, r.values)
        for r in references(original)
        if r.name is not None
    }
    assert pipeline_problems(references(original), emitted) == []
    tampered = copy.deepcopy(original)
    tamper(tampered)
    [reported] = pipeline_problems(references(tampered), emitted)
    assert problem in reported


def _aws_alarm(metric: str, edit: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
    def tamper(template: dict[str, Any]) -> None:
        edit(next(a for a in alarms(template).values() if a.get("MetricName") == metric))

    return tamper


def _rename(metric: str, new: str) -> Callable[[dict[str, Any]], None]:
    return _aws_alarm(metric, lambda alarm: alarm.update(MetricName=new))


def _dimension(metric: str, **changes: str) -> Callable[[dict[str, Any]], None]:
    def edit(alarm: dict[str, Any]) -> None:
        alarm["Dimensions"][0].update(changes)

    return _aws_alarm(metric, edit)


def _query_metric(template: dict[str, Any]) -> None:
    """Misspell one metric of the DynamoDB throttles' metric math."""
    for alarm in alarms(template).values():
        for query in alarm.get("Metrics", []):
            if "MetricStat" in query:
                query["MetricStat"]["Metric"]["MetricName"] = "ReadThrottles"
                return


def _aws_line(template: dict[str, Any]) -> None:
    def edit(body: dict[str, Any]) -> None:
        line = next(x for x in dashboard_lines(body) if x[0] == "AWS/ApiGateway")
        line[3] = OTHER_STAGE.web_function

    edit_dashboard(template, edit)


AWS_TAMPERS = {
    "lambda-metric-misspelt": (_rename("Errors", "Error"), "not an allowed AWS metric"),
    "sqs-metric-misspelt": (
        _rename("ApproximateAgeOfOldestMessage", "ApproximateAgeOfOldestMessages"),
        "not an allowed AWS metric",
    ),
    "wrong-dimension-name": (_dimension("Errors", Name="Function"), "named by ['Function']"),
    "another-stages-queue": (
        _dimension("ApproximateAgeOfOldestMessage", Value=OTHER_STAGE.queue),
        "is not one of this stage's",
    ),
    "metric-math-misspelt": (_query_metric, "not an allowed AWS metric"),
    "dashboard-another-stages-api": (_aws_line, "is not one of this stage's"),
}


@pytest.mark.parametrize(("tamper", "problem"), AWS_TAMPERS.values(), ids=list(AWS_TAMPERS))
def test_a_misspelt_aws_metric_or_another_stages_resource_is_reported(config, tamper, problem):
    tampered = stage_template(config)
    tamper(tampered)
    [reported] = aws_problems(references(tampered), config.names)
    assert problem in reported


@pytest.mark.parametrize(
    ("read", "problem"),
    [
        (
            lambda: search_references("w", "SEARCH('{TWLPipeline,stage} A OR B', 'Sum', 300)"),
            "only key",
        ),
        (lambda: search_references("w", "SEARCH(MetricName, 'Sum')"), "cannot read"),
        (lambda: search_references("w", "SELECT AVG(ApiLatency) FROM TWLPipeline"), "Insights"),
        (lambda: line_metric("w", ["AWS/Lambda", "Errors", "FunctionName"]), "without a value"),
        (lambda: line_metric("w", [".", ".", "FunctionName", "f"]), "shorthand"),
    ],
    ids=["search-or", "search-unquoted", "metrics-insights", "odd-dimensions", "shorthand"],
)
def test_a_reference_the_extractor_cannot_read_fails_loudly(read, problem):
    with pytest.raises(ValueError, match=problem):
        read()


# --- the alarms the issue asks for ----------------------------------------------------------


def _function(role: str) -> Callable[[ResourceNames], dict[str, str]]:
    return lambda names: {"FunctionName": getattr(names, f"{role}_function")}


REQUIRED_ALARMS: dict[str, tuple[str, str, Callable[[ResourceNames], dict[str, str]]]] = {
    "worker-errors": ("AWS/Lambda", "Errors", _function("worker")),
    "web-5xx": ("AWS/ApiGateway", "5XXError", lambda n: {"ApiName": n.web_function}),
    "dead-letters-present": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        lambda n: {"QueueName": n.dlq},
    ),
    "age-of-oldest-message": (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        lambda n: {"QueueName": n.queue},
    ),
    "web-throttled": ("AWS/Lambda", "Throttles", _function("web")),
    "worker-throttled": ("AWS/Lambda", "Throttles", _function("worker")),
    **{
        f"dynamodb-{table}-{metric}": (
            "AWS/DynamoDB",
            metric,
            lambda n, t=table: {"TableName": getattr(n, f"{t}_table")},
        )
        for table in ("curated", "ledger")
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
    },
}


@pytest.mark.parametrize(
    ("namespace", "metric", "values"), REQUIRED_ALARMS.values(), ids=list(REQUIRED_ALARMS)
)
def test_each_alarm_the_issue_names_watches_this_stages_resource(config, namespace, metric, values):
    assert alarms_watching(stage_template(config), namespace, metric, values(config.names))


def test_the_dead_letters_alarm_fires_on_the_first_dead_letter(config):
    [alarm] = alarms_watching(
        stage_template(config),
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": config.names.dlq},
    ).values()
    assert fires_at(alarm, 1) and not fires_at(alarm, 0)


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(config):
    template = stage_template(config)
    assert template["Resources"][monitoring.ALARM_TOPIC]["Type"] == TOPIC
    topic = {"Ref": monitoring.ALARM_TOPIC}
    silent = [
        logical_id
        for logical_id, alarm in alarms(template).items()
        if topic not in alarm.get("AlarmActions", []) or topic not in alarm.get("OKActions", [])
    ]
    assert alarms(template) and silent == []


@pytest.mark.parametrize("stale_after", [900, 1000, 3600])
def test_each_feed_has_a_stale_alarm_spanning_stale_after_that_treats_no_data_as_stale(
    settings, config, stale_after
):
    settings.TWL_STALE_AFTER_SECONDS = stale_after
    template = stage_template(get_config())
    for feed in all_feeds():
        _, alarm = feed_stale_alarm(template, feed)
        window = alarm["EvaluationPeriods"] * alarm["Period"]
        assert stale_after <= window < stale_after + alarm["Period"]
        # Every period of the window must be stale, not just one.
        assert (
            alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])
            == (alarm["EvaluationPeriods"])
        )
        assert alarm["TreatMissingData"] == "breaching"
        assert {("stage", config.stage), ("service", SERVICE)} <= {
            (d["Name"], d["Value"]) for d in alarm["Dimensions"]
        }
