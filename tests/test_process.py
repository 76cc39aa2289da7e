"""Processing: curation into DynamoDB, change-detecting upserts, partial batch failures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.core.errors import InvalidMessage
from pipeline.core.payloads import fingerprint
from pipeline.handlers import process_sqs_event
from pipeline.local.poller import LocalContext, lambda_event
from pipeline.services import upsert
from pipeline.services.process import process_message
from pipeline.services.upsert import plan_upserts
from pipeline.stores import aws
from pipeline.stores.curated import CuratedRecord, StoredState, record_get
from pipeline.stores.messages import RawObjectMessage, message_parse
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "samples"


WRITES = ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem")


class CallCounter:
    """Counts DynamoDB API calls made through the shared client, and writes per table."""

    def __init__(self, client):
        self.calls: Counter[str] = Counter()
        self.tables_written: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb.*", self._count)

    def _count(self, params, model, **kwargs):
        self.calls[model.name] += 1
        if model.name in WRITES:
            ops = params.get("TransactItems", [])
            tables = [next(iter(op.values()))["TableName"] for op in ops] or [
                params.get("TableName")
            ]
            self.tables_written.update(tables)

    @property
    def writes(self) -> int:
        return sum(self.calls[n] for n in WRITES)


def test_new_items_are_inserted_at_version_one_with_bookkeeping(stack):
    message = put_raw(stack, "jsonplaceholder", "post", factories.posts(3))
    result = process_message(message, config=stack)
    assert (result.counts.inserted, result.counts.updated, result.rejected) == (3, 0, 0)
    record = record_get("jsonplaceholder-post-2", config=stack)
    assert record["version"] == 1
    assert record["source"] == "jsonplaceholder" and record["type"] == "post"
    assert record["title"] == "post 2"
    assert record["data"]["user_id"] == 2
    assert record["raw_s3_key"] == message.s3Key and record["raw_index"] == 1
    assert record["first_seen_at"] == record["captured_at"]
    assert record["run_id"] == message.runId
    assert record["fingerprint"] == fingerprint(factories.posts(3)[1])


def test_same_fingerprint_means_no_write_at_all(stack):
    process_message(put_raw(stack, "jsonplaceholder", "post", factories.posts(3)), config=stack)
    counter = CallCounter(aws.dynamodb(stack))
    again = put_raw(stack, "jsonplaceholder", "post", factories.posts(3))
    result = process_message(again, config=stack)
    assert result.counts.unchanged == 3
    # No record or counter is written; only the run ledger notes the message was processed.
    assert counter.tables_written == {stack.ledger_table: 1}
    assert record_get("jsonplaceholder-post-1", config=stack)["version"] == 1


def test_changed_item_is_updated_to_the_next_version_keeping_first_seen(stack):
    process_message(put_raw(stack, "jsonplaceholder", "post", factories.posts(2)), config=stack)
    before = record_get("jsonplaceholder-post-1", config=stack)
    changed = factories.posts(2)
    changed[0]["title"] = "edited"
    result = process_message(put_raw(stack, "jsonplaceholder", "post", changed), config=stack)
    assert (result.counts.updated, result.counts.unchanged) == (1, 1)
    after = record_get("jsonplaceholder-post-1", config=stack)
    assert after["version"] == 2 and after["title"] == "edited"
    assert after["first_seen_at"] == before["first_seen_at"]
    assert after["captured_at"] > before["captured_at"]


def test_redelivering_a_message_any_number_of_times_changes_nothing(stack):
    message = put_raw(stack, "jsonplaceholder", "comment", factories.comments(5))
    process_message(message, config=stack)
    snapshot = record_get("jsonplaceholder-comment-3", config=stack)
    counter = CallCounter(aws.dynamodb(stack))
    for _ in range(3):
        assert process_message(message, config=stack).counts.unchanged == 5
    # Redelivery writes no record and no counter (the run-ledger put is refused as a repeat).
    assert stack.curated_table not in counter.tables_written
    assert all(name == "PutItem" for name in counter.calls if name in WRITES)
    assert record_get("jsonplaceholder-comment-3", config=stack) == snapshot


def test_out_of_order_delivery_never_lets_an_older_capture_win(stack):
    old = factories.posts(1, title="old")
    new = factories.posts(1, title="new")
    older = put_raw(stack, "jsonplaceholder", "post", old, captured_at="2026-11-01T00:00:00+00:00")
    newer = put_raw(stack, "jsonplaceholder", "post", new, captured_at="2026-11-02T00:00:00+00:00")
    process_message(newer, config=stack)
    result = process_message(older, config=stack)
    assert result.counts.stale == 1
    record = record_get("jsonplaceholder-post-1", config=stack)
    assert (record["title"], record["version"]) == ("new 1", 1)
    for message in (older, newer, older):
        process_message(message, config=stack)
    assert record_get("jsonplaceholder-post-1", config=stack) == record


def test_in_order_and_reversed_delivery_converge_on_the_newest_content(stack):
    captures = [f"2026-11-0{d}T00:00:00+00:00" for d in (1, 2, 3)]
    messages = [
        put_raw(stack, "jsonplaceholder", "post", factories.posts(1, title=f"v{i}"), captured_at=c)
        for i, c in enumerate(captures)
    ]
    for message in reversed(messages):
        process_message(message, config=stack)
    assert record_get("jsonplaceholder-post-1", config=stack)["title"] == "v2 1"


def test_plan_classifies_without_io():
    record = CuratedRecord("a", "fp2", "2026-11-02T00:00:00.000000Z", {"source": "s", "type": "t"})
    same = {"a": StoredState("fp2", 4, "2026-11-01T00:00:00.000000Z", "x")}
    newer = {"a": StoredState("fp1", 4, "2026-11-03T00:00:00.000000Z", "x")}
    older = {"a": StoredState("fp1", 4, "2026-11-01T00:00:00.000000Z", "x")}
    assert plan_upserts([record], {}, "t").counts.inserted == 1
    assert plan_upserts([record], same, "t").counts.unchanged == 1
    assert plan_upserts([record], newer, "t").counts.stale == 1
    plan = plan_upserts([record], older, "t")
    assert plan.counts.updated == 1
    assert plan.writes[0]["Put"]["Item"]["version"] == {"N": "5"}


def test_concurrent_writer_conflict_is_re_read_and_re_planned(stack, monkeypatch):
    """A worker that loses a race re-reads and counts the other worker's insert as unchanged."""
    message = put_raw(stack, "jsonplaceholder", "post", factories.posts(2))
    real_states_get = upsert.states_get
    raced = {"done": False}

    def states_then_race(ids, *, config):
        states = real_states_get(ids, config=config)
        if not raced["done"]:
            raced["done"] = True
            process_message(message, config=stack)  # the "other worker" inserts first
        return states

    monkeypatch.setattr(upsert, "states_get", states_then_race)
    result = process_message(message, config=stack)
    assert (result.counts.inserted, result.counts.unchanged) == (0, 2)
    assert record_get("jsonplaceholder-post-1", config=stack)["version"] == 1


