"""Shared fixtures: offline AWS (moto in-process) and a pipeline config for it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Fake credentials before any boto3 import can look for real ones.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)

from moto import mock_aws

from pipeline import aws
from pipeline.config import PipelineConfig, get_config
from pipeline.local.emulator import install_moto_speedups

install_moto_speedups()


@pytest.fixture
def config(settings) -> PipelineConfig:
    """Settings for stage 'test' on in-process moto (no endpoint); returns their config."""
    settings.AWS_ENDPOINT_URL = None
    settings.AWS_REGION = "us-east-1"
    settings.TWL_STAGE = "test"
    settings.TWL_RAW_BUCKET = "twl-pipeline-raw-data-test"
    settings.TWL_QUEUE_NAME = "twl-pipeline-ingestion-queue-test"
    settings.TWL_DLQ_NAME = "twl-pipeline-ingestion-queue-test-dlq"
    settings.TWL_CURATED_TABLE = "twl-pipeline-curated-test"
    settings.TWL_LEDGER_TABLE = "twl-pipeline-ledger-test"
    settings.TWL_JSONPLACEHOLDER_BASE_URL = "https://jsonplaceholder.test"
    settings.TWL_RANDOMUSER_BASE_URL = "https://randomuser.test"
    settings.TWL_HTTP_RETRY_AFTER_MAX = 1
    # moto ignores policy conditions, so a TLS-only policy would deny every request;
    # provisioning tests switch it back on to check the policy itself.
    settings.TWL_S3_REQUIRE_TLS = False
    return get_config()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """In-process moto for the test; cached clients are dropped before and after."""
    aws.reset_clients()
    with mock_aws():
        yield
    aws.reset_clients()
