"""Structured JSON logs with correlation ids and no personal data; EMF metrics on stdout."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from pipeline.core.logs import JsonFormatter, log_context
from pipeline.handlers import process_sqs_event
from pipeline.local.poller import drain
from pipeline.services.ingest import ingest
from pipeline.sources import all_feeds
from tests import factories

pytestmark = pytest.mark.django_db

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture
def json_logs():
    """Capture every log line of the run as the production formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_log_line_is_json_with_correlation_fields(stack, sources, json_logs):
    run = ingest(config=stack)
    drain(process_sqs_event, config=stack)
    records = lines(json_logs)
    assert records, "the run logged nothing"
    processed = [r for r in records if r["message"].startswith("processed:")]
    assert len(processed) == len(all_feeds())
    for line in processed:
        assert line["run_id"] == run.run_id
        assert {"source", "type", "s3_key", "message_id"} <= set(line)
    summary = [r for r in records if r["message"].startswith("run succeeded")]
    assert summary and summary[0]["run_id"] == run.run_id


def test_a_full_run_logs_no_personal_data_or_secrets(stack, sources, json_logs):
    sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/users", body="[{broken")
    ingest(config=stack)
    drain(process_sqs_event, config=stack)
    text = json_logs.getvalue()
    records = lines(json_logs)
    # The capture saw the whole run: the people were processed, the broken feed failed.
    assert any(
        r["message"].startswith("processed:") and r.get("source") == "randomuser" for r in records
    )
    assert any(r["message"].startswith("feed failed") and r.get("type") == "user" for r in records)
    person = factories.person()
    for secret in (
        "hunter2",
        "RANDOMSALT",
        person["login"]["sha256"],
        person["id"]["value"],
        person["phone"],
    ):
        assert secret not in text
    assert not EMAIL.findall(text)


def test_log_context_nests_and_unwinds():
    stream = io.StringIO()
    logger = logging.getLogger("twl.test.context")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(run_id="r1"):
            with log_context(source="s"):
                logger.info("inner")
            logger.info("outer")
        logger.info("none")
    finally:
        logger.removeHandler(handler)
    inner, outer, none = lines(stream)
    assert (inner["run_id"], inner["source"]) == ("r1", "s")
    assert "source" not in outer and outer["run_id"] == "r1"
    assert "run_id" not in none


def test_metrics_are_cloudwatch_emf_on_stdout(stack, sources, capsys):
    ingest(config=stack)
    drain(process_sqs_event, config=stack)
    documents = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = {m["Name"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"RecordsFetched", "RawObjectsStored", "MessagesSent", "RecordsInserted"} <= names
    fetched = [d for d in documents if "RecordsFetched" in d and d["type"] == "comment"]
    assert fetched[0]["RecordsFetched"] == [5.0]
    assert fetched[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TWLPipeline"


def test_api_latency_is_measured_per_endpoint(client, stack, capsys):
    client.get("/api/analytics")
    documents = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    latency = [d for d in documents if "ApiLatency" in d]
    assert latency and latency[0]["endpoint"] == "api-analytics"