def test_invalid_item_is_rejected_with_its_reason_and_others_land(stack):
    items = [*factories.posts(3), {"id": "x"}, "junk"]
    result = process_message(put_raw(stack, "jsonplaceholder", "post", items), config=stack)
    assert result.counts.inserted == 3
    assert [(r.index, r.reason) for r in result.rejections] == [
        (3, "field 'id' has type str"),
        (4, "item is a str, not an object"),
    ]


def test_duplicate_id_in_one_payload_is_reported_not_written_twice(stack):
    items = [*factories.posts(2), factories.posts(1, title="dupe")[0]]
    result = process_message(put_raw(stack, "jsonplaceholder", "post", items), config=stack)
    assert result.counts.inserted == 2
    assert [r.index for r in result.rejections] == [2]


def test_randomuser_people_are_stored_without_secrets(stack):
    payload = factories.people(3)
    result = process_message(put_raw(stack, "randomuser", "user", payload), config=stack)
    assert result.counts.inserted == 3
    uuid = payload["results"][0]["login"]["uuid"]
    record = record_get(f"randomuser-user-{uuid}", config=stack)
    stored = json.dumps(record, default=str)
    for secret in ("hunter2", "RANDOMSALT", "200793-4412", "c8e1d7ab5b2e"):
        assert secret not in stored


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda m: m | {"s3Bucket": "someone-elses-bucket"}, "not this stage's raw bucket"),
        (lambda m: m, "does not exist"),
        (lambda m: m | {"hash": m["hash"][:16] + "0" * 48}, "does not match the message hash"),
    ],
    ids=["another bucket", "no such object", "another body"],
)
def test_message_pointing_nowhere_valid_is_invalid(stack, tamper, reason):
    written = reason != "does not exist"
    message = put_raw(stack, "jsonplaceholder", "post", factories.posts(1), write=written)
    bad = RawObjectMessage(**tamper(message.__dict__))
    with pytest.raises(InvalidMessage, match=reason):
        process_message(bad, config=stack)


def test_raw_object_that_is_an_error_body_is_invalid(stack):
    message = put_raw(stack, "randomuser", "user", {"error": "Uh oh"})
    with pytest.raises(InvalidMessage, match="Uh oh"):
        process_message(message, config=stack)


