"""Nothing lost, nothing counted twice: reconciliation and injected faults."""

from __future__ import annotations

from io import StringIO

import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.handlers import process_sqs_event
from pipeline.local.poller import LocalContext, drain, lambda_event
from pipeline.selectors.runs import runs_check
from pipeline.services import upsert
from pipeline.services.ingest import ingest
from pipeline.services.process import process_message
from pipeline.services.recount import recount
from pipeline.stores import aws, messages, raw_store
from pipeline.stores.ledger import feed_state_get
from pipeline.stores.messages import message_parse, queue_url
from tests import factories

pytestmark = pytest.mark.django_db


def table_ids(config) -> set[str]:
    items = aws.dynamodb(config).scan(TableName=config.curated_table)["Items"]
    return {i["id"]["S"] for i in items}


def test_a_processed_run_reconciles_and_an_unprocessed_one_is_incomplete(stack, sources):
    run = ingest(config=stack)
    [check] = runs_check(config=stack)
    assert not check.complete and check.reconciles
    drain(process_sqs_event, config=stack)
    [check] = runs_check(config=stack)
    assert check.run.run_id == run.run_id
    assert check.complete and check.reconciles
    comments = next(f for f in check.feeds if f.type == "comment")
    assert comments.processed["items"] == comments.fetched == 5
    out = StringIO()
    call_command("runs", "--check", stdout=out)
    assert out.getvalue().startswith("OK ")


def test_redelivery_is_not_counted_twice_in_the_run(stack, sources):
    ingest(sources=["jsonplaceholder"], config=stack)
    sqs = aws.sqs(stack)
    reply = sqs.receive_message(QueueUrl=queue_url(stack), MaxNumberOfMessages=10)
    for message in reply["Messages"] * 3:  # every message delivered three times
        process_message(message_parse(message["Body"]), config=stack)
    [check] = runs_check(config=stack)
    assert check.reconciles and check.complete
    assert [f.processed["inserted"] for f in check.feeds] == [3, 5, 2]
    assert recount(config=stack, fix=False).drift == []


def test_runs_command_flags_a_run_that_does_not_reconcile(stack, sources):
    run = ingest(sources=["jsonplaceholder"], config=stack)
    drain(process_sqs_event, config=stack)
    aws.dynamodb(stack).update_item(
        TableName=stack.ledger_table,
        Key={
            "pk": {"S": f"RUN#{run.run_id}"},
            "sk": {"S": f"PROCESSED#jsonplaceholder#post#{run.feeds[0].hash}"},
        },
        UpdateExpression="SET #i = :n",
        ExpressionAttributeNames={"#i": "items"},
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    out = StringIO()
    with pytest.raises(CommandError, match="do not reconcile"):
        call_command("runs", "--check", stdout=out)
    assert "MISMATCH" in out.getvalue() and "fetched 3, processed 2" in out.getvalue()


def test_s3_write_failure_fails_the_feed_and_loses_nothing(stack, sources, monkeypatch):
    def broken_put(**kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "S3 down"}}, "PutObject")

    monkeypatch.setattr(raw_store, "raw_object_put", broken_put)
    failed = ingest(sources=["jsonplaceholder"], config=stack)
    assert {f.outcome for f in failed.feeds} == {"failed"}
    monkeypatch.undo()
    retried = ingest(sources=["jsonplaceholder"], config=stack)
    assert {f.outcome for f in retried.feeds} == {"stored"}
    drain(process_sqs_event, config=stack)
    assert len(table_ids(stack)) == 10


def test_send_failure_after_the_s3_write_re_sends_the_same_object_next_run(
    stack, sources, monkeypatch
):
    def broken_send(message, *, config):
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "SQS down"}}, "SendMessage"
        )

    monkeypatch.setattr(messages, "message_send", broken_send)
    first = ingest(sources=["randomuser"], config=stack)
    [feed] = first.feeds
    assert feed.outcome == "failed" and feed.s3_key and "next run re-sends it" in feed.error
    assert (
        feed_state_get(source="randomuser", type_="user", config=stack).pending_key == feed.s3_key
    )
    monkeypatch.undo()
    # Same body again (a seeded source): the pending object is re-sent, not stored twice.
    body = raw_store.raw_object_get(key=feed.s3_key, config=stack)
    sources.replace("GET", f"{stack.base_url('randomuser')}/api/", body=body)
    second = ingest(sources=["randomuser"], config=stack)
    assert second.feeds[0].outcome == "stored" and second.feeds[0].s3_key == feed.s3_key
    objects = aws.s3(stack).list_objects_v2(
        Bucket=stack.raw_bucket, Prefix="raw/source=randomuser/"
    )
    assert objects["KeyCount"] == 1
    assert drain(process_sqs_event, config=stack).succeeded == 1
    assert feed_state_get(source="randomuser", type_="user", config=stack).pending_key is None


def test_dynamodb_throttling_mid_batch_retries_the_message_without_double_counting(
    stack, monkeypatch
):
    message = factories.put_raw(stack, "jsonplaceholder", "comment", factories.comments(300))
    real = upsert._upsert_chunk
    calls = {"n": 0}

    def throttled(chunk, config):
        calls["n"] += 1
        if calls["n"] == 2:  # the second chunk of the first delivery
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "slow down",
                    }
                },
                "TransactWriteItems",
            )
        return real(chunk, config)

    monkeypatch.setattr(upsert, "_upsert_chunk", throttled)
    with pytest.raises(ClientError):
        process_message(message, config=stack)
    result = process_message(message, config=stack)  # SQS redelivers it
    assert result.counts.inserted == 300 - 96 and result.counts.unchanged == 96
    assert len(table_ids(stack)) == 300
    assert recount(config=stack, fix=False).drift == []


def test_worker_crash_after_half_a_batch_loses_nothing(stack, sources, monkeypatch):
    ingest(config=stack)
    sqs = aws.sqs(stack)
    messages = sqs.receive_message(
        QueueUrl=queue_url(stack), MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    event = lambda_event(
        messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:q", region="us-east-1"
    )
    half = {"Records": event["Records"][:2]}
    process_sqs_event(half, LocalContext())  # ...then the worker dies: nothing deleted
    sqs.change_message_visibility_batch(
        QueueUrl=queue_url(stack),
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ],
    )
    totals = drain(process_sqs_event, config=stack)
    assert (totals.received, totals.failed) == (4, 0)
    assert len(table_ids(stack)) == 3 + 5 + 2 + 4
    [check] = runs_check(config=stack)
    assert check.complete and check.reconciles
    assert recount(config=stack, fix=False).drift == []


def test_schema_drift_is_reported_in_the_run_ledger(stack, sources):
    drifted = [post | {"tags": ["x"]} for post in factories.posts(3)]
    del drifted[0]["body"]
    sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/posts", json=drifted)
    run = ingest(sources=["jsonplaceholder"], config=stack)
    posts = run.feeds[0]
    assert posts.outcome == "stored"
    assert posts.schema_drift == "new fields: tags; missing body in 1 of 3 items"
    assert run.feeds[1].schema_drift is None
    from rest_framework.test import APIClient

    shown = APIClient().get("/api/runs").json()["results"][0]["feeds"][0]
    assert shown["schema_drift"] == posts.schema_drift
