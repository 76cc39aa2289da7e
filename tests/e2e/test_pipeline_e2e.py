"""End to end over real loopback HTTP: sandbox + moto server → ingest → process."""

from __future__ import annotations

import json
import time

import pytest

from pipeline.core.config import get_config
from pipeline.handlers import process_sqs_event
from pipeline.local.poller import drain, poll_once
from pipeline.local.sandbox import Fault
from pipeline.services.dlq import dlq_list, dlq_redrive
from pipeline.services.ingest import ingest
from pipeline.services.recount import recount
from pipeline.stores import aws, ledger, raw_store
from pipeline.stores.curated import record_get
from pipeline.stores.messages import message_send, queue_url
from tests.e2e.conftest import count_records
from tests.factories import put_raw

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_ingest_and_process_fill_the_table_and_a_second_ingest_adds_only_new_people(live_config):
    first = ingest(config=live_config)
    assert first.status == "succeeded"
    totals = drain(process_sqs_event, config=live_config)
    assert (totals.received, totals.failed) == (4, 0)
    assert count_records(live_config) == {
        ("jsonplaceholder", "post"): 100,
        ("jsonplaceholder", "comment"): 500,
        ("jsonplaceholder", "user"): 10,
        ("randomuser", "user"): 25,
    }

    second = ingest(config=live_config)
    outcomes = [(f.source, f.type, f.outcome) for f in second.feeds]
    assert outcomes == [
        ("jsonplaceholder", "post", "unchanged"),
        ("jsonplaceholder", "comment", "unchanged"),
        ("jsonplaceholder", "user", "unchanged"),
        ("randomuser", "user", "stored"),
    ]
    assert drain(process_sqs_event, config=live_config).received == 1
    assert count_records(live_config) == {
        ("jsonplaceholder", "post"): 100,
        ("jsonplaceholder", "comment"): 500,
        ("jsonplaceholder", "user"): 10,
        ("randomuser", "user"): 50,
    }


def test_sandbox_faults_are_retried_over_real_http(live_config, sandbox):
    sandbox.faults.add(
        Fault(path_prefix="/jsonplaceholder/posts", kind="status", status=429, retry_after="0")
    )
    sandbox.faults.add(Fault(path_prefix="/jsonplaceholder/posts", kind="status", status=500))
    run = ingest(sources=["jsonplaceholder"], config=live_config)
    assert [f.outcome for f in run.feeds] == ["stored", "stored", "stored"]
    assert sandbox.stats()["requests"]["/jsonplaceholder/posts"] == 3


def test_an_hour_long_retry_after_is_capped_over_real_http(live_config, sandbox):
    sandbox.faults.add(
        Fault(path_prefix="/randomuser", kind="status", status=429, retry_after="3600")
    )
    started = time.monotonic()
    run = ingest(sources=["randomuser"], config=live_config)
    elapsed = time.monotonic() - started
    assert run.feeds[0].outcome == "stored"
    assert live_config.http_retry_after_max <= elapsed < 30


def test_randomuser_down_while_jsonplaceholder_lands(live_config, sandbox):
    sandbox.faults.add(Fault(path_prefix="/randomuser", kind="status", status=503, times=None))
    run = ingest(config=live_config)
    assert run.status == "partial"
    drain(process_sqs_event, config=live_config)
    counts = count_records(live_config)
    assert ("randomuser", "user") not in counts
    assert counts[("jsonplaceholder", "comment")] == 500


def test_poison_message_reaches_the_dlq_after_three_receives(live_config):
    sqs = aws.sqs(live_config)
    sqs.send_message(QueueUrl=queue_url(live_config), MessageBody=json.dumps({"hello": "world"}))
    receives = 0
    for _ in range(10):
        batch = poll_once(
            process_sqs_event, config=live_config, wait_seconds=0, retry_delay_seconds=0
        )
        receives += batch.received
        assert batch.succeeded == 0
        if batch.received == 0:
            break
    assert receives == 3
    dlq = sqs.receive_message(
        QueueUrl=queue_url(live_config, dlq=True), AttributeNames=["All"], WaitTimeSeconds=1
    )
    [dead] = dlq["Messages"]
    assert json.loads(dead["Body"]) == {"hello": "world"}
    failure = ledger.message_failure_get(message_id=dead["MessageId"], config=live_config)
    assert "field 'schemaVersion' is missing" in failure["reason"]
    assert failure["receive_count"] == 3


def test_a_failing_message_does_not_hold_back_its_batch_mates(live_config):
    run = ingest(sources=["jsonplaceholder"], config=live_config)
    sqs = aws.sqs(live_config)
    sqs.send_message(QueueUrl=queue_url(live_config), MessageBody="not json at all")
    started = time.monotonic()
    totals = drain(process_sqs_event, config=live_config)
    assert totals.succeeded == len(run.feeds)
    assert totals.failed == 1
    assert count_records(live_config)[("jsonplaceholder", "post")] == 100
    assert time.monotonic() - started < 60


def test_a_source_timeout_is_retried_and_a_persistent_one_fails_only_that_feed(
    live_config, sandbox, settings
):
    settings.TWL_HTTP_READ_TIMEOUT = 0.5
    config = get_config()
    sandbox.faults.add(
        Fault(path_prefix="/jsonplaceholder/users", kind="latency", delay=2.0, times=1)
    )
    run = ingest(sources=["jsonplaceholder"], config=config)
    assert [f.outcome for f in run.feeds] == ["stored", "stored", "stored"]
    assert sandbox.stats()["requests"]["/jsonplaceholder/users"] == 2
    sandbox.faults.add(Fault(path_prefix="/randomuser", kind="latency", delay=2.0, times=None))
    second = ingest(config=config)
    by_source = {f.source: f.outcome for f in second.feeds}
    assert by_source == {"jsonplaceholder": "unchanged", "randomuser": "failed"}
    assert "timed out" in second.feeds[-1].error.lower()
    sandbox.faults.clear()
    drain(process_sqs_event, config=config)
    assert recount(config=config, fix=False).drift == []


def test_poison_to_dlq_then_fixed_and_redriven_is_processed(live_config):
    body = json.dumps([{"userId": 1, "id": 1, "title": "fixed later", "body": "b"}]).encode()
    message = put_raw(live_config, "jsonplaceholder", "post", body, write=False)
    key = message.s3Key
    message_send(message, config=live_config)
    for _ in range(6):
        poll_once(process_sqs_event, config=live_config, wait_seconds=0, retry_delay_seconds=0)
    [dead] = dlq_list(config=live_config)
    assert "does not exist" in dead.reason
    raw_store.raw_object_put(key=key, body=body, metadata={}, config=live_config)  # the fix
    assert dlq_redrive(None, config=live_config) == 1
    assert drain(process_sqs_event, config=live_config).succeeded == 1
    assert record_get("jsonplaceholder-post-1", config=live_config)["title"] == "fixed later"
    assert dlq_list(config=live_config) == []
    assert recount(config=live_config, fix=False).drift == []
