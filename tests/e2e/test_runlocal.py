"""`manage.py runlocal`'s stack: up on loopback, table full, web answering, clean stop."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from pipeline.core.config import get_config
from pipeline.local.stack import LocalStack, StackOptions
from tests.conftest import settings_for_local_stack
from tests.e2e.conftest import count_records

pytestmark = pytest.mark.e2e

FULL = {
    ("jsonplaceholder", "post"): 100,
    ("jsonplaceholder", "comment"): 500,
    ("jsonplaceholder", "user"): 10,
    ("randomuser", "user"): 25,
}


@pytest.fixture
def restorable_settings(settings):
    return settings_for_local_stack(settings, "runlocal-test")


def test_local_stack_fills_the_table_serves_the_web_and_stops_cleanly(restorable_settings):
    events: list[str] = []
    options = StackOptions(
        aws_port=0,
        sources_port=0,
        web_port=0,
        ingest_interval=3600,
        poll_wait_seconds=1,
        migrate=False,
    )
    stack = LocalStack(options, on_event=events.append)
    started = time.monotonic()
    stack.start().start_loops()
    try:
        deadline = started + 30
        counts: dict = {}
        while time.monotonic() < deadline and counts != FULL:
            time.sleep(0.25)
            counts = count_records(get_config())
        elapsed = time.monotonic() - started
        assert counts == FULL, events
        print(f"local stack: start to full table in {elapsed:.1f} s")
        page = requests.get(stack.urls["web"], timeout=10)
        assert page.status_code == 200 and "TWL Pipeline" in page.text
        assert any(e.startswith("ingest ") and "succeeded" in e for e in events)
        assert "AWS emulator (moto)" in "\n".join(stack.describe())
    finally:
        stack.stop()
    assert not [t for t in threading.enumerate() if t.name in {"twl-scheduler", "twl-worker"}]
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.urls["web"], timeout=2)
