"""Create or verify, idempotently, the pipeline's AWS resources: bucket, queues, tables.

Every resource is read first and written only where it differs from the desired
state, so a second run changes nothing. ``check_only`` turns every write into a
report, which makes the same code a drift detector.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.config import PipelineConfig, get_config
from pipeline.constants import (
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
from pipeline.errors import PipelineError

Action = Literal["create", "update", "ok"]

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: keep failures as long as possible
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # the SQS default, stated so drift from it is seen
SSE_ALGORITHM = "AES256"
TLS_ONLY_SID = "DenyInsecureTransport"
PAY_PER_REQUEST = "PAY_PER_REQUEST"
# A table whose SSE is switching on is treated as encrypted; writing again would fail.
SSE_ON_STATUSES = frozenset({"ENABLED", "ENABLING", "UPDATING"})
# Table creation takes seconds on AWS; moto answers ACTIVE at the first poll.
TABLE_WAITER_CONFIG = {"Delay": 2, "MaxAttempts": 150}
BUCKET_MISSING_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


@dataclass(frozen=True)
class Change:
    """What provisioning did (or, when checking, would do) to one resource."""

    resource: str
    action: Action
    detail: str


class ProvisionError(PipelineError):
    """A resource differs in a way that cannot be fixed in place."""


@dataclass(frozen=True)
class Setting:
    """One setting of a resource: desired and current value, and how to write the desired one."""

    name: str
    desired: Any
    current: Any
    write: Callable[[], object]


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index, projecting every attribute."""

    name: str
    pk: str
    sk: str

    def shape(self) -> dict[str, Any]:
        """The GSI's key schema and projection, as describe_table reports them."""
        return {"KeySchema": _key_schema(self.pk, self.sk), "Projection": "ALL"}

    def definition(self) -> dict[str, Any]:
        """The GSI in create_table / update_table shape."""
        keys = _key_schema(self.pk, self.sk)
        return {"IndexName": self.name, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}


@dataclass(frozen=True)
class TableSpec:
    """The shape of one DynamoDB table: keys and its global secondary indexes."""

    name: str
    pk: str
    sk: str | None
    indexes: tuple[IndexSpec, ...]

    def key_schema(self) -> list[dict[str, str]]:
        """Table key schema in DynamoDB's wire shape."""
        return _key_schema(self.pk, self.sk)

    def attribute_definitions(self) -> list[dict[str, str]]:
        """String definitions for every key attribute of the table and its indexes."""
        keys = [self.pk, self.sk] + [k for i in self.indexes for k in (i.pk, i.sk)]
        names = dict.fromkeys(n for n in keys if n)
        return [{"AttributeName": n, "AttributeType": "S"} for n in names]


def provision(*, config: PipelineConfig | None = None, check_only: bool = False) -> list[Change]:
    """Create or verify bucket, DLQ, queue and both tables; return one Change per resource."""
    cfg = config or get_config()
    changes = [_provision_bucket(cfg, check_only=check_only)]
    changes += _provision_queues(cfg, check_only=check_only)
    changes += [_provision_table(cfg, s, check_only=check_only) for s in table_specs(cfg)]
    return changes


def has_drift(changes: Iterable[Change]) -> bool:
    """True when any resource was (or would be) created or updated."""
    return any(c.action != "ok" for c in changes)


def table_specs(cfg: PipelineConfig) -> list[TableSpec]:
    """The curated and ledger table shapes under ``cfg``."""
    curated_indexes = (
        IndexSpec(SOURCE_INDEX, SOURCE_INDEX_PK, SOURCE_INDEX_SK),
        IndexSpec(TYPE_INDEX, TYPE_INDEX_PK, TYPE_INDEX_SK),
    )
    runs_index = (IndexSpec(RUNS_INDEX, RUNS_INDEX_PK, RUNS_INDEX_SK),)
    return [
        TableSpec(cfg.curated_table, CURATED_PK, None, curated_indexes),
        TableSpec(cfg.ledger_table, LEDGER_PK, LEDGER_SK, runs_index),
    ]


# --- generic compare-then-write ------------------------------------------------------------


def _reconcile(settings: Iterable[Setting], *, check_only: bool) -> list[str]:
    """Write each setting whose current value differs (unless checking); describe the diffs."""
    diffs = []
    for setting in settings:
        if setting.current == setting.desired:
            continue
        diffs.append(f"{setting.name}: {_show(setting.current)} -> {_show(setting.desired)}")
        if not check_only:
            setting.write()
    return diffs


