"""A message is checked against the object it names: key scheme, capture time, metadata.

Anything else fails that message with a clear reason, kept in the ledger for the DLQ tools.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.clock import iso, utc_now
from pipeline.core.errors import InvalidMessage
from pipeline.core.payloads import content_hash
from pipeline.handlers import process_sqs_event
from pipeline.local.poller import LocalContext, lambda_event
from pipeline.services.process import process_message
from pipeline.stores import raw_store
from pipeline.stores.curated import record_get
from pipeline.stores.ledger import message_failure_get
from pipeline.stores.messages import RawObjectMessage, message_parse
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db

CAPTURED = "2026-11-20T10:00:00+00:00"
RECEIVED_ONCE = {"ApproximateReceiveCount": "1"}


def genuine(config, **kwargs) -> RawObjectMessage:
    return put_raw(config, "jsonplaceholder", "post", factories.posts(3), **kwargs)


def tampered(message: RawObjectMessage, **changes) -> str:
    return json.dumps(asdict(message) | changes)


def handle(config, body: str) -> tuple[dict, str | None]:
    """Deliver one body through the Lambda handler; its reply and the ledger's reason."""
    event = lambda_event(
        [{"MessageId": "m0", "ReceiptHandle": "r0", "Body": body, "Attributes": RECEIVED_ONCE}],
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        region="us-east-1",
    )
    reply = process_sqs_event(event, LocalContext())
    failure = message_failure_get(message_id="m0", config=config)
    return reply, failure["reason"] if failure else None


def test_a_capture_time_in_year_9999_for_a_genuine_object_is_rejected_and_nothing_moves(stack):
    message = genuine(stack, captured_at=CAPTURED)
    process_message(message, config=stack)
    edited = factories.posts(3)
    edited[0]["title"] = "forged"
    forged = put_raw(stack, "jsonplaceholder", "post", edited, captured_at=CAPTURED)

    reply, reason = handle(stack, tampered(forged, capturedAt="9999-12-31T23:59:59+00:00"))

    assert reply == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert reason == "InvalidMessage: capturedAt '9999-12-31T23:59:59+00:00' is in the future"
    post = record_get("jsonplaceholder-post-1", config=stack)
    assert (post["version"], post["title"]) == (1, "post 1")


@pytest.mark.parametrize(
    ("captured_at", "reason"),
    [
        ("0001-01-01T00:00:00+14:00", "capturedAt '0001-01-01T00:00:00+14:00' is out of range"),
        ("2025-12-31T23:59:59+00:00", "is before the pipeline existed (2026-01-01)"),
        ("2026-01-01T01:00:00+02:00", "is before the pipeline existed"),
        ("9999-12-31T23:59:59+00:00", "is in the future"),
        ("9999-12-31T23:59:59-14:00", "is out of range"),
    ],
    ids=["year 1 at +14:00", "before the product", "before it by offset", "9999", "past 9999"],
)
def test_a_capture_time_outside_the_sane_window_is_a_clear_invalid_message(
    config, captured_at, reason
):
    body = tampered(genuine(config, write=False), capturedAt=captured_at)

    with pytest.raises(InvalidMessage, match=re.escape(reason)):
        message_parse(body)


def test_a_capture_a_minute_ahead_of_our_clock_is_accepted(config):
    soon = (utc_now() + timedelta(minutes=1)).isoformat()

    assert message_parse(genuine(config, captured_at=soon, write=False).to_json())


def test_a_capture_time_in_another_offset_naming_the_same_instant_is_accepted(config):
    message = genuine(config, captured_at=CAPTURED, write=False)

    assert message_parse(tampered(message, capturedAt="2026-11-20T12:00:00+02:00"))


