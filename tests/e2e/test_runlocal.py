"""`manage.py runlocal`'s stacks, quick and deployed: table full, web answering, clean stop."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from pipeline.core.config import get_config
from pipeline.local.deployed import DeployedStack
from tests.stacks import MODES, count_records, running

pytestmark = pytest.mark.e2e

FULL = {
    ("jsonplaceholder", "post"): 100,
    ("jsonplaceholder", "comment"): 500,
    ("jsonplaceholder", "user"): 10,
    ("randomuser", "user"): 25,
}


@pytest.mark.django_db
@pytest.mark.parametrize("mode", MODES)
def test_stack_fills_the_table_serves_the_web_and_stops_cleanly(mode, settings, request):
    packages = request.getfixturevalue("stage_packages") if mode == "deployed" else None
    events: list[str] = []
    started = time.monotonic()
    with running(mode, settings, packages=packages, events=events) as run:
        elapsed = time.monotonic() - started
        assert count_records(get_config()) == FULL, events
        print(f"{mode} stack: start to full table in {elapsed:.1f} s")
        page = requests.get(run.web, timeout=10)
        assert page.status_code == 200 and "TWL Pipeline" in page.text
        assert any(e.startswith("ingest ") and "succeeded" in e for e in events), events
        assert "AWS emulator (moto)" in "\n".join(run.stack.describe())
        stack = run.stack
    assert not [t for t in threading.enumerate() if t.name in {"twl-scheduler", "twl-worker"}]
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.urls["web"], timeout=2)
    if isinstance(stack, DeployedStack):
        assert all(f.containers == 0 for f in stack.functions.values())
        # The logs outlive it; its unzipped code does not.
        assert [p.name for p in stack._work.iterdir() if p.name.startswith("code-")] == []
        assert any(p.suffix == ".log" for p in stack._work.iterdir())