def _change(resource: str, diffs: list[str], *, check_only: bool) -> Change:
    """Summarise an existing resource's reconciliation as one Change."""
    if not diffs:
        return Change(resource, "ok", "up to date")
    prefix = "drift: " if check_only else "updated: "
    return Change(resource, "update", prefix + "; ".join(diffs))


def _create_missing(
    resource: str, *, kind: str, create: Callable[[], object], check_only: bool
) -> Change:
    """Create a missing resource, or only report it when checking."""
    if check_only:
        return Change(resource, "create", f"{kind} missing; would be created")
    create()
    return Change(resource, "create", f"{kind} created")


def _show(value: Any) -> str:
    """Render a setting value for a one-line report."""
    if value is None:
        return "missing"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _or_none(call: Callable[..., dict[str, Any]], missing: frozenset[str], **kwargs: Any) -> Any:
    """Call an AWS read; None when it fails only because the thing read does not exist."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in missing:
            return None
        raise


def _cannot_fix(message: str) -> None:
    """Writer for differences AWS cannot change in place."""
    raise ProvisionError(message)


# --- S3 raw bucket -------------------------------------------------------------------------


def _provision_bucket(cfg: PipelineConfig, *, check_only: bool) -> Change:
    """Ensure the raw bucket exists, encrypted, versioned, private and TLS-only."""
    s3, bucket = aws.s3(cfg), cfg.raw_bucket
    resource = f"s3:{bucket}"
    if _or_none(s3.head_bucket, BUCKET_MISSING_CODES, Bucket=bucket) is not None:
        diffs = _reconcile(
            _bucket_settings(s3, bucket, require_tls=cfg.s3_require_tls), check_only=check_only
        )
        return _change(resource, diffs, check_only=check_only)
    create = partial(_create_bucket, s3, bucket, cfg.aws_region)
    change = _create_missing(resource, kind="bucket", create=create, check_only=check_only)
    if not check_only:
        _reconcile(_bucket_settings(s3, bucket, require_tls=cfg.s3_require_tls), check_only=False)
    return change


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create the bucket; us-east-1 rejects a LocationConstraint, every other region needs one."""
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def _bucket_settings(s3: Any, bucket: str, *, require_tls: bool) -> list[Setting]:
    """The bucket's security settings with their current values.

    The TLS-only policy is left out when ``require_tls`` is off: an emulator on plain
    HTTP (and moto, which ignores policy conditions) would deny every request.
    """
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}}
    block = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    policy = _bucket_policy(s3, bucket)
    statement = _tls_only_statement(bucket)
    settings = [
        Setting(
            "encryption",
            SSE_ALGORITHM,
            _bucket_sse_algorithm(s3, bucket),
            partial(
                s3.put_bucket_encryption,
                Bucket=bucket,
                ServerSideEncryptionConfiguration={"Rules": [rule]},
            ),
        ),
        Setting(
            "versioning",
            "Enabled",
            s3.get_bucket_versioning(Bucket=bucket).get("Status"),
            partial(
                s3.put_bucket_versioning,
                Bucket=bucket,
                VersioningConfiguration={"Status": "Enabled"},
            ),
        ),
        Setting(
            "public access block",
            block,
            _public_access_block(s3, bucket),
            partial(
                s3.put_public_access_block, Bucket=bucket, PublicAccessBlockConfiguration=block
            ),
        ),
    ]
    if not require_tls:
        return settings
    return [
        *settings,
        Setting(
            f"policy statement {TLS_ONLY_SID}",
            statement,
            _tls_statement_in(policy),
            partial(
                s3.put_bucket_policy,
                Bucket=bucket,
                Policy=json.dumps(_policy_with(policy, statement)),
            ),
        ),
    ]


def _bucket_sse_algorithm(s3: Any, bucket: str) -> str | None:
    """The bucket's default encryption algorithm, or None when it has none."""
    missing = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
    reply = _or_none(s3.get_bucket_encryption, missing, Bucket=bucket)
    rules = reply["ServerSideEncryptionConfiguration"]["Rules"] if reply else []
    defaults = [
        r["ApplyServerSideEncryptionByDefault"]
        for r in rules
        if r.get("ApplyServerSideEncryptionByDefault")
    ]
    return defaults[0]["SSEAlgorithm"] if defaults else None


