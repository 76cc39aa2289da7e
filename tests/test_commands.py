"""Management commands and Lambda handlers are thin callers with clear output and errors."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.handlers import scheduled_ingest
from pipeline.services.http import build_session, fetch
from pipeline.sources.base import Request

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "samples"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_ingest_command_prints_the_run_ledger_as_a_table(stack, sources):
    output = run("ingest")
    lines = output.splitlines()
    assert lines[0].startswith("run ") and lines[0].endswith(": succeeded")
    assert lines[1].split()[:6] == ["source", "type", "outcome", "items", "bytes", "hash"]
    assert lines[2].split()[:4] == ["jsonplaceholder", "post", "stored", "3"]
    assert "raw/source=randomuser/type=user/date=" in lines[5]


def test_ingest_command_with_process_fills_the_table(stack, sources):
    output = run("ingest", "--source", "jsonplaceholder", "--process")
    assert "processed 3 message(s), 0 failed" in output
    second = run("ingest", "--source", "jsonplaceholder")
    assert second.count("unchanged") == 3


def test_process_command_drains_the_queue(stack, sources):
    run("ingest", "--source", "randomuser")
    assert "received 1, processed 1, failed 0" in run("process")
    assert "received 0" in run("process")


def test_ingest_command_fails_clearly_when_every_source_is_down(stack, sources):
    for path in ("posts", "comments", "users"):
        sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/{path}", status=404)
    with pytest.raises(CommandError, match="every feed failed"):
        run("ingest", "--source", "jsonplaceholder")


def test_ingest_command_rejects_an_unknown_source():
    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        run("ingest", "--source", "nope")


def test_commands_report_an_unreachable_aws_without_a_traceback(config, settings):
    from pipeline.stores import aws

    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        with pytest.raises(CommandError, match="process failed"):
            run("process")
    finally:
        aws.reset_clients()


def test_scheduled_event_runs_an_ingest(stack, sources):
    event = json.loads((SAMPLES / "scheduled_event.json").read_text())
    reply = scheduled_ingest(event, None)
    assert reply["status"] == "succeeded"
    assert [f["outcome"] for f in reply["feeds"]] == ["stored"] * 4


def test_fetch_sends_connect_and_read_timeouts(config, monkeypatch):
    seen = {}
    session = build_session(config)

    def fake_get(url, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(session, "get", fake_get)
    with pytest.raises(RuntimeError):
        fetch(session, Request(url="https://x.test/"), config)
    assert seen["timeout"] == (config.http_connect_timeout, config.http_read_timeout)


def test_a_long_retry_after_is_capped_so_the_job_fails_fast(config):
    retry = build_session(config).get_adapter("https://x.test/").max_retries
    assert retry.parse_retry_after("3600") == config.http_retry_after_max
    assert retry.respect_retry_after_header
    assert {429, 500, 502, 503, 504} <= set(retry.status_forcelist)


def test_retries_stop_after_the_configured_count_and_report_the_status(config):
    with responses.RequestsMock() as mock:
        mock.get("https://x.test/", status=503)
        with pytest.raises(requests.HTTPError, match="503"):
            fetch(build_session(config), Request(url="https://x.test/"), config)
        assert len(mock.calls) == config.http_retries + 1
