"""Ingestion: raw objects in S3, one message each, unchanged payloads skipped, isolation."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.services.ingest import ingest
from pipeline.sources import all_feeds
from pipeline.stores import aws, ledger
from pipeline.stores.messages import message_parse
from tests import factories

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(
    r"^raw/source=(?P<s>[a-z]+)/type=(?P<t>[a-z]+)/date=\d{4}-\d{2}-\d{2}/\d{8}T\d{12}\d*Z-[0-9a-f]{16}\.json$"
)


def queued(config) -> list[dict]:
    sqs = aws.sqs(config)
    url = sqs.get_queue_url(QueueName=config.queue_name)["QueueUrl"]
    bodies = []
    while True:
        reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        if not reply.get("Messages"):
            return bodies
        bodies += [json.loads(m["Body"]) for m in reply["Messages"]]


def test_ingest_stores_each_body_under_the_hive_key_and_sends_one_message(stack, sources):
    run = ingest(config=stack)
    assert run.status == "succeeded"
    assert [(f.source, f.type, f.outcome, f.item_count) for f in run.feeds] == [
        ("jsonplaceholder", "post", "stored", 3),
        ("jsonplaceholder", "comment", "stored", 5),
        ("jsonplaceholder", "user", "stored", 2),
        ("randomuser", "user", "stored", 4),
    ]
    messages = queued(stack)
    assert sorted(m["s3Key"] for m in messages) == sorted(f.s3_key for f in run.feeds)
    for message in messages:
        parsed = message_parse(json.dumps(message))
        match = RAW_KEY.match(parsed.s3Key)
        assert match and (match["s"], match["t"]) == (parsed.source, parsed.type)
        head = aws.s3(stack).head_object(Bucket=stack.raw_bucket, Key=parsed.s3Key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["Metadata"]["content-sha256"] == parsed.hash
        assert head["Metadata"]["run-id"] == run.run_id == parsed.runId


def test_raw_object_keeps_the_body_exactly_as_received(stack, sources):
    run = ingest(sources=["jsonplaceholder"], config=stack)
    key = run.feeds[0].s3_key
    body = aws.s3(stack).get_object(Bucket=stack.raw_bucket, Key=key)["Body"].read()
    assert body == json.dumps(factories.posts(3)).encode()


def test_unchanged_payload_is_neither_stored_nor_enqueued_again(stack, sources):
    ingest(config=stack)
    assert len(queued(stack)) == len(all_feeds())
    second = ingest(config=stack)
    outcomes = {(f.source, f.type): f.outcome for f in second.feeds}
    assert outcomes == {
        ("jsonplaceholder", "post"): "unchanged",
        ("jsonplaceholder", "comment"): "unchanged",
        ("jsonplaceholder", "user"): "unchanged",
        ("randomuser", "user"): "stored",
    }
    assert [m["source"] for m in queued(stack)] == ["randomuser"]
    keys = aws.s3(stack).list_objects_v2(
        Bucket=stack.raw_bucket, Prefix="raw/source=jsonplaceholder/"
    )
    assert keys["KeyCount"] == 3


def test_one_source_down_does_not_stop_the_other(stack, sources):
    sources.replace("GET", f"{stack.base_url('randomuser')}/api/", status=503, body="down")
    run = ingest(config=stack)
    by_feed = {(f.source, f.type): f for f in run.feeds}
    assert run.status == "partial"
    assert by_feed[("randomuser", "user")].outcome == "failed"
    assert "503" in by_feed[("randomuser", "user")].error
    assert all(f.outcome == "stored" for k, f in by_feed.items() if k[0] == "jsonplaceholder")
    assert len(queued(stack)) == len(all_feeds()) - 1
    [health] = ledger.feed_health_get([("randomuser", "user")], config=stack)
    assert health.last_failure_at and "503" in (health.last_error or "")


def test_ingest_retries_after_429_and_500_then_succeeds(stack, sources):
    url = f"{stack.base_url('jsonplaceholder')}/posts"
    sources.remove("GET", url)
    sources.get(url, status=429, headers={"Retry-After": "0"})
    sources.get(url, status=500)
    sources.get(url, json=factories.posts(3))
    run = ingest(sources=["jsonplaceholder"], config=stack)
    assert run.feeds[0].outcome == "stored"
    assert [c.request.url for c in sources.calls].count(url) == 3


def test_error_body_fails_the_feed_and_is_quarantined_not_enqueued(stack, sources):
    sources.replace("GET", f"{stack.base_url('randomuser')}/api/", json={"error": "Uh oh"})
    run = ingest(sources=["randomuser"], config=stack)
    assert run.feeds[0].outcome == "failed"
    assert "Uh oh" in run.feeds[0].error
    assert queued(stack) == []
    kept = aws.s3(stack).list_objects_v2(Bucket=stack.raw_bucket, Prefix="quarantine/")
    assert kept["KeyCount"] == 1


def test_malformed_json_fails_the_feed_with_a_clear_reason(stack, sources):
    sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/users", body="[{not json")
    run = ingest(sources=["jsonplaceholder"], config=stack)
    failed = [f for f in run.feeds if f.outcome == "failed"]
    assert [(f.type, "unusable payload" in f.error) for f in failed] == [("user", True)]


def test_failed_send_does_not_mark_the_payload_as_seen(stack, sources, monkeypatch):
    from pipeline.stores import messages

    def broken_send(message, *, config):
        raise RuntimeError("SQS is down")

    monkeypatch.setattr(messages, "message_send", broken_send)
    first = ingest(sources=["jsonplaceholder"], config=stack)
    assert {f.outcome for f in first.feeds} == {"failed"}
    monkeypatch.undo()
    second = ingest(sources=["jsonplaceholder"], config=stack)
    assert {f.outcome for f in second.feeds} == {"stored"}


def test_each_run_is_written_to_the_ledger(stack, sources):
    run = ingest(config=stack)
    runs = ledger.run_list(config=stack)
    assert [r.run_id for r in runs] == [run.run_id]
    assert runs[0].status == "succeeded"
    assert [f.outcome for f in runs[0].feeds] == ["stored"] * 4


def test_user_agent_names_the_product_and_version(stack, sources):
    ingest(sources=["jsonplaceholder"], config=stack)
    agent = sources.calls[0].request.headers["User-Agent"]
    assert agent.startswith(f"twl-pipeline/{stack.version}")
