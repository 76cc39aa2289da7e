"""Shared by the declared-source tests: the sandbox (its catalog) and a stack that may reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.local.sandbox import SandboxServer
from pipeline.stores.declared_sources import definitions_cache_clear


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def site(stack, settings, running_sandbox):
    """The provisioned stack, loopback allowed (the local stack's rule), a fresh cache."""
    settings.TWL_SOURCES_ALLOW_LOOPBACK = True
    running_sandbox.faults.clear()
    definitions_cache_clear()
    yield stack
    definitions_cache_clear()


@pytest.fixture
def catalog_url(running_sandbox) -> str:
    return running_sandbox.catalog_url
