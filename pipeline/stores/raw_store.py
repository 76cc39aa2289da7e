"""The S3 raw layer: key scheme, write, read and list. Objects are never deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    QUARANTINE_PREFIX,
    RAW_KEY_HASH_CHARS,
    RAW_KEY_TEMPLATE,
    RAW_PREFIX,
    RAW_STAMP_FORMAT,
)
from pipeline.stores import aws


def raw_key(*, source: str, type_: str, captured_at: datetime, digest: str) -> str:
    """``raw/source=…/type=…/date=YYYY-MM-DD/<UTC stamp>-<hash>.json`` (Hive-style)."""
    return RAW_KEY_TEMPLATE.format(
        source=source,
        type=type_,
        date=captured_at.strftime("%Y-%m-%d"),
        stamp=captured_at.strftime(RAW_STAMP_FORMAT),
        digest=digest[:RAW_KEY_HASH_CHARS],
    )


def quarantine_key(*, source: str, type_: str, captured_at: datetime, digest: str) -> str:
    """Same layout as the raw key, under the quarantine prefix."""
    key = raw_key(source=source, type_=type_, captured_at=captured_at, digest=digest)
    return QUARANTINE_PREFIX + key[len(RAW_PREFIX) :]


def raw_object_put(
    *, key: str, body: bytes, metadata: dict[str, str], config: PipelineConfig
) -> None:
    """Write ``body`` as received, encrypted at rest, with its metadata."""
    aws.s3(config).put_object(
        Bucket=config.raw_bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        ServerSideEncryption="AES256",
        Metadata=metadata,
    )


def raw_object_get(*, key: str, config: PipelineConfig, bucket: str | None = None) -> bytes:
    """Read one raw object's body."""
    return raw_object_read(key=key, config=config, bucket=bucket)[0]


def raw_object_read(
    *, key: str, config: PipelineConfig, bucket: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """Read one raw object's body and its user metadata, in one GetObject."""
    reply = aws.s3(config).get_object(Bucket=bucket or config.raw_bucket, Key=key)
    return reply["Body"].read(), reply.get("Metadata", {})


def raw_keys_list(*, prefix: str = RAW_PREFIX + "/", config: PipelineConfig) -> Iterator[str]:
    """Every key under ``prefix``, in key (so time) order within a partition."""
    paginator = aws.s3(config).get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=config.raw_bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"]
