"""The two shapes the end-to-end and browser tests run in: quick local, and deployed.

``local`` is ``make run``: one process, DEBUG on, no stage prefix, the code from the
working tree. ``deployed`` is ``make run-deployed`` (``pipeline.local.deployed``): the
zips ``make package`` builds, each function in a process of its own behind a local API
Gateway, with the dev stage's settings, names, prefix and admin data store. A test
that takes ``running_stack`` runs once in each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from moto.moto_api._internal.models import moto_api_backend

from pipeline.core.config import PipelineConfig, get_config
from pipeline.local.deployed import DeployedOptions, DeployedStack
from pipeline.local.stack import LocalStack, StackOptions
from pipeline.stores import aws
from tests.conftest import settings_for_local_stack

MODES = ("local", "deployed")
FULL_TABLE = 100 + 500 + 10 + 25


@dataclass
class Running:
    """A started stack, whichever its shape."""

    mode: str
    stack: LocalStack | DeployedStack

    @property
    def urls(self) -> dict[str, str]:
        return self.stack.urls

    @property
    def web(self) -> str:
        """The site's root URL (``…/dev/`` in the deployed shape)."""
        return self.stack.urls["web"]

    @property
    def key_headers(self) -> dict[str, str]:
        """What a client of the API sends: the deployed stage needs a key (TWL_API_ACCESS)."""
        key = getattr(self.stack, "api_key", None)
        return {"X-Api-Key": key} if key else {}

    def create_operator(self, username: str, password: str) -> None:
        """An admin account, made the way an operator of this shape makes one."""
        if isinstance(self.stack, DeployedStack):
            self.stack.create_operator(username, password)  # the documented command
        else:
            from django.contrib.auth import get_user_model

            get_user_model().objects.create_superuser(username, f"{username}@example.org", password)

    def function_logs(self) -> str:
        """What the deployed functions printed (their CloudWatch Logs); '' locally."""
        if not isinstance(self.stack, DeployedStack):
            return ""
        return "".join(f.log_path.read_text() for f in self.stack.functions.values())


@contextmanager
def running(
    mode: str,
    settings,
    *,
    packages: Mapping[str, Path] | None = None,
    fill: bool = True,
    events: list[str] | None = None,
) -> Iterator[Running]:
    """Start the stack in ``mode`` on free ports, ingest once, wait for the full table."""
    on_event = events.append if events is not None else (lambda line: None)
    # moto keeps its state per process, not per server: each stack starts from nothing.
    moto_api_backend.reset()
    stack: LocalStack | DeployedStack
    if mode == "local":
        settings_for_local_stack(settings, "browser")
        stack = LocalStack(
            StackOptions(
                aws_port=0,
                sources_port=0,
                web_port=0,
                ingest_interval=3600,
                retry_delay_seconds=0,
                migrate=False,
            ),
            on_event=on_event,
        )
    else:
        settings_for_local_stack(settings, "dev")  # every setting it rewrites is restored
        stack = DeployedStack(
            DeployedOptions(
                aws_port=0,
                sources_port=0,
                web_port=0,
                ingest_interval=3600,
                retry_delay_seconds=0,
                packages=dict(packages or {}),
                # Lambda may deliver an admin job twice: every test here has it do so.
                async_deliveries=2,
                # Two containers per function: a page's parallel requests meet cold
                # starts and each container's own copy of the admin's data.
                max_containers=2,
                # Made by `make manage ARGS="apikey create …"`, with the personal-data scope.
                api_key_name="e2e",
            ),
            on_event=on_event,
        )
    stack.start().start_loops()
    try:
        if fill:
            deadline = time.monotonic() + 60
            while (
                sum(count_records(get_config()).values()) < FULL_TABLE
                and time.monotonic() < deadline
            ):
                time.sleep(0.25)
        yield Running(mode, stack)
    finally:
        stack.stop()


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
