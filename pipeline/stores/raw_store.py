"""The S3 raw layer: key scheme (build and parse), write, read and list. Never deleted.

The key scheme has one home: ``raw_key`` builds keys, ``raw_key_parse`` reads them back
(replay lists with it, the message contract checks ``s3Key`` with it), and
``raw_metadata_check`` holds an object's metadata against the capture a message claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    QUARANTINE_PREFIX,
    RAW_KEY_HASH_CHARS,
    RAW_KEY_TEMPLATE,
    RAW_META_CAPTURED_AT,
    RAW_META_SOURCE,
    RAW_META_TYPE,
    RAW_PREFIX,
    RAW_STAMP_FORMAT,
)
from pipeline.core.errors import InvalidMessage
from pipeline.stores import aws

# RAW_KEY_TEMPLATE read back: the stamp is RAW_STAMP_FORMAT (date, time, microseconds).
_RAW_KEY = re.compile(
    re.escape(RAW_PREFIX) + r"/source=(?P<source>[^/=]+)/type=(?P<type>[^/=]+)"
    r"/date=(?P<date>\d{4}-\d{2}-\d{2})/(?P<stamp>\d{8}T\d{12}Z)"
    r"-(?P<digest>[0-9a-f]{" + str(RAW_KEY_HASH_CHARS) + r"})\.json",
    re.ASCII,
)


@dataclass(frozen=True)
class RawKey:
    """A raw key split into its parts: feed, date partition, capture stamp and hash prefix."""

    key: str
    source: str
    type: str
    day: date
    stamp: str
    captured_at: datetime
    digest: str


def raw_key(*, source: str, type_: str, captured_at: datetime, digest: str) -> str:
    """``raw/source=…/type=…/date=YYYY-MM-DD/<UTC stamp>-<hash>.json`` (Hive-style)."""
    return RAW_KEY_TEMPLATE.format(
        source=source,
        type=type_,
        date=captured_at.strftime("%Y-%m-%d"),
        stamp=captured_at.strftime(RAW_STAMP_FORMAT),
        digest=digest[:RAW_KEY_HASH_CHARS],
    )


def raw_key_parse(key: str) -> RawKey | None:
    """The parts of a key ``raw_key`` would build (date partition = stamp's day), else None."""
    match = _RAW_KEY.fullmatch(key)
    if match is None:
        return None
    try:
        captured = datetime.strptime(match["stamp"], RAW_STAMP_FORMAT).replace(tzinfo=UTC)
        day = date.fromisoformat(match["date"])
    except ValueError:
        return None
    if captured.date() != day:
        return None
    return RawKey(
        key, match["source"], match["type"], day, match["stamp"], captured, match["digest"]
    )


def raw_metadata_check(
    metadata: Mapping[str, str], *, source: str, type_: str, captured_at: datetime
) -> None:
    """Raise InvalidMessage when an object's metadata contradicts the claimed feed or capture.

    Ingest writes ``source``, ``type`` and ``captured-at`` on every object; an object
    without them (written by hand) is judged by its key alone.
    """
    for name, claimed in ((RAW_META_SOURCE, source), (RAW_META_TYPE, type_)):
        if name in metadata and metadata[name] != claimed:
            raise InvalidMessage(f"the object's {name} metadata is not {claimed!r}")
    stored = metadata.get(RAW_META_CAPTURED_AT)
    if stored is None:
        return
    try:
        moment = datetime.fromisoformat(stored)
        same = moment.utcoffset() is not None and moment == captured_at
    except (ValueError, OverflowError):
        same = False
    if not same:
        raise InvalidMessage(
            f"capturedAt does not match the object's captured-at metadata {stored[:40]!r}"
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