def _key_under(message: RawObjectMessage, prefix: str) -> str:
    return prefix + message.s3Key.split("/", 1)[1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: {"s3Key": "quarantine/x/anything.json"}, "is not a raw key"),
        (lambda m: {"s3Key": _key_under(m, "quarantine/")}, "is not a raw key"),
        (lambda m: {"s3Key": "raw/../" + m.s3Key}, "is not a raw key"),
        (lambda m: {"s3Key": m.s3Key + "\n"}, "is not a raw key"),
        (lambda m: {"s3Key": m.s3Key.replace("type=post", "type=user")}, "not this message's"),
        (
            lambda m: {"s3Key": m.s3Key.replace("date=2026-11-20", "date=2026-11-21")},
            "is not a raw key",  # the date partition must be the stamp's day
        ),
        (lambda m: {"s3Key": m.s3Key.replace(m.hash[:16], "0" * 16)}, "hash part does not"),
        (lambda m: {"capturedAt": "2026-11-20T10:00:01+00:00"}, "is not the s3Key's stamp"),
        (lambda m: {"hash": "h"}, "hash is not a sha256 hex digest"),
    ],
    ids=[
        "quarantine",
        "quarantine twin",
        "dot segments",
        "trailing newline",
        "another feed",
        "another day",
        "another hash",
        "another second",
        "not a hash",
    ],
)
def test_a_message_whose_key_does_not_follow_the_scheme_for_its_feed_is_invalid(
    config, change, reason
):
    message = genuine(config, captured_at=CAPTURED, write=False)

    with pytest.raises(InvalidMessage, match=reason):
        message_parse(tampered(message, **change(message)))


def test_a_message_naming_a_quarantined_object_is_rejected_and_nothing_is_curated(stack):
    message = genuine(stack, captured_at=CAPTURED, write=False)
    body = json.dumps(factories.posts(3)).encode()
    key = _key_under(message, "quarantine/")
    raw_store.raw_object_put(key=key, body=body, metadata={}, config=stack)

    reply, reason = handle(stack, tampered(message, s3Key=key))

    assert reply["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert reason.startswith(f"InvalidMessage: s3Key {key!r} is not a raw key")
    assert record_get("jsonplaceholder-post-1", config=stack) is None


def _store(config, metadata: dict[str, str]) -> RawObjectMessage:
    """A raw object at the genuine key for CAPTURED, with the given metadata."""
    message = genuine(config, captured_at=CAPTURED, write=False)
    body = json.dumps(factories.posts(3)).encode()
    assert content_hash(body) == message.hash
    raw_store.raw_object_put(key=message.s3Key, body=body, metadata=metadata, config=config)
    return message


def _metadata(**changes: str) -> dict[str, str]:
    moment = datetime.fromisoformat(CAPTURED)
    return factories.raw_metadata("jsonplaceholder", "post", moment, "d", "run") | changes


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            _metadata(**{"captured-at": "2026-11-19T10:00:00.000000Z"}),
            "capturedAt does not match the object's captured-at metadata '2026-11-19T10:00:00",
        ),
        (_metadata(**{"captured-at": "garbage"}), "captured-at metadata 'garbage'"),
        (_metadata(type="comment"), "the object's type metadata is not 'post'"),
        (_metadata(source="randomuser"), "the object's source metadata is not 'jsonplaceholder'"),
    ],
    ids=["another capture", "not a time", "another type", "another source"],
)
def test_a_message_contradicting_the_objects_metadata_is_rejected_with_the_reason(
    stack, metadata, reason
):
    message = _store(stack, metadata)

    reply, stored_reason = handle(stack, message.to_json())

    assert reply["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert stored_reason.startswith("InvalidMessage: ") and reason in stored_reason
    assert record_get("jsonplaceholder-post-1", config=stack) is None


@pytest.mark.parametrize(
    "metadata", [_metadata(), {}], ids=["as ingest writes it", "no metadata (judged by its key)"]
)
def test_a_genuine_message_is_processed(stack, metadata):
    message = _store(stack, metadata)

    assert process_message(message, config=stack).counts.inserted == 3


def test_a_message_given_directly_to_processing_is_checked_too(stack):
    message = genuine(stack, captured_at=CAPTURED)
    moved = replace(message, capturedAt=iso(datetime(9999, 1, 1, tzinfo=UTC)))

    with pytest.raises(InvalidMessage, match="is in the future"):
        process_message(moved, config=stack)
