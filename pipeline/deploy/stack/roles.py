"""Least privilege per function: what the web and worker functions may call, who assumes them.

The web function faces the internet, so it only reads the pipeline's data: curated and
ledger items, raw objects, queue depths and a peek at the dead letters. It writes the
rate limiter's ``THROTTLE#`` counters, the admin's ``JOB#`` job records and declared
sources' ``SOURCEDEF*`` definitions in the ledger (``dynamodb:LeadingKeys``) and the
admin's own database under ``admin/``
(operators sign in, the admin logs their actions); it hands every job that writes to
the worker (``lambda:InvokeFunction`` on the worker only), which never touches the
admin's database and whose handler (``pipeline.handlers.worker_lambda_handler``) runs
only the worker's own events (its jobs, its schedule, its queue's batches), so the
invoke grants no more than those. The worker ingests, processes, replays and recounts.
Both read declared sources' secrets, and only under the stage's Parameter Store path
(``/twl-pipeline/<stage>/sources/``).
Every resource is a name of the stage; a ``*`` appears only where AWS or the data make
the names (log streams, object keys) and for X-Ray, whose actions take no resource.

The documents are built for one account and region; the template passes the pseudo
parameters ``${AWS::AccountId}`` and ``${AWS::Region}`` and wraps the strings in
``Fn::Sub``, so the same code serves the template, the tests and ``manage.py iam_policy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipeline.core.constants import (
    ADMIN_DB_PREFIX,
    JOB_PK_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    RUNS_INDEX,
    SOURCE_INDEX,
    TYPE_INDEX,
)
from pipeline.core.names import ResourceNames
from pipeline.stores.definitions import SOURCEDEF_PK
from pipeline.stores.throttle import THROTTLE_PK_PREFIX

Function = Literal["web", "worker"]
FUNCTIONS: tuple[Function, ...] = ("web", "worker")
POLICY_VERSION = "2012-10-17"
# Who assumes each role. lambda: the function runs as it. apigateway: Zappa's REST API
# integration calls the web function with the role as its credentials. events: Zappa
# passes the worker's role to PutRule for the schedule.
TRUSTED_SERVICES: dict[Function, tuple[str, ...]] = {
    "web": ("apigateway.amazonaws.com", "lambda.amazonaws.com"),
    "worker": ("events.amazonaws.com", "lambda.amazonaws.com"),
}
ITEM_READS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
# TransactWriteItems has no IAM action of its own: each Put/Update in a transaction is
# authorised as PutItem/UpdateItem on its table.
ITEM_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem")
QUEUE_DEPTH = ("sqs:GetQueueAttributes", "sqs:GetQueueUrl")
# The DLQ page lists dead letters: receive, then release them at once (visibility 0).
DLQ_PEEK = ("sqs:ChangeMessageVisibility", "sqs:ReceiveMessage")
QUEUE_WORK = ("sqs:DeleteMessage", "sqs:SendMessage")
SSM_READ = ("ssm:GetParameter",)
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# X-Ray's actions support no resource-level permission: "*" is the only resource.
TRACE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


@dataclass(frozen=True)
class StageTarget:
    """A stage's names in one account and region, and the ARNs made from them."""

    names: ResourceNames
    region: str
    account_id: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def bucket(self, suffix: str = "") -> str:
        return f"arn:aws:s3:::{self.names.raw_bucket}{suffix}"

    def table(self, which: Literal["curated", "ledger"]) -> str:
        name = self.names.curated_table if which == "curated" else self.names.ledger_table
        return self.arn("dynamodb", f"table/{name}")

    def queue(self, name: str) -> str:
        return self.arn("sqs", name)

    def function(self, name: str) -> str:
        return self.arn("lambda", f"function:{name}")

    def function_name(self, function: Function) -> str:
        names = self.names
        return names.web_function if function == "web" else names.worker_function


def trust_policy(function: Function, account_id: str) -> dict[str, Any]:
    """Only this account's Lambda (and API Gateway or EventBridge) may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": list(TRUSTED_SERVICES[function])},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def function_policy(function: Function, target: StageTarget) -> dict[str, Any]:
    """The inline policy of one function's role."""
    shared = [_logs(target, function), _remote_env(target), _source_secrets(target), _traces()]
    if function == "web":
        statements = [
            _statement("RawRead", ("s3:GetObject",), [target.bucket(f"/{RAW_PREFIX}/*")]),
            # The admin's replay dry run lists the raw keys a replay would send.
            _raw_listing(target),
            _statement("TableRead", ITEM_READS, _table_resources(target)),
            _throttle_counters(target),
            _job_records(target),
            _source_definitions(target),
            _statement("QueueDepth", QUEUE_DEPTH, _queues(target)),
            _statement("DeadLetterPeek", DLQ_PEEK, [target.queue(target.names.dlq)]),
            _statement("InvokeWorker", ("lambda:InvokeFunction",), [_worker(target)]),
            _admin_database(target),
            # API Gateway calls the web function with this role (Zappa's integration).
            _statement(
                "ApiGatewayInvoke",
                ("lambda:InvokeFunction",),
                [target.function(target.names.web_function)],
            ),
        ]
    else:
        statements = [
            _raw_objects(target),
            _raw_listing(target),
            _statement("Queues", QUEUE_DEPTH + DLQ_PEEK + QUEUE_WORK, _queues(target)),
            _statement("TableItems", ITEM_READS + ITEM_WRITES, _table_resources(target)),
            # Only `manage.py recount` scans, and only the curated table.
            _statement("CuratedRecount", ("dynamodb:Scan",), [target.table("curated")]),
            # Only `manage.py recount --reset` deletes items: the ledger's counters.
            _statement("CounterReset", ("dynamodb:DeleteItem",), [target.table("ledger")]),
        ]
    return {"Version": POLICY_VERSION, "Statement": statements + shared}


