"""The stack's data resources: the raw bucket and its policy, the queue and DLQ, both tables.

Each function returns troposphere resources with the logical ids the rest of the
template (roles, alarms, outputs) refers to. Data is retained when the stack or a
resource is deleted or replaced: the raw bucket is the system of record, the tables
hold what reprocessing would take hours to rebuild, and the queues hold messages
not yet processed or dead-lettered with their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Ref, Sub, s3, sqs
from troposphere import dynamodb as ddb

from pipeline.core.constants import (
    ADMIN_DB_PREFIX,
    CURATED_PK,
    LEDGER_PK,
    LEDGER_SK,
    RAW_PREFIX,
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
from pipeline.deploy.stack.spec import StackSpec
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE

RAW_BUCKET = "RawBucket"
RAW_BUCKET_POLICY = "RawBucketPolicy"
QUEUE = "IngestionQueue"
DLQ = "DeadLetterQueue"
CURATED_TABLE = "CuratedTable"
LEDGER_TABLE = "LedgerTable"
RETAIN = "Retain"
# Raw objects are read again only by replays: Glacier Instant Retrieval keeps them a
# millisecond away at about a sixth of S3 Standard's storage price.
ARCHIVE_STORAGE_CLASS = "GLACIER_IR"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: keep failures as long as possible
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # the SQS default, stated so drift from it is seen
# Every save of the admin's database is a new version of one object: old versions are
# kept this long for restores (docs/DEPLOY.md, "The admin's own data"), then expire.
ADMIN_DB_HISTORY_DAYS = 90


def _skip(*checks: tuple[str, str]) -> dict[str, Any]:
    """checkov skips, each written next to its reason (``Metadata.checkov.skip``)."""
    return {"checkov": {"skip": [{"id": check, "comment": why} for check, why in checks]}}


def raw_bucket(spec: StackSpec) -> list[Any]:
    """Encrypted, versioned, private, TLS-only; raw objects archived after N days, never deleted.

    The admin's database (``admin/``) keeps its replaced versions for
    ``ADMIN_DB_HISTORY_DAYS``; the current version never expires.
    """
    after = spec.options.archive_after_days
    archive = s3.LifecycleRule(
        Id="ArchiveRawObjects",
        Status="Enabled",
        Prefix=f"{RAW_PREFIX}/",
        Transitions=[
            s3.LifecycleRuleTransition(StorageClass=ARCHIVE_STORAGE_CLASS, TransitionInDays=after)
        ],
        NoncurrentVersionTransitions=[
            s3.NoncurrentVersionTransition(
                StorageClass=ARCHIVE_STORAGE_CLASS, TransitionInDays=after
            )
        ],
        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
    )
    admin_history = s3.LifecycleRule(
        Id="ExpireOldAdminDatabaseVersions",
        Status="Enabled",
        Prefix=f"{ADMIN_DB_PREFIX}/",
        NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
            NoncurrentDays=ADMIN_DB_HISTORY_DAYS
        ),
    )
    bucket = s3.Bucket(
        RAW_BUCKET,
        BucketName=spec.names.raw_bucket,
        DeletionPolicy=RETAIN,
        UpdateReplacePolicy=RETAIN,
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="AES256"
                    )
                )
            ]
        ),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[archive, admin_history]),
        Metadata=_skip(
            (
                "CKV_AWS_18",
                "Server access logs would need a second bucket per stage; CloudTrail data "
                "events cover object access where an operator needs an audit trail.",
            ),
        ),
    )
    policy = s3.BucketPolicy(
        RAW_BUCKET_POLICY,
        Bucket=Ref(bucket),
        PolicyDocument={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [GetAtt(bucket, "Arn"), Sub("${" + RAW_BUCKET + ".Arn}/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
    )
    return [bucket, policy]


_SSE_SQS_SKIP = _skip(
    (
        "CKV_AWS_27",
        "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov counts only SSE-KMS, "
        "which would add a KMS call to every send and receive.",
    ),
)


def queues(spec: StackSpec) -> list[Any]:
    """The DLQ, then the queue that moves a message there after ``max_receive_count`` tries."""
    # Both: retained, encrypted with SSE-SQS.
    common: dict[str, Any] = {
        "DeletionPolicy": RETAIN,
        "UpdateReplacePolicy": RETAIN,
        "SqsManagedSseEnabled": True,
        "Metadata": _SSE_SQS_SKIP,
    }
    dlq = sqs.Queue(
        DLQ, QueueName=spec.names.dlq, MessageRetentionPeriod=DLQ_RETENTION_SECONDS, **common
    )
    queue = sqs.Queue(
        QUEUE,
        QueueName=spec.names.queue,
        MessageRetentionPeriod=QUEUE_RETENTION_SECONDS,
        VisibilityTimeout=spec.visibility_timeout_seconds,
        RedrivePolicy=sqs.RedrivePolicy(
            deadLetterTargetArn=GetAtt(dlq, "Arn"), maxReceiveCount=spec.max_receive_count
        ),
        **common,
    )
    return [dlq, queue]


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index on two string attributes, projecting every attribute."""

    name: str
    pk: str
    sk: str