GOOD_HASH = "ab" * 32
GOOD_KEY = (
    "raw/source=jsonplaceholder/type=post/date=2026-11-28/"
    f"20261128T000000000000Z-{GOOD_HASH[:16]}.json"
)
GOOD_MESSAGE = {
    "schemaVersion": 1,
    "source": "jsonplaceholder",
    "type": "post",
    "s3Bucket": "b",
    "s3Key": GOOD_KEY,
    "capturedAt": "2026-11-28T00:00:00Z",
    "hash": GOOD_HASH,
    "recordCount": 1,
    "runId": "r",
}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"schemaVersion": 1}', "'source' is missing"),
        (json.dumps(GOOD_MESSAGE | {"schemaVersion": 2}), "unsupported schemaVersion 2"),
        (json.dumps(GOOD_MESSAGE | {"type": "todo"}), "unknown source/type"),
        (json.dumps(GOOD_MESSAGE | {"capturedAt": "yesterday"}), "not ISO 8601"),
        (json.dumps(GOOD_MESSAGE | {"capturedAt": "2026-11-28T00:00:00"}), "has no time zone"),
        (json.dumps(GOOD_MESSAGE | {"recordCount": True}), "'recordCount' is missing or not int"),
        (json.dumps(GOOD_MESSAGE | {"recordCount": -1}), "recordCount is negative"),
    ],
)
def test_message_contract_is_validated(body, reason):
    with pytest.raises(InvalidMessage, match=reason):
        message_parse(body)


def test_a_valid_message_from_any_producer_is_accepted():
    assert message_parse(json.dumps(GOOD_MESSAGE)).s3Key == GOOD_KEY


def test_sample_sqs_event_parses_into_a_message():
    event = json.loads((SAMPLES / "sqs_event.json").read_text())
    message = message_parse(event["Records"][0]["body"])
    assert (message.source, message.type, message.recordCount) == ("jsonplaceholder", "post", 1)


def _event_for(stack, bodies: list[str]) -> dict:
    messages = [
        {
            "MessageId": f"m{i}",
            "ReceiptHandle": f"r{i}",
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for i, body in enumerate(bodies)
    ]
    return lambda_event(
        messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:q", region="us-east-1"
    )


def test_handler_names_only_the_failed_messages_in_batch_item_failures(stack):
    good = put_raw(stack, "jsonplaceholder", "post", factories.posts(2)).to_json()
    also_good = put_raw(stack, "jsonplaceholder", "user", factories.users(2)).to_json()
    event = _event_for(stack, [good, "poison", also_good])
    reply = process_sqs_event(event, LocalContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert record_get("jsonplaceholder-user-2", config=stack)["version"] == 1


def test_handler_records_why_a_message_failed(stack):
    from pipeline.stores.ledger import message_failure_get

    process_sqs_event(_event_for(stack, ["poison"]), LocalContext())
    failure = message_failure_get(message_id="m0", config=stack)
    assert failure["reason"].startswith("InvalidMessage: body is not JSON")


def test_handler_with_every_message_failing_still_returns_them_all(stack):
    reply = process_sqs_event(_event_for(stack, ["x", "y"]), LocalContext())
    assert sorted(f["itemIdentifier"] for f in reply["batchItemFailures"]) == ["m0", "m1"]


def test_handler_with_no_records_does_nothing():
    assert process_sqs_event({"Records": []}, None) == {"batchItemFailures": []}


def test_a_thousand_new_records_cost_tens_of_dynamodb_calls(stack):
    message = put_raw(stack, "jsonplaceholder", "comment", factories.comments(1000))
    counter = CallCounter(aws.dynamodb(stack))
    result = process_message(message, config=stack)
    assert result.counts.inserted == 1000
    # 96 records per transaction (room for the analytics counters): 11 reads, 11 writes.
    # (+1 PutItem: the run ledger's note that this raw object was processed.)
    assert counter.calls == {"BatchGetItem": 11, "TransactWriteItems": 11, "PutItem": 1}


def test_a_failure_reason_is_kept_even_when_the_record_has_no_receive_count(stack):
    from pipeline.handlers import process_sqs_event
    from pipeline.stores import ledger

    record = {
        "messageId": "m-no-count",
        "receiptHandle": "r",
        "body": "not json",
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }
    reply = process_sqs_event({"Records": [record]}, None)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m-no-count"}]}
    failure = ledger.message_failure_get(message_id="m-no-count", config=stack)
    assert failure is not None and "not JSON" in failure["reason"]
    assert failure["receive_count"] == 0