def _public_access_block(s3: Any, bucket: str) -> dict[str, bool] | None:
    """The bucket's public access block, or None when it has none."""
    missing = frozenset({"NoSuchPublicAccessBlockConfiguration"})
    reply = _or_none(s3.get_public_access_block, missing, Bucket=bucket)
    return reply["PublicAccessBlockConfiguration"] if reply else None


def _bucket_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket policy document, or None when the bucket has none."""
    reply = _or_none(s3.get_bucket_policy, frozenset({"NoSuchBucketPolicy"}), Bucket=bucket)
    return json.loads(reply["Policy"]) if reply else None


def _tls_only_statement(bucket: str) -> dict[str, Any]:
    """Deny every S3 action on the bucket and its objects over plain HTTP."""
    return {
        "Sid": TLS_ONLY_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": sorted([f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A policy's statements as a list (IAM also allows a single object)."""
    statements = (policy or {}).get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _tls_statement_in(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Our TLS-only statement as found in ``policy``, resources sorted for comparison."""
    found = next((s for s in _statements(policy) if s.get("Sid") == TLS_ONLY_SID), None)
    if found and isinstance(found.get("Resource"), list):
        found = {**found, "Resource": sorted(found["Resource"])}
    return found


def _policy_with(policy: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any]:
    """``policy`` with our statement put in place, keeping statements others added."""
    others = [s for s in _statements(policy) if s.get("Sid") != TLS_ONLY_SID]
    return {"Version": "2012-10-17", **(policy or {}), "Statement": [*others, statement]}


# --- SQS queue and dead-letter queue -------------------------------------------------------


def _provision_queues(cfg: PipelineConfig, *, check_only: bool) -> list[Change]:
    """Ensure the DLQ, then the queue that redrives into it."""
    sqs = aws.sqs(cfg)
    dlq_attributes = {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
    }
    dlq = _provision_queue(sqs, cfg.dlq_name, dlq_attributes, check_only=check_only)
    queue_attributes = {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "VisibilityTimeout": str(cfg.visibility_timeout_seconds),
        "RedrivePolicy": json.dumps(
            {
                "deadLetterTargetArn": _dlq_arn(sqs, cfg),
                "maxReceiveCount": cfg.max_receive_count,
            }
        ),
    }
    queue = _provision_queue(sqs, cfg.queue_name, queue_attributes, check_only=check_only)
    return [dlq, queue]


def _provision_queue(
    sqs: Any, name: str, attributes: dict[str, str], *, check_only: bool
) -> Change:
    """Ensure one queue exists with ``attributes``."""
    resource = f"sqs:{name}"
    url = _queue_url(sqs, name)
    if url is None:
        create = partial(sqs.create_queue, QueueName=name, Attributes=attributes)
        return _create_missing(resource, kind="queue", create=create, check_only=check_only)
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    settings = [
        Setting(
            key,
            _normalise_attribute(key, value),
            _normalise_attribute(key, current.get(key)),
            partial(sqs.set_queue_attributes, QueueUrl=url, Attributes={key: value}),
        )
        for key, value in attributes.items()
    ]
    return _change(resource, _reconcile(settings, check_only=check_only), check_only=check_only)


def _queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL, or None when it does not exist."""
    reply = _or_none(sqs.get_queue_url, QUEUE_MISSING_CODES, QueueName=name)
    return reply["QueueUrl"] if reply else None


def _dlq_arn(sqs: Any, cfg: PipelineConfig) -> str:
    """The DLQ's ARN; a stand-in when a check finds it missing (only its name is compared)."""
    url = _queue_url(sqs, cfg.dlq_name)
    if url is None:
        return f"arn:aws:sqs:{cfg.aws_region}:000000000000:{cfg.dlq_name}"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _normalise_attribute(key: str, value: str | None) -> Any:
    """Comparable form of a queue attribute; AWS may answer the redrive count as str or int."""
    if key != "RedrivePolicy" or not value:
        return value
    policy = json.loads(value)
    # A DLQ must be in the queue's own account and region, so its name identifies it.
    return {
        "deadLetterTarget": str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1],
        "maxReceiveCount": int(policy.get("maxReceiveCount", 0)),
    }


# --- DynamoDB tables -----------------------------------------------------------------------


