"""The one place that builds boto3 clients: endpoint, region, retries, credentials.

Clients are built lazily and cached per (service, endpoint, region), never at
import time, so moto can start before the first client exists.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

from pipeline.config import PipelineConfig, get_config

_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    # botocore re-checks every parameter of every request client-side; for 96-record
    # transactions that is about a third of the worker's CPU. The services validate
    # each request themselves and answer a clear ValidationException.
    parameter_validation=False,
)


@functools.lru_cache(maxsize=32)
def _build(service: str, endpoint_url: str | None, region: str) -> Any:
    kwargs: dict[str, Any] = {"region_name": region, "config": _BOTO_CONFIG}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        # An emulator accepts any credentials; real AWS never reaches this branch.
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs["aws_access_key_id"] = "local"
            kwargs["aws_secret_access_key"] = "local"
    return boto3.session.Session().client(service, **kwargs)


def client(service: str, *, config: PipelineConfig | None = None) -> Any:
    """Return the cached boto3 client for ``service`` under ``config``."""
    cfg = config or get_config()
    return _build(service, cfg.aws_endpoint_url, cfg.aws_region)


def s3(config: PipelineConfig | None = None) -> Any:
    return client("s3", config=config)


def sqs(config: PipelineConfig | None = None) -> Any:
    return client("sqs", config=config)


def dynamodb(config: PipelineConfig | None = None) -> Any:
    return client("dynamodb", config=config)


def reset_clients() -> None:
    """Forget cached clients (tests start and stop emulators between cases)."""
    _build.cache_clear()