def tables(spec: StackSpec) -> list[Any]:
    """The curated table (by id, two GSIs) and the ledger (pk/sk, runs index, TTL)."""
    names = spec.names
    curated = _table(
        CURATED_TABLE,
        names.curated_table,
        keys=(CURATED_PK, None),
        indexes=(
            IndexSpec(SOURCE_INDEX, SOURCE_INDEX_PK, SOURCE_INDEX_SK),
            IndexSpec(TYPE_INDEX, TYPE_INDEX_PK, TYPE_INDEX_SK),
        ),
    )
    ledger = _table(
        LEDGER_TABLE,
        names.ledger_table,
        keys=(LEDGER_PK, LEDGER_SK),
        indexes=(IndexSpec(RUNS_INDEX, RUNS_INDEX_PK, RUNS_INDEX_SK),),
        # The throttle's per-window counters expire on their own.
        ttl_attribute=LEDGER_TTL_ATTRIBUTE,
    )
    return [curated, ledger]


def _table(
    logical_id: str,
    name: str,
    *,
    keys: tuple[str, str | None],
    indexes: tuple[IndexSpec, ...],
    ttl_attribute: str | None = None,
) -> ddb.Table:
    pk, sk = keys
    attributes = dict.fromkeys(
        k for k in (pk, sk, *(a for i in indexes for a in (i.pk, i.sk))) if k
    )
    extra: dict[str, Any] = {}
    if ttl_attribute:
        extra["TimeToLiveSpecification"] = ddb.TimeToLiveSpecification(
            AttributeName=ttl_attribute, Enabled=True
        )
    return ddb.Table(
        logical_id,
        TableName=name,
        DeletionPolicy=RETAIN,
        UpdateReplacePolicy=RETAIN,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            ddb.AttributeDefinition(AttributeName=a, AttributeType="S") for a in attributes
        ],
        KeySchema=_key_schema(pk, sk),
        GlobalSecondaryIndexes=[
            ddb.GlobalSecondaryIndex(
                IndexName=i.name,
                KeySchema=_key_schema(i.pk, i.sk),
                Projection=ddb.Projection(ProjectionType="ALL"),
            )
            for i in indexes
        ],
        SSESpecification=ddb.SSESpecification(SSEEnabled=True, SSEType="KMS"),
        PointInTimeRecoverySpecification=ddb.PointInTimeRecoverySpecification(
            PointInTimeRecoveryEnabled=True
        ),
        Metadata=_skip(
            (
                "CKV_AWS_119",
                "Encrypted with the AWS managed key (aws/dynamodb): a customer managed "
                "key costs $1/month per stage and adds nothing for this data.",
            ),
        ),
        **extra,
    )


def _key_schema(pk: str, sk: str | None) -> list[ddb.KeySchema]:
    keys = [ddb.KeySchema(AttributeName=pk, KeyType="HASH")]
    return keys + ([ddb.KeySchema(AttributeName=sk, KeyType="RANGE")] if sk else [])
