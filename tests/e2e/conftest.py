"""Fixtures for end-to-end tests over real loopback HTTP: moto's server and the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.core.config import PipelineConfig, get_config
from pipeline.deploy.provision import provision
from pipeline.local.emulator import Emulator
from pipeline.local.sandbox import SandboxServer
from pipeline.stores import aws
from tests.conftest import use_stage


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as running:
        running.reset()
        yield running
        running.reset()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as running:
        yield running


@pytest.fixture
def live_config(settings, emulator, sandbox) -> Iterator[PipelineConfig]:
    """Settings pointing at the emulator and sandbox; resources provisioned."""
    use_stage(settings, "e2e")
    settings.AWS_ENDPOINT_URL = emulator.url
    settings.TWL_SOURCE_BASE_URLS = sandbox.source_urls()
    settings.TWL_RANDOMUSER_RESULTS = 25
    settings.TWL_HTTP_RETRY_AFTER_MAX = 1
    aws.reset_clients()
    config = get_config()
    provision(config=config)
    yield config
    aws.reset_clients()


def count_records(config: PipelineConfig) -> dict[tuple[str, str], int]:
    """Test-only census of the curated table (a Scan is fine in a test)."""
    counts: dict[tuple[str, str], int] = {}
    paginator = aws.dynamodb(config).get_paginator("scan")
    for page in paginator.paginate(
        TableName=config.curated_table,
        ProjectionExpression="#s, #t",
        ExpressionAttributeNames={"#s": "source", "#t": "type"},
    ):
        for item in page["Items"]:
            key = (item["source"]["S"], item["type"]["S"])
            counts[key] = counts.get(key, 0) + 1
    return counts
