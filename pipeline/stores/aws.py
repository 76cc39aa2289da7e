"""The one place that builds boto3 clients: endpoint, region, retries, credentials.

Clients are built lazily and cached per (service, endpoint, region), never at
import time, so moto can start before the first client exists. Stores (and the
operator tools) ask this module for the client of the ``config`` they are given;
nothing else builds one (a test greps for boto3 clients elsewhere).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from pipeline.core.config import PipelineConfig

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

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
    return boto3.session.Session().client(service, **kwargs)  # type: ignore[call-overload]


def _client(service: str, config: PipelineConfig) -> Any:
    return _build(service, config.aws_endpoint_url, config.aws_region)


def s3(config: PipelineConfig) -> S3Client:
    return _client("s3", config)


def sqs(config: PipelineConfig) -> SQSClient:
    return _client("sqs", config)


def dynamodb(config: PipelineConfig) -> DynamoDBClient:
    return _client("dynamodb", config)


def ssm(config: PipelineConfig) -> SSMClient:
    """Parameter Store: declared sources' secrets (``ssm:`` references)."""
    return _client("ssm", config)


def lambda_(config: PipelineConfig) -> LambdaClient:
    return _client("lambda", config)


def iam(config: PipelineConfig) -> IAMClient:
    return _client("iam", config)


def sts(config: PipelineConfig) -> STSClient:
    return _client("sts", config)


def cloudformation(config: PipelineConfig) -> CloudFormationClient:
    """Operator tools only (``manage.py provision``)."""
    return _client("cloudformation", config)


def cloudwatch(config: PipelineConfig) -> CloudWatchClient:
    """Operator tools only (the stack's drift check reads the alarms back)."""
    return _client("cloudwatch", config)


def reset_clients() -> None:
    """Forget cached clients (tests start and stop emulators between cases)."""
    _build.cache_clear()
