"""Provision the raw bucket: encrypted, versioned, private, TLS-only, never emptied by us."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any, Final, cast

from pipeline.core.config import PipelineConfig
from pipeline.deploy.reconcile import (
    Change,
    Setting,
    change_for,
    create_missing,
    or_none,
    reconcile,
)
from pipeline.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import (
        PublicAccessBlockConfigurationTypeDef,
        ServerSideEncryptionConfigurationTypeDef,
        ServerSideEncryptionRuleTypeDef,
    )

SSE_ALGORITHM: Final = "AES256"
TLS_ONLY_SID = "DenyInsecureTransport"
BUCKET_MISSING_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})


def provision_bucket(cfg: PipelineConfig, *, check_only: bool) -> Change:
    """Ensure the raw bucket exists, encrypted, versioned, private and TLS-only."""
    s3, bucket = aws.s3(cfg), cfg.raw_bucket
    resource = f"s3:{bucket}"
    if or_none(s3.head_bucket, BUCKET_MISSING_CODES, Bucket=bucket) is not None:
        diffs = reconcile(
            _bucket_settings(s3, bucket, require_tls=cfg.s3_require_tls), check_only=check_only
        )
        return change_for(resource, diffs, check_only=check_only)
    create = partial(_create_bucket, s3, bucket, cfg.aws_region)
    change = create_missing(resource, kind="bucket", create=create, check_only=check_only)
    if not check_only:
        reconcile(_bucket_settings(s3, bucket, require_tls=cfg.s3_require_tls), check_only=False)
    return change


def _create_bucket(s3: S3Client, bucket: str, region: str) -> None:
    """Create the bucket; us-east-1 rejects a LocationConstraint, every other region needs one."""
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        # The configured region, as AWS spells its location constraints.
        constraint = cast("BucketLocationConstraintType", region)
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": constraint}
        )


def _bucket_settings(s3: S3Client, bucket: str, *, require_tls: bool) -> list[Setting]:
    """The bucket's security settings with their current values.

    The TLS-only policy is left out when ``require_tls`` is off: an emulator on plain
    HTTP (and moto, which ignores policy conditions) would deny every request.
    """
    rule: ServerSideEncryptionRuleTypeDef = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}
    }
    encryption: ServerSideEncryptionConfigurationTypeDef = {"Rules": [rule]}
    block = cast(
        "PublicAccessBlockConfigurationTypeDef",
        dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
            True,
        ),
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
                ServerSideEncryptionConfiguration=encryption,
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


def _bucket_sse_algorithm(s3: S3Client, bucket: str) -> str | None:
    """The bucket's default encryption algorithm, or None when it has none."""
    missing = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
    reply = or_none(s3.get_bucket_encryption, missing, Bucket=bucket)
    rules = reply["ServerSideEncryptionConfiguration"]["Rules"] if reply else []
    defaults = [
        r["ApplyServerSideEncryptionByDefault"]
        for r in rules
        if r.get("ApplyServerSideEncryptionByDefault")
    ]
    return defaults[0]["SSEAlgorithm"] if defaults else None


def _public_access_block(s3: S3Client, bucket: str) -> PublicAccessBlockConfigurationTypeDef | None:
    """The bucket's public access block, or None when it has none."""
    missing = frozenset({"NoSuchPublicAccessBlockConfiguration"})
    reply = or_none(s3.get_public_access_block, missing, Bucket=bucket)
    return reply["PublicAccessBlockConfiguration"] if reply else None


def _bucket_policy(s3: S3Client, bucket: str) -> dict[str, Any] | None:
    """The bucket policy document, or None when the bucket has none."""
    reply = or_none(s3.get_bucket_policy, frozenset({"NoSuchBucketPolicy"}), Bucket=bucket)
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