def _provision_table(cfg: PipelineConfig, spec: TableSpec, *, check_only: bool) -> Change:
    """Ensure one on-demand, KMS-encrypted table with its keys and GSI."""
    ddb = aws.dynamodb(cfg)
    resource = f"dynamodb:{spec.name}"
    table = _current_table(ddb, spec.name, check_only=check_only)
    if table is None:
        create = partial(_create_table, ddb, spec)
        return _create_missing(resource, kind="table", create=create, check_only=check_only)
    diffs = _reconcile(_table_settings(ddb, spec, table), check_only=check_only)
    return _change(resource, diffs, check_only=check_only)


def _current_table(ddb: Any, name: str, *, check_only: bool) -> dict[str, Any] | None:
    """describe_table's Table, or None; waits out a running update first unless checking."""
    missing = frozenset({"ResourceNotFoundException"})
    reply = _or_none(ddb.describe_table, missing, TableName=name)
    if reply is None or check_only or reply["Table"]["TableStatus"] == "ACTIVE":
        return reply["Table"] if reply else None
    _wait_active(ddb, name)
    return ddb.describe_table(TableName=name)["Table"]


def _create_table(ddb: Any, spec: TableSpec) -> None:
    """Create the table with every desired setting and wait until it is usable."""
    ddb.create_table(
        TableName=spec.name,
        BillingMode=PAY_PER_REQUEST,
        AttributeDefinitions=spec.attribute_definitions(),
        KeySchema=spec.key_schema(),
        GlobalSecondaryIndexes=[i.definition() for i in spec.indexes],
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )
    _wait_active(ddb, spec.name)


def _update_table(ddb: Any, name: str, **changes: Any) -> None:
    """Apply one update_table change and wait, since AWS allows one update at a time."""
    ddb.update_table(TableName=name, **changes)
    _wait_active(ddb, name)


def _wait_active(ddb: Any, name: str) -> None:
    """Block until the table is ACTIVE."""
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=TABLE_WAITER_CONFIG)


def _table_settings(ddb: Any, spec: TableSpec, table: dict[str, Any]) -> list[Setting]:
    """The table's settings, key schema first so an unfixable table fails before any write."""
    update = partial(_update_table, ddb, spec.name)
    return [
        Setting(
            "key schema",
            spec.key_schema(),
            table.get("KeySchema"),
            partial(_cannot_fix, f"table {spec.name}: key schema differs; recreate the table"),
        ),
        Setting(
            "billing mode",
            PAY_PER_REQUEST,
            table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
            partial(update, BillingMode=PAY_PER_REQUEST),
        ),
        Setting(
            "encryption (KMS)",
            True,
            table.get("SSEDescription", {}).get("Status") in SSE_ON_STATUSES,
            partial(update, SSESpecification={"Enabled": True, "SSEType": "KMS"}),
        ),
        # Last: AWS keeps backfilling a new index after the table turns ACTIVE again.
        *(
            _index_setting(update, spec, index, _index_shape(table, index.name))
            for index in spec.indexes
        ),
    ]


def _index_setting(
    update: Callable[..., None], spec: TableSpec, index: IndexSpec, current: dict[str, Any] | None
) -> Setting:
    return Setting(
        f"index {index.name}",
        index.shape(),
        current,
        _index_writer(update, spec, index, exists=current is not None),
    )


def _index_shape(table: dict[str, Any], index: str) -> dict[str, Any] | None:
    """The named GSI's key schema and projection type, or None when it is absent."""
    found = [i for i in table.get("GlobalSecondaryIndexes", []) if i["IndexName"] == index]
    if not found:
        return None
    return {
        "KeySchema": found[0]["KeySchema"],
        "Projection": found[0]["Projection"]["ProjectionType"],
    }


def _index_writer(
    update: Callable[..., None], spec: TableSpec, index: IndexSpec, *, exists: bool
) -> Callable[[], object]:
    """Add a missing GSI; a differing one cannot be altered in place."""
    if exists:
        message = f"table {spec.name}: index {index.name} differs; delete it and provision again"
        return partial(_cannot_fix, message)
    return partial(
        update,
        AttributeDefinitions=spec.attribute_definitions(),
        GlobalSecondaryIndexUpdates=[{"Create": index.definition()}],
    )


def _key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    """HASH (and RANGE) key elements in DynamoDB's wire shape."""
    keys = [{"AttributeName": pk, "KeyType": "HASH"}]
    return keys + ([{"AttributeName": sk, "KeyType": "RANGE"}] if sk else [])
