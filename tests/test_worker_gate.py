"""The worker's front door: only its own events reach Zappa's handler (and its write role).

Zappa's handler runs any function an event names, any management command and
``raw_command`` source. Anyone who may invoke the worker, the web function included,
would then act with the worker's role; ``worker_lambda_handler`` stops all of that.
The deployed-shape tests run every real worker event through it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zappa.handler

from pipeline.handlers import worker_event_refusal, worker_lambda_handler

SAMPLES = Path(__file__).parent / "samples"
RULE = "arn:aws:events:us-east-1:123456789012:rule/twl-pipeline-dev-worker-"

ALLOWED = {
    "schedule": {
        "detail-type": "Scheduled Event",
        "resources": [RULE + "pipeline.handlers.scheduled_ingest"],
    },
    "sqs batch": json.loads((SAMPLES / "sqs_event.json").read_text()),
    "admin job": {"command": "pipeline.handlers.run_job", "job": "ingest", "kwargs": {}},
    "zappa invoke of the ingest": {"command": "pipeline.handlers.scheduled_ingest"},
}
SQS = ALLOWED["sqs batch"]["Records"][0]
REFUSED = {
    "raw python": ({"raw_command": "import os; os.system('id')"}, "raw_command"),
    "raw python behind a command": (
        {"command": "pipeline.handlers.run_job", "raw_command": "x = 1"},
        "raw_command",
    ),
    "any importable function": ({"command": "shutil.rmtree"}, "not allowed"),
    "a schedule naming another function": (
        {"detail-type": "Scheduled Event", "resources": [RULE + "os.system"]},
        "no schedule runs 'os.system'",
    ),
    "any management command": ({"manage": "dlq purge --yes"}, "operator's machine"),
    "flush the admin's data": ({"manage": "flush --noinput"}, "operator's machine"),
    "stage variables on a listed command": (
        {"command": "pipeline.handlers.run_job", "stageVariables": {"AWS_ENDPOINT_URL": "x"}},
        "stageVariables",
    ),
    "an SQS record that also names an S3 function": (
        {"Records": [{**SQS, "s3": {"configurationId": "x:subprocess.run"}}]},
        "only SQS",
    ),
    "an SQS record that also carries an SNS command": (
        {"Records": [{**SQS, "Sns": {"Message": '{"command": "os.system"}'}}]},
        "only SQS",
    ),
    "a forged record among real ones": (
        {"Records": [SQS, {**SQS, "dynamodb": {}}]},
        "only SQS",
    ),
    "an API Gateway request": ({"httpMethod": "GET", "path": "/admin/"}, "HTTP"),
    "an HTTP API request": ({"version": "2.0", "rawPath": "/"}, "HTTP"),
    "records from S3": ({"Records": [{"eventSource": "aws:s3"}]}, "only SQS"),
    "an empty object": ({}, "not a worker event"),
    "a list": ([1, 2], "expected an object"),
}


@pytest.fixture
def zappa_calls(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr(zappa.handler, "lambda_handler", lambda event, context: calls.append(event))
    return calls


@pytest.mark.parametrize("event", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_workers_own_events_go_on_to_zappas_handler(event, zappa_calls):
    assert worker_event_refusal(event) is None
    worker_lambda_handler(event, None)
    assert zappa_calls == [event]


@pytest.mark.parametrize(("event", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_anything_else_is_refused_with_its_reason_and_never_reaches_zappa(
    event, reason, zappa_calls, caplog
):
    reply = worker_lambda_handler(event, None)
    assert reply["status"] == "rejected" and reason in reply["reason"]
    assert zappa_calls == []
    assert "event refused" in caplog.text
