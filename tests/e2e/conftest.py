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
from tests.stacks import MODES, Running, count_records, running

__all__ = ["count_records"]


@pytest.fixture(params=MODES)
def running_stack(request, settings) -> Iterator[Running]:
    """The whole stack on free ports, in each shape (tests/stacks.py), its table full."""
    packages = request.getfixturevalue("stage_packages") if request.param == "deployed" else None
    with running(request.param, settings, packages=packages) as stack:
        yield stack


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