def _statement(sid: str, actions: tuple[str, ...], resources: list[str], **extra: Any) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
        **extra,
    }


def _table_resources(target: StageTarget) -> list[str]:
    """Both tables and their named indexes (Query on an index names the index)."""
    curated, ledger = target.table("curated"), target.table("ledger")
    indexes = [f"{curated}/index/{SOURCE_INDEX}", f"{curated}/index/{TYPE_INDEX}"]
    return [curated, ledger, *indexes, f"{ledger}/index/{RUNS_INDEX}"]


def _queues(target: StageTarget) -> list[str]:
    return [target.queue(target.names.queue), target.queue(target.names.dlq)]


def _worker(target: StageTarget) -> str:
    return target.function(target.names.worker_function)


def _throttle_counters(target: StageTarget) -> dict[str, Any]:
    """The rate limiter's counters: UpdateItem on the ledger, ``THROTTLE#`` keys only."""
    condition = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{THROTTLE_PK_PREFIX}*"]}}
    return _statement(
        "ThrottleCounters", ("dynamodb:UpdateItem",), [target.table("ledger")], Condition=condition
    )


def _job_records(target: StageTarget) -> dict[str, Any]:
    """The admin's job records: the web writes a job queued, or rejected when the invoke fails.

    ``JOB#`` keys only, so the web role still writes no run, feed state or failure reason.
    """
    condition = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{JOB_PK_PREFIX}*"]}}
    return _statement(
        "JobRecords",
        ("dynamodb:PutItem", "dynamodb:UpdateItem"),
        [target.table("ledger")],
        Condition=condition,
    )


def _source_definitions(target: StageTarget) -> dict[str, Any]:
    """Declared sources' definitions, edited in the admin: ``SOURCEDEF*`` keys only.

    A change is one TransactWriteItems (its Puts and Delete authorised item by item): a
    new version item (``SOURCEDEF#<name>``) and the pointer (``SOURCEDEF``) put or deleted.
    """
    condition = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{SOURCEDEF_PK}*"]}}
    return _statement(
        "SourceDefinitions",
        ("dynamodb:DeleteItem", "dynamodb:PutItem"),
        [target.table("ledger")],
        Condition=condition,
    )


def _raw_objects(target: StageTarget) -> dict[str, Any]:
    """Ingest writes raw and quarantined bodies; processing reads them."""
    resources = [target.bucket(f"/{RAW_PREFIX}/*"), target.bucket(f"/{QUARANTINE_PREFIX}/*")]
    return _statement("RawObjects", ("s3:GetObject", "s3:PutObject"), resources)


def _admin_database(target: StageTarget) -> dict[str, Any]:
    """The admin's SQLite file (pipeline/stores/s3sqlite): read on connect, written on change.

    No listing: a missing key then reads as AccessDenied, so the web function can never
    take "no database" for "an empty one"; ``make migrate`` creates it.
    """
    resources = [target.bucket(f"/{ADMIN_DB_PREFIX}/*")]
    return _statement("AdminDatabase", ("s3:GetObject", "s3:PutObject"), resources)


def _raw_listing(target: StageTarget) -> dict[str, Any]:
    """Replay lists raw keys; the condition keeps listing inside ``raw/``."""
    condition = {"StringLike": {"s3:prefix": [f"{RAW_PREFIX}/*"]}}
    return _statement("RawListing", ("s3:ListBucket",), [target.bucket()], Condition=condition)


def _logs(target: StageTarget, function: Function) -> dict[str, Any]:
    """The function's own log group; ``:*`` covers the streams Lambda names itself."""
    group = target.arn("logs", f"log-group:/aws/lambda/{target.function_name(function)}")
    return _statement("FunctionLogs", LOG_ACTIONS, [group, f"{group}:*"])


def _remote_env(target: StageTarget) -> dict[str, Any]:
    """Zappa's handler reads the stage's secrets file (``remote_env``) at every cold start."""
    names = target.names
    key = f"arn:aws:s3:::{names.deployment_bucket}/{names.remote_env_key}"
    return _statement("ZappaRemoteEnv", ("s3:GetObject",), [key])


def _source_secrets(target: StageTarget) -> dict[str, Any]:
    """Declared sources' secrets (``ssm:`` references): the stage's sources path only.

    Both functions fetch declared sources (the worker's runs, the admin's Test on the web).
    The default ``aws/ssm`` key decrypts SecureStrings without a KMS grant.
    """
    path = target.names.source_secrets_path
    return _statement("SourceSecrets", SSM_READ, [target.arn("ssm", f"parameter{path}*")])


def _traces() -> dict[str, Any]:
    return _statement("Traces", TRACE_ACTIONS, ["*"])
